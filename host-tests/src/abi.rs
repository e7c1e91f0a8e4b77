//! The `env` imports of the proxy-wasm ABI v0.2.1, implemented with Envoy's
//! semantics (see the crate docs for the list of what is and is not emulated).
//!
//! Every function validates guest pointers and returns a proxy-wasm status;
//! only a trap inside the guest's own allocator propagates as an error.

use wasmtime::{Caller, Linker};

use crate::memory::{
    copy_out, deserialize_pairs, read, read_string, serialize_pairs, split_property_path, status,
    write_u32, write_u64, Pairs,
};
use crate::state::HostState;
use crate::types::{GrpcCall, HttpCall, LocalResponse};

type C<'a> = Caller<'a, HostState>;

/// Notes an import call in the fuel trace, when one is kept.
fn mark(c: &mut C<'_>, name: &str) {
    if c.data().fuel_trace.is_some() {
        let left = c.get_fuel().unwrap_or(0);
        if let Some(t) = c.data_mut().fuel_trace.as_mut() {
            t.push((name.to_owned(), left));
        }
    }
}
type R = wasmtime::Result<i32>;

const MAX_BUFFER_TYPE: i32 = 7;
const MAX_MAP_TYPE: i32 = 7;
const UNIMPLEMENTED: i32 = 12;

/// Registers every `env` import on `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_log", proxy_log)?;
    linker.func_wrap("env", "proxy_get_log_level", proxy_get_log_level)?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        proxy_get_current_time_nanoseconds,
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        proxy_set_tick_period_milliseconds,
    )?;
    linker.func_wrap("env", "proxy_get_buffer_bytes", proxy_get_buffer_bytes)?;
    linker.func_wrap("env", "proxy_set_buffer_bytes", proxy_set_buffer_bytes)?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        proxy_get_header_map_pairs,
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        proxy_set_header_map_pairs,
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        proxy_get_header_map_value,
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        proxy_add_header_map_value,
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        proxy_replace_header_map_value,
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        proxy_remove_header_map_value,
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_size",
        proxy_get_header_map_size,
    )?;
    linker.func_wrap("env", "proxy_get_property", proxy_get_property)?;
    linker.func_wrap("env", "proxy_set_property", proxy_set_property)?;
    linker.func_wrap("env", "proxy_get_shared_data", proxy_get_shared_data)?;
    linker.func_wrap("env", "proxy_set_shared_data", proxy_set_shared_data)?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        proxy_register_shared_queue,
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        proxy_resolve_shared_queue,
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        proxy_enqueue_shared_queue,
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        proxy_dequeue_shared_queue,
    )?;
    linker.func_wrap("env", "proxy_continue_stream", proxy_continue_stream)?;
    linker.func_wrap("env", "proxy_close_stream", proxy_close_stream)?;
    linker.func_wrap("env", "proxy_continue_request", |c: C<'_>| {
        proxy_continue_stream(c, 0)
    })?;
    linker.func_wrap("env", "proxy_continue_response", |c: C<'_>| {
        proxy_continue_stream(c, 1)
    })?;
    linker.func_wrap("env", "proxy_clear_route_cache", |_: C<'_>| -> R {
        Ok(status::OK)
    })?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        proxy_send_local_response,
    )?;
    linker.func_wrap("env", "proxy_http_call", proxy_http_call)?;
    linker.func_wrap("env", "proxy_grpc_call", proxy_grpc_call)?;
    linker.func_wrap("env", "proxy_grpc_stream", proxy_grpc_stream)?;
    linker.func_wrap("env", "proxy_grpc_send", proxy_grpc_send)?;
    linker.func_wrap("env", "proxy_grpc_cancel", proxy_grpc_cancel)?;
    linker.func_wrap("env", "proxy_grpc_close", proxy_grpc_cancel)?;
    linker.func_wrap("env", "proxy_get_status", proxy_get_status)?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        proxy_set_effective_context,
    )?;
    linker.func_wrap("env", "proxy_done", proxy_done)?;
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        proxy_call_foreign_function,
    )?;
    linker.func_wrap("env", "proxy_define_metric", proxy_define_metric)?;
    // Binaryen's `--log-execution` instrumentation (a call at each function
    // entry and loop header): a fuel mark per point, for `cost --trace` of an
    // instrumented module (scripts/fuel-profile.py). Not part of proxy-wasm.
    linker.func_wrap("env", "log_execution", |mut c: C<'_>, id: i32| {
        mark(&mut c, &format!("@{id}"));
    })?;
    linker.func_wrap("env", "proxy_increment_metric", proxy_increment_metric)?;
    linker.func_wrap("env", "proxy_record_metric", proxy_record_metric)?;
    linker.func_wrap("env", "proxy_get_metric", proxy_get_metric)?;
    Ok(())
}

