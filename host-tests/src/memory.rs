//! Guest memory helpers and the wire formats of the proxy-wasm ABI.
//!
//! Everything here is bounds-checked: a bad pointer from the guest becomes a
//! status code ([`status::INVALID_MEMORY_ACCESS`]) or a WASI `EFAULT`, never a
//! host panic. Buffers handed back to the guest are allocated through its
//! exported `proxy_on_memory_allocate` (or the older `malloc`), as Envoy does.

use wasmtime::{Caller, Extern, Memory};

use crate::state::HostState;

/// proxy-wasm status codes (ABI v0.2.1) that the host returns.
pub(crate) mod status {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const BAD_ARGUMENT: i32 = 2;
    pub const SERIALIZATION_FAILURE: i32 = 3;
    pub const INVALID_MEMORY_ACCESS: i32 = 6;
    pub const EMPTY: i32 = 7;
    pub const CAS_MISMATCH: i32 = 8;
    pub const BROKEN_CONNECTION: i32 = 11;
}

/// A header (or trailer, or metadata) map as the harness keeps it: ordered
/// name/value pairs, names stored as given.
pub(crate) type Pairs = Vec<(String, String)>;

/// The guest's exported linear memory, if it has one.
pub(crate) fn memory(caller: &mut Caller<'_, HostState>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

/// Copies `len` bytes at `ptr` out of guest memory; `None` when out of bounds.
pub(crate) fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Option<Vec<u8>> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len == 0 {
        return Some(Vec::new());
    }
    let mem = memory(caller)?;
    let end = ptr.checked_add(len)?;
    mem.data(&*caller).get(ptr..end).map(<[u8]>::to_vec)
}

/// Like [`read`], decoding the bytes as UTF-8 (lossily).
pub(crate) fn read_string(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Option<String> {
    read(caller, ptr, len).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Writes `bytes` at `ptr`; `false` when out of bounds.
pub(crate) fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return true;
    }
    let Some(mem) = memory(caller) else {
        return false;
    };
    mem.write(&mut *caller, ptr as u32 as usize, bytes).is_ok()
}

/// Writes a little-endian u32 at `ptr`.
pub(crate) fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, v: u32) -> bool {
    write(caller, ptr, &v.to_le_bytes())
}

/// Writes a little-endian u64 at `ptr`.
pub(crate) fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, v: u64) -> bool {
    write(caller, ptr, &v.to_le_bytes())
}

/// Asks the guest for `size` bytes. `Ok(None)` when it has no allocator or
/// returns a null or out-of-bounds pointer; `Err` when the allocator traps.
fn allocate(caller: &mut Caller<'_, HostState>, size: u32) -> wasmtime::Result<Option<u32>> {
    let func = ["proxy_on_memory_allocate", "malloc"]
        .iter()
        .find_map(|name| caller.get_export(name).and_then(Extern::into_func));
    let Some(func) = func else {
        return Ok(None);
    };
    let Ok(typed) = func.typed::<i32, i32>(&*caller) else {
        return Ok(None);
    };
    let ptr = typed.call(&mut *caller, size as i32)? as u32;
    if ptr == 0 {
        return Ok(None);
    }
    let in_bounds = memory(caller).is_some_and(|m| {
        (ptr as usize)
            .checked_add(size as usize)
            .is_some_and(|end| end <= m.data_size(&*caller))
    });
    Ok(in_bounds.then_some(ptr))
}

/// Hands `data` to the guest the way Envoy does: allocate in guest memory (no
/// allocation and a null pointer for empty data), copy, then write the pointer
/// and the size to the two return slots. Returns a proxy-wasm status.
pub(crate) fn copy_out(
    caller: &mut Caller<'_, HostState>,
    data: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> wasmtime::Result<i32> {
    let Ok(size) = u32::try_from(data.len()) else {
        return Ok(status::INVALID_MEMORY_ACCESS);
    };
    let mut ptr = 0u32;
    if size > 0 {
        match allocate(caller, size)? {
            Some(p) => ptr = p,
            None => return Ok(status::INVALID_MEMORY_ACCESS),
        }
        if !write(caller, ptr as i32, data) {
            return Ok(status::INVALID_MEMORY_ACCESS);
        }
    }
    if !write_u32(caller, ptr_ptr, ptr) || !write_u32(caller, size_ptr, size) {
        return Ok(status::INVALID_MEMORY_ACCESS);
    }
    Ok(status::OK)
}

/// Serialises pairs: u32 count, then (u32 key_len, u32 value_len) per pair,
/// then each key and each value followed by a NUL. Little-endian.
pub fn serialize_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Parses the pairs format of [`serialize_pairs`]. An empty input is an empty
/// map; a truncated or inconsistent one is `None`.
pub fn deserialize_pairs(bytes: &[u8]) -> Option<Pairs> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = word(0)?;
    // Every pair needs at least 8 bytes of sizes and 2 NULs.
    if count > bytes.len() / 10 {
        return None;
    }
    let mut sizes = Vec::with_capacity(count);
    for i in 0..count {
        sizes.push((word(4 + i * 8)?, word(8 + i * 8)?));
    }
    let mut at = 4 + count * 8;
    let mut take = |len: usize| -> Option<String> {
        let end = at.checked_add(len)?;
        let s = bytes.get(at..end)?;
        if *bytes.get(end)? != 0 {
            return None;
        }
        at = end + 1;
        Some(String::from_utf8_lossy(s).into_owned())
    };
    let mut pairs = Vec::with_capacity(count);
    for (klen, vlen) in sizes {
        let k = take(klen)?;
        let v = take(vlen)?;
        pairs.push((k, v));
    }
    Some(pairs)
}

/// Splits a property path: segments each followed by a NUL, the last NUL
/// optional (the Rust SDK drops it).
pub fn split_property_path(bytes: &[u8]) -> Vec<String> {
    let mut parts: Vec<String> = bytes
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        let pairs = vec![(":path", "/mcp"), ("x-a", "")];
        let bytes = serialize_pairs(&pairs);
        let back = deserialize_pairs(&bytes).unwrap();
        assert_eq!(
            back,
            vec![
                (":path".to_string(), "/mcp".to_string()),
                ("x-a".into(), "".into())
            ]
        );
        assert!(deserialize_pairs(&bytes[..bytes.len() - 1]).is_none());
        assert_eq!(deserialize_pairs(&[]).unwrap(), Vec::new());
        assert!(deserialize_pairs(&[255, 255, 255, 255]).is_none());
    }

    #[test]
    fn property_paths() {
        assert_eq!(split_property_path(b"a\0b"), vec!["a", "b"]);
        assert_eq!(split_property_path(b"a\0b\0"), vec!["a", "b"]);
        assert_eq!(split_property_path(b""), Vec::<String>::new());
    }
}
