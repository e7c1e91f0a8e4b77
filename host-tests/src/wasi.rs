//! The `wasi_snapshot_preview1` imports a Rust `wasm32-wasip1` module needs,
//! with Envoy's behaviour: stdout/stderr become log lines (info/error), there
//! is no environment, no arguments and no file system; clocks read the
//! plugin's clock; `proc_exit` traps.

use wasmtime::{Caller, Linker};

use crate::memory::{read, write, write_u32, write_u64};
use crate::state::HostState;

type C<'a> = Caller<'a, HostState>;
type R = wasmtime::Result<i32>;

const MODULE: &str = "wasi_snapshot_preview1";
const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOENT: i32 = 44;
const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;

/// Registers the WASI imports on `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "fd_write", fd_write)?;
    linker.func_wrap(
        MODULE,
        "fd_read",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32| -> R { Ok(ENOSYS) },
    )?;
    linker.func_wrap(MODULE, "fd_close", |_: C<'_>, _: i32| -> R { Ok(EBADF) })?;
    linker.func_wrap(
        MODULE,
        "fd_seek",
        |_: C<'_>, _: i32, _: i64, _: i32, _: i32| -> R { Ok(EBADF) },
    )?;
    linker.func_wrap(MODULE, "fd_fdstat_get", fd_fdstat_get)?;
    linker.func_wrap(MODULE, "fd_prestat_get", |_: C<'_>, _: i32, _: i32| -> R {
        Ok(EBADF)
    })?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |_: C<'_>, _: i32, _: i32, _: i32| -> R { Ok(EBADF) },
    )?;
    linker.func_wrap(
        MODULE,
        "path_open",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32, _: i32| -> R {
            Ok(ENOENT)
        },
    )?;
    linker.func_wrap(MODULE, "environ_get", |_: C<'_>, _: i32, _: i32| -> R {
        Ok(SUCCESS)
    })?;
    linker.func_wrap(MODULE, "environ_sizes_get", zero_sizes)?;
    linker.func_wrap(MODULE, "args_get", |_: C<'_>, _: i32, _: i32| -> R {
        Ok(SUCCESS)
    })?;
    linker.func_wrap(MODULE, "args_sizes_get", zero_sizes)?;
    linker.func_wrap(MODULE, "clock_time_get", clock_time_get)?;
    linker.func_wrap(MODULE, "random_get", random_get)?;
    linker.func_wrap(MODULE, "sched_yield", |_: C<'_>| -> R { Ok(SUCCESS) })?;
    linker.func_wrap(
        MODULE,
        "proc_exit",
        |_: C<'_>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg(format!(
                "guest called wasi proc_exit({code})"
            )))
        },
    )?;
    Ok(())
}

fn zero_sizes(mut c: C<'_>, count_ptr: i32, size_ptr: i32) -> R {
    if write_u32(&mut c, count_ptr, 0) && write_u32(&mut c, size_ptr, 0) {
        Ok(SUCCESS)
    } else {
        Ok(EFAULT)
    }
}

fn fd_write(mut c: C<'_>, fd: i32, iovs: i32, iovs_len: i32, nwritten_ptr: i32) -> R {
    let level = match fd {
        1 => 2, // info
        2 => 4, // error
        _ => return Ok(EBADF),
    };
    let mut text = Vec::new();
    for i in 0..iovs_len.max(0) {
        let Some(iov) = read(&mut c, iovs.wrapping_add(i.wrapping_mul(8)), 8) else {
            return Ok(EFAULT);
        };
        let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
        let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
        let Some(bytes) = read(&mut c, ptr, len) else {
            return Ok(EFAULT);
        };
        text.extend_from_slice(&bytes);
    }
    let written = text.len() as u32;
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    if written > 0 {
        let msg = String::from_utf8_lossy(&text).into_owned();
        c.data_mut().log(level, msg);
    }
    Ok(if write_u32(&mut c, nwritten_ptr, written) {
        SUCCESS
    } else {
        EFAULT
    })
}

fn fd_fdstat_get(mut c: C<'_>, fd: i32, ptr: i32) -> R {
    if fd != 1 && fd != 2 {
        return Ok(EBADF);
    }
    // filetype/flags zero, rights_base = FD_WRITE, rights_inheriting = 0.
    let mut stat = [0u8; 24];
    stat[8..16].copy_from_slice(&64u64.to_le_bytes());
    Ok(if write(&mut c, ptr, &stat) {
        SUCCESS
    } else {
        EFAULT
    })
}

fn clock_time_get(mut c: C<'_>, clock_id: i32, _precision: i64, ptr: i32) -> R {
    if clock_id != 0 && clock_id != 1 {
        return Ok(ENOTSUP);
    }
    let now = c.data().shared.now_ns();
    Ok(if write_u64(&mut c, ptr, now) {
        SUCCESS
    } else {
        EFAULT
    })
}

fn random_get(mut c: C<'_>, ptr: i32, len: i32) -> R {
    if !(0..=65536).contains(&len) {
        return Ok(EINVAL);
    }
    let bytes = c.data_mut().random_bytes(len as usize);
    Ok(if write(&mut c, ptr, &bytes) {
        SUCCESS
    } else {
        EFAULT
    })
}