macro_rules! read_or_fail {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(status::INVALID_MEMORY_ACCESS),
        }
    };
}

fn lowercase(pairs: Pairs) -> Pairs {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

// ---- general ----

fn proxy_log(mut c: C<'_>, level: i32, ptr: i32, len: i32) -> R {
    if c.data().fuel_trace.is_some() {
        let text = read_string(&mut c, ptr, len).unwrap_or_default();
        let label = if text.starts_with("probe ") {
            text
        } else {
            "proxy_log".to_owned()
        };
        mark(&mut c, &label);
    }
    let msg = read_or_fail!(read_string(&mut c, ptr, len));
    c.data_mut().log(level as u32, msg);
    Ok(status::OK)
}

fn proxy_get_log_level(mut c: C<'_>, ptr: i32) -> R {
    mark(&mut c, "proxy_get_log_level");
    let level = c.data().log_level;
    Ok(if write_u32(&mut c, ptr, level) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

fn proxy_get_current_time_nanoseconds(mut c: C<'_>, ptr: i32) -> R {
    mark(&mut c, "proxy_get_current_time_nanoseconds");
    let now = c.data().shared.now_ns();
    Ok(if write_u64(&mut c, ptr, now) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

fn proxy_set_tick_period_milliseconds(mut c: C<'_>, period: i32) -> R {
    mark(&mut c, "proxy_set_tick_period_milliseconds");
    c.data_mut().tick_period_ms = period as u32;
    Ok(status::OK)
}

fn proxy_done(mut c: C<'_>) -> R {
    mark(&mut c, "proxy_done");
    c.data_mut().done_calls += 1;
    Ok(status::OK)
}

fn proxy_set_effective_context(mut c: C<'_>, id: i32) -> R {
    mark(&mut c, "proxy_set_effective_context");
    let st = c.data_mut();
    let id = id as u32;
    if id == st.root_id || st.streams.contains_key(&id) {
        st.effective = id;
        Ok(status::OK)
    } else {
        Ok(status::BAD_ARGUMENT)
    }
}

fn proxy_call_foreign_function(
    mut c: C<'_>,
    name_ptr: i32,
    name_len: i32,
    args_ptr: i32,
    args_len: i32,
    _ret_ptr: i32,
    _ret_size: i32,
) -> R {
    mark(&mut c, "proxy_call_foreign_function");
    read_or_fail!(read(&mut c, name_ptr, name_len));
    read_or_fail!(read(&mut c, args_ptr, args_len));
    Ok(status::NOT_FOUND)
}

fn proxy_get_status(mut c: C<'_>, code_ptr: i32, msg_ptr_ptr: i32, msg_size_ptr: i32) -> R {
    mark(&mut c, "proxy_get_status");
    let (code, msg) = c.data().status.clone();
    if !write_u32(&mut c, code_ptr, code) {
        return Ok(status::INVALID_MEMORY_ACCESS);
    }
    copy_out(&mut c, &msg, msg_ptr_ptr, msg_size_ptr)
}

// ---- buffers ----

fn proxy_get_buffer_bytes(
    mut c: C<'_>,
    buffer_type: i32,
    start: i32,
    max_size: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> R {
    mark(&mut c, "proxy_get_buffer_bytes");
    if !(0..=MAX_BUFFER_TYPE).contains(&buffer_type) {
        return Ok(status::BAD_ARGUMENT);
    }
    let st = c.data();
    let buffer: Option<Vec<u8>> = match buffer_type {
        0 => st.stream_ref().map(|s| s.req_body.clone()),
        1 => st.stream_ref().map(|s| s.resp_body.clone()),
        4 => st.http_response.as_ref().map(|r| r.body.clone()),
        5 => st.grpc_receive.clone(),
        6 => Some(st.vm_config.clone()),
        7 => st.plugin_config.clone(),
        _ => None,
    };
    let Some(buffer) = buffer else {
        return Ok(status::NOT_FOUND);
    };
    let start = start as u32 as usize;
    let max = max_size as u32 as usize;
    let slice = if start >= buffer.len() {
        &[][..]
    } else {
        &buffer[start..buffer.len().min(start.saturating_add(max))]
    };
    copy_out(&mut c, slice, ptr_ptr, size_ptr)
}

/// Envoy's `Buffer::copyFrom`: only prepend (start 0, size 0), replace all
/// (start 0, size >= length) and append (start >= length) are supported.
fn splice_envoy(buf: &mut Vec<u8>, start: usize, size: usize, data: &[u8]) -> i32 {
    if start == 0 {
        if size == 0 {
            buf.splice(0..0, data.iter().copied());
        } else if size >= buf.len() {
            buf.clear();
            buf.extend_from_slice(data);
        } else {
            return status::BAD_ARGUMENT;
        }
    } else if start >= buf.len() {
        buf.extend_from_slice(data);
    } else {
        return status::BAD_ARGUMENT;
    }
    status::OK
}

fn proxy_set_buffer_bytes(
    mut c: C<'_>,
    buffer_type: i32,
    start: i32,
    size: i32,
    data_ptr: i32,
    data_len: i32,
) -> R {
    mark(&mut c, "proxy_set_buffer_bytes");
    if !(0..=MAX_BUFFER_TYPE).contains(&buffer_type) {
        return Ok(status::BAD_ARGUMENT);
    }
    let data = read_or_fail!(read(&mut c, data_ptr, data_len));
    let (start, size) = (start as u32 as usize, size as u32 as usize);
    let st = c.data_mut();
    Ok(match buffer_type {
        0 | 1 => match st.stream() {
            Some(s) => {
                let buf = if buffer_type == 0 {
                    &mut s.req_body
                } else {
                    &mut s.resp_body
                };
                splice_envoy(buf, start, size, &data)
            }
            None => status::NOT_FOUND,
        },
        4..=7 => status::BAD_ARGUMENT,
        _ => status::NOT_FOUND,
    })
}

// ---- header maps ----

fn proxy_get_header_map_pairs(mut c: C<'_>, map_type: i32, ptr_ptr: i32, size_ptr: i32) -> R {
    mark(&mut c, "proxy_get_header_map_pairs");
    if !(0..=MAX_MAP_TYPE).contains(&map_type) {
        return Ok(status::BAD_ARGUMENT);
    }
    let pairs = c.data().read_map(map_type).cloned().unwrap_or_default();
    let bytes = if pairs.is_empty() {
        Vec::new()
    } else {
        serialize_pairs(&pairs)
    };
    copy_out(&mut c, &bytes, ptr_ptr, size_ptr)
}

fn proxy_set_header_map_pairs(mut c: C<'_>, map_type: i32, ptr: i32, len: i32) -> R {
    mark(&mut c, "proxy_set_header_map_pairs");
    if !(0..=MAX_MAP_TYPE).contains(&map_type) {
        return Ok(status::BAD_ARGUMENT);
    }
    let bytes = read_or_fail!(read(&mut c, ptr, len));
    let Some(pairs) = deserialize_pairs(&bytes) else {
        return Ok(status::BAD_ARGUMENT);
    };
    match c.data_mut().write_map(map_type) {
        Some(map) => {
            *map = lowercase(pairs);
            Ok(status::OK)
        }
        None => Ok(status::BAD_ARGUMENT),
    }
}

fn proxy_get_header_map_value(
    mut c: C<'_>,
    map_type: i32,
    key_ptr: i32,
    key_len: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> R {
    mark(&mut c, "proxy_get_header_map_value");
    if !(0..=MAX_MAP_TYPE).contains(&map_type) {
        return Ok(status::BAD_ARGUMENT);
    }
    let key = read_or_fail!(read_string(&mut c, key_ptr, key_len));
    let value = match c.data().read_map(map_type) {
        None => return Ok(status::BAD_ARGUMENT),
        Some(map) => map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, v)| v.clone()),
    };
    match value {
        None => Ok(status::NOT_FOUND),
        Some(v) => copy_out(&mut c, v.as_bytes(), ptr_ptr, size_ptr),
    }
}

/// Reads key and value of an add/replace call.
fn key_value(c: &mut C<'_>, kp: i32, kl: i32, vp: i32, vl: i32) -> Option<(String, String)> {
    Some((read_string(c, kp, kl)?, read_string(c, vp, vl)?))
}

fn proxy_add_header_map_value(mut c: C<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32) -> R {
    mark(&mut c, "proxy_add_header_map_value");
    if !(0..=MAX_MAP_TYPE).contains(&t) {
        return Ok(status::BAD_ARGUMENT);
    }
    let (k, v) = read_or_fail!(key_value(&mut c, kp, kl, vp, vl));
    match c.data_mut().write_map(t) {
        Some(map) => {
            map.push((k.to_ascii_lowercase(), v));
            Ok(status::OK)
        }
        None => Ok(status::BAD_ARGUMENT),
    }
}

fn proxy_replace_header_map_value(mut c: C<'_>, t: i32, kp: i32, kl: i32, vp: i32, vl: i32) -> R {
    mark(&mut c, "proxy_replace_header_map_value");
    if !(0..=MAX_MAP_TYPE).contains(&t) {
        return Ok(status::BAD_ARGUMENT);
    }
    let (k, v) = read_or_fail!(key_value(&mut c, kp, kl, vp, vl));
    match c.data_mut().write_map(t) {
        Some(map) => {
            match map.iter().position(|(n, _)| n.eq_ignore_ascii_case(&k)) {
                Some(first) => {
                    map[first].1 = v;
                    let mut i = 0;
                    map.retain(|(n, _)| {
                        i += 1;
                        i - 1 == first || !n.eq_ignore_ascii_case(&k)
                    });
                }
                None => map.push((k.to_ascii_lowercase(), v)),
            }
            Ok(status::OK)
        }
        None => Ok(status::BAD_ARGUMENT),
    }
}

fn proxy_remove_header_map_value(mut c: C<'_>, t: i32, kp: i32, kl: i32) -> R {
    mark(&mut c, "proxy_remove_header_map_value");
    if !(0..=MAX_MAP_TYPE).contains(&t) {
        return Ok(status::BAD_ARGUMENT);
    }
    let k = read_or_fail!(read_string(&mut c, kp, kl));
    match c.data_mut().write_map(t) {
        Some(map) => {
            map.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
            Ok(status::OK)
        }
        None => Ok(status::BAD_ARGUMENT),
    }
}

fn proxy_get_header_map_size(mut c: C<'_>, t: i32, ptr: i32) -> R {
    mark(&mut c, "proxy_get_header_map_size");
    if !(0..=MAX_MAP_TYPE).contains(&t) {
        return Ok(status::BAD_ARGUMENT);
    }
    let size = match c.data().read_map(t) {
        Some(map) if t <= 3 => map.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>(),
        _ => return Ok(status::BAD_ARGUMENT),
    };
    Ok(if write_u32(&mut c, ptr, size as u32) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

// ---- properties ----

fn proxy_get_property(
    mut c: C<'_>,
    path_ptr: i32,
    path_len: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> R {
    mark(&mut c, "proxy_get_property");
    let path = read_or_fail!(read(&mut c, path_ptr, path_len));
    let path = split_property_path(&path);
    match c.data().get_property(&path) {
        Err(s) => Ok(s),
        Ok(v) => copy_out(&mut c, &v, ptr_ptr, size_ptr),
    }
}

fn proxy_set_property(mut c: C<'_>, path_ptr: i32, path_len: i32, vp: i32, vl: i32) -> R {
    mark(&mut c, "proxy_set_property");
    let path = read_or_fail!(read(&mut c, path_ptr, path_len));
    let value = read_or_fail!(read(&mut c, vp, vl));
    let key = format!("wasm.{}", split_property_path(&path).join("."));
    match c.data_mut().stream() {
        Some(s) => {
            s.filter_state.insert(key, value);
            Ok(status::OK)
        }
        // Envoy: no stream info outside a stream -> NotFound.
        None => Ok(status::NOT_FOUND),
    }
}

// ---- shared data and queues ----

fn proxy_get_shared_data(
    mut c: C<'_>,
    key_ptr: i32,
    key_len: i32,
    ptr_ptr: i32,
    size_ptr: i32,
    cas_ptr: i32,
) -> R {
    mark(&mut c, "proxy_get_shared_data");
    let key = read_or_fail!(read_string(&mut c, key_ptr, key_len));
    let Some((value, cas)) = c.data().shared.get_data(&key) else {
        return Ok(status::NOT_FOUND);
    };
    let s = copy_out(&mut c, &value, ptr_ptr, size_ptr)?;
    if s != status::OK {
        return Ok(s);
    }
    Ok(if write_u32(&mut c, cas_ptr, cas) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

fn proxy_set_shared_data(mut c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32) -> R {
    mark(&mut c, "proxy_set_shared_data");
    let key = read_or_fail!(read_string(&mut c, kp, kl));
    let value = read_or_fail!(read(&mut c, vp, vl));
    Ok(c.data().shared.set_data(&key, &value, cas as u32))
}

fn vm_id(st: &HostState) -> String {
    st.root_properties
        .get(&vec!["plugin_vm_id".to_string()])
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn proxy_register_shared_queue(mut c: C<'_>, np: i32, nl: i32, id_ptr: i32) -> R {
    mark(&mut c, "proxy_register_shared_queue");
    let name = read_or_fail!(read_string(&mut c, np, nl));
    let id = c.data().shared.register_queue(&vm_id(c.data()), &name);
    Ok(if write_u32(&mut c, id_ptr, id) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

fn proxy_resolve_shared_queue(mut c: C<'_>, vp: i32, vl: i32, np: i32, nl: i32, id_ptr: i32) -> R {
    mark(&mut c, "proxy_resolve_shared_queue");
    let vm = read_or_fail!(read_string(&mut c, vp, vl));
    let name = read_or_fail!(read_string(&mut c, np, nl));
    let Some(id) = c.data().shared.resolve_queue(&vm, &name) else {
        return Ok(status::NOT_FOUND);
    };
    Ok(if write_u32(&mut c, id_ptr, id) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

fn proxy_enqueue_shared_queue(mut c: C<'_>, id: i32, ptr: i32, len: i32) -> R {
    mark(&mut c, "proxy_enqueue_shared_queue");
    let data = read_or_fail!(read(&mut c, ptr, len));
    Ok(c.data().shared.enqueue(id as u32, data))
}

fn proxy_dequeue_shared_queue(mut c: C<'_>, id: i32, ptr_ptr: i32, size_ptr: i32) -> R {
    mark(&mut c, "proxy_dequeue_shared_queue");
    match c.data().shared.dequeue(id as u32) {
        Ok(data) => copy_out(&mut c, &data, ptr_ptr, size_ptr),
        Err(s) => Ok(s),
    }
}

// ---- stream control ----

fn proxy_continue_stream(mut c: C<'_>, stream_type: i32) -> R {
    mark(&mut c, "proxy_continue_stream");
    match stream_type {
        0 | 1 => {
            if let Some(s) = c.data_mut().stream() {
                if stream_type == 0 {
                    s.continued_request = true;
                    s.pending_continue_request = true;
                } else {
                    s.continued_response = true;
                    s.pending_continue_response = true;
                }
                // Envoy drops its request-side pointers on either continue.
                s.req_headers_live = false;
                s.req_trailers_live = false;
            }
            Ok(status::OK)
        }
        2 => Ok(status::OK),
        3 => Ok(UNIMPLEMENTED),
        _ => Ok(status::BAD_ARGUMENT),
    }
}

fn proxy_close_stream(mut c: C<'_>, stream_type: i32) -> R {
    mark(&mut c, "proxy_close_stream");
    match stream_type {
        0 | 1 => {
            if let Some(s) = c.data_mut().stream() {
                s.closed = true;
            }
            Ok(status::OK)
        }
        2 | 3 => Ok(status::OK),
        _ => Ok(status::BAD_ARGUMENT),
    }
}

#[allow(clippy::too_many_arguments)]
fn proxy_send_local_response(
    mut c: C<'_>,
    code: i32,
    details_ptr: i32,
    details_len: i32,
    body_ptr: i32,
    body_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    grpc_status: i32,
) -> R {
    mark(&mut c, "proxy_send_local_response");
    let details = read_or_fail!(read_string(&mut c, details_ptr, details_len));
    let body = read_or_fail!(read(&mut c, body_ptr, body_len));
    let headers = read_or_fail!(read(&mut c, headers_ptr, headers_len));
    let headers = lowercase(deserialize_pairs(&headers).unwrap_or_default());
    if let Some(s) = c.data_mut().stream() {
        if s.local_response.is_none() {
            s.local_response = Some(LocalResponse {
                status: code as u32,
                details,
                body,
                headers,
                grpc_status,
            });
            s.local_reply_to_encode = !s.resp_started;
        }
    }
    Ok(status::OK)
}

// ---- outgoing calls ----

#[allow(clippy::too_many_arguments)]
fn proxy_http_call(
    mut c: C<'_>,
    up_ptr: i32,
    up_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    body_ptr: i32,
    body_len: i32,
    trailers_ptr: i32,
    trailers_len: i32,
    timeout_ms: i32,
    token_ptr: i32,
) -> R {
    mark(&mut c, "proxy_http_call");
    let upstream = read_or_fail!(read_string(&mut c, up_ptr, up_len));
    let headers = read_or_fail!(read(&mut c, headers_ptr, headers_len));
    let body = read_or_fail!(read(&mut c, body_ptr, body_len));
    let trailers = read_or_fail!(read(&mut c, trailers_ptr, trailers_len));
    if !write_u32(&mut c, token_ptr, 0) {
        return Ok(status::INVALID_MEMORY_ACCESS);
    }
    let (Some(headers), Some(trailers)) =
        (deserialize_pairs(&headers), deserialize_pairs(&trailers))
    else {
        return Ok(status::BAD_ARGUMENT);
    };
    let headers = lowercase(headers);
    let has = |name: &str| headers.iter().any(|(k, _)| k == name);
    if !has(":path") || !has(":method") || !has(":authority") {
        return Ok(status::BAD_ARGUMENT);
    }
    let st = c.data_mut();
    if st.rejected_upstreams.contains(&upstream) {
        return Ok(status::BAD_ARGUMENT);
    }
    let token = st.next_token();
    let context_id = st.context();
    st.http_calls.insert(
        token,
        HttpCall {
            token,
            context_id,
            upstream,
            headers,
            body,
            trailers: lowercase(trailers),
            timeout_ms: timeout_ms as u32,
        },
    );
    write_u32(&mut c, token_ptr, token);
    Ok(status::OK)
}

#[allow(clippy::too_many_arguments)]
fn proxy_grpc_call(
    mut c: C<'_>,
    service_ptr: i32,
    service_len: i32,
    name_ptr: i32,
    name_len: i32,
    method_ptr: i32,
    method_len: i32,
    md_ptr: i32,
    md_len: i32,
    msg_ptr: i32,
    msg_len: i32,
    timeout_ms: i32,
    token_ptr: i32,
) -> R {
    mark(&mut c, "proxy_grpc_call");
    let service = read_or_fail!(read(&mut c, service_ptr, service_len));
    let service_name = read_or_fail!(read_string(&mut c, name_ptr, name_len));
    let method = read_or_fail!(read_string(&mut c, method_ptr, method_len));
    let md = read_or_fail!(read(&mut c, md_ptr, md_len));
    let message = read_or_fail!(read(&mut c, msg_ptr, msg_len));
    let Some(initial_metadata) = deserialize_pairs(&md) else {
        return Ok(status::BAD_ARGUMENT);
    };
    let st = c.data_mut();
    let token = st.next_token();
    let context_id = st.context();
    st.grpc_calls.insert(
        token,
        GrpcCall {
            token,
            context_id,
            service,
            service_name,
            method,
            initial_metadata: lowercase(initial_metadata),
            message,
            timeout_ms: timeout_ms as u32,
        },
    );
    Ok(if write_u32(&mut c, token_ptr, token) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

#[allow(clippy::too_many_arguments)]
fn proxy_grpc_stream(
    mut c: C<'_>,
    service_ptr: i32,
    service_len: i32,
    name_ptr: i32,
    name_len: i32,
    method_ptr: i32,
    method_len: i32,
    md_ptr: i32,
    md_len: i32,
    token_ptr: i32,
) -> R {
    mark(&mut c, "proxy_grpc_stream");
    read_or_fail!(read(&mut c, service_ptr, service_len));
    read_or_fail!(read(&mut c, name_ptr, name_len));
    read_or_fail!(read(&mut c, method_ptr, method_len));
    read_or_fail!(read(&mut c, md_ptr, md_len));
    let st = c.data_mut();
    let token = st.next_token();
    st.grpc_streams.insert(token);
    Ok(if write_u32(&mut c, token_ptr, token) {
        status::OK
    } else {
        status::INVALID_MEMORY_ACCESS
    })
}

fn proxy_grpc_send(mut c: C<'_>, token: i32, ptr: i32, len: i32, _end: i32) -> R {
    mark(&mut c, "proxy_grpc_send");
    read_or_fail!(read(&mut c, ptr, len));
    let st = c.data();
    let token = token as u32;
    Ok(if st.grpc_calls.contains_key(&token) {
        status::BAD_ARGUMENT
    } else if st.grpc_streams.contains(&token) {
        status::OK
    } else {
        status::NOT_FOUND
    })
}

fn proxy_grpc_cancel(mut c: C<'_>, token: i32) -> R {
    mark(&mut c, "proxy_grpc_cancel");
    let st = c.data_mut();
    let token = token as u32;
    let found = st.grpc_calls.remove(&token).is_some() | st.grpc_streams.remove(&token);
    Ok(if found { status::OK } else { status::NOT_FOUND })
}

// ---- metrics ----

fn proxy_define_metric(mut c: C<'_>, kind: i32, name_ptr: i32, name_len: i32, id_ptr: i32) -> R {
    mark(&mut c, "proxy_define_metric");
    let name = read_or_fail!(read_string(&mut c, name_ptr, name_len));
    match c.data().shared.define_metric(kind, &name) {
        Ok(id) => Ok(if write_u32(&mut c, id_ptr, id) {
            status::OK
        } else {
            status::INVALID_MEMORY_ACCESS
        }),
        Err(s) => Ok(s),
    }
}

fn proxy_increment_metric(mut c: C<'_>, id: i32, offset: i64) -> R {
    mark(&mut c, "proxy_increment_metric");
    Ok(c.data().shared.increment_metric(id as u32, offset))
}

fn proxy_record_metric(c: C<'_>, id: i32, value: i64) -> R {
    Ok(c.data().shared.record_metric(id as u32, value as u64))
}

fn proxy_get_metric(mut c: C<'_>, id: i32, ptr: i32) -> R {
    mark(&mut c, "proxy_get_metric");
    match c.data().shared.get_metric(id as u32) {
        Ok(v) => Ok(if write_u64(&mut c, ptr, v) {
            status::OK
        } else {
            status::INVALID_MEMORY_ACCESS
        }),
        Err(s) => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_follows_envoy() {
        let mut b = b"hello".to_vec();
        assert_eq!(splice_envoy(&mut b, 0, 0, b">"), status::OK);
        assert_eq!(b, b">hello");
        assert_eq!(splice_envoy(&mut b, 6, 0, b"<"), status::OK);
        assert_eq!(b, b">hello<");
        assert_eq!(splice_envoy(&mut b, 0, 7, b"x"), status::OK);
        assert_eq!(b, b"x");
        let mut b = b"hello".to_vec();
        assert_eq!(splice_envoy(&mut b, 1, 2, b"x"), status::BAD_ARGUMENT);
        assert_eq!(splice_envoy(&mut b, 0, 2, b"x"), status::BAD_ARGUMENT);
    }
}
