//! The proxy-wasm host calls the filter makes, wrapped so they never panic.
//!
//! The SDK's own wrappers panic on any status they do not expect and on header
//! values that are not UTF-8, either of which would trap the VM on input an
//! agent controls. These wrappers return what the host said instead: a
//! missing value, or an error the caller handles (fail closed).

use std::ptr::null_mut;

// The SDK declares the same imports with its own status type; both are i32
// in the module, and these are the only ones this crate calls.
#[allow(clashing_extern_declarations)]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        buffer_data: *const u8,
        buffer_size: usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
}

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const CAS_MISMATCH: u32 = 8;

pub const REQUEST_BODY: u32 = 0;
pub const RESPONSE_BODY: u32 = 1;
pub const PLUGIN_CONFIGURATION: u32 = 7;
pub const HTTP_CALL_RESPONSE_BODY: u32 = 4;
pub const GRPC_RECEIVE_BUFFER: u32 = 5;
pub const REQUEST_HEADERS: u32 = 0;
pub const RESPONSE_HEADERS: u32 = 2;
pub const HTTP_CALL_RESPONSE_HEADERS: u32 = 6;

#[derive(Debug, Clone, Copy)]
pub enum LogLevel {
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// Takes ownership of a buffer the host allocated in this module through
/// `proxy_on_memory_allocate`.
///
/// # Safety
/// `data`/`size` must come from the host's return slots after an `Ok`.
unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    unsafe {
        proxy_log(level as u32, message.as_ptr(), message.len());
    }
}

pub fn now_ms() -> u64 {
    let mut nanos = 0u64;
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    if status == OK {
        nanos / 1_000_000
    } else {
        0
    }
}

/// Bytes `start..start + max` of a buffer; `None` when there is none.
pub fn buffer(kind: u32, start: usize, max: usize) -> Option<Vec<u8>> {
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    let status = unsafe { proxy_get_buffer_bytes(kind, start, max, &mut data, &mut size) };
    // SAFETY: after an Ok, data/size are the buffer the host allocated in this module
    // (proxy_on_memory_allocate) and handed over.
    (status == OK).then(|| unsafe { owned(data, size) })
}

/// Replaces bytes `start..start + size` of a buffer with `data`.
pub fn set_buffer(kind: u32, start: usize, size: usize, data: &[u8]) -> bool {
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    unsafe { proxy_set_buffer_bytes(kind, start, size, data.as_ptr(), data.len()) == OK }
}

/// A whole header map, in one host call, in proxy-wasm's map encoding
/// (`stream::Headers::from_map_bytes` reads it).
pub fn header_map(map: u32) -> Vec<u8> {
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
    if status == OK {
        // SAFETY: after an Ok, data/size are the buffer the host allocated in this module
        // (proxy_on_memory_allocate) and handed over.
        unsafe { owned(data, size) }
    } else {
        Vec::new()
    }
}

/// Lets a paused request go on upstream (what the host says is ignored:
/// a stream that is gone has nothing to continue).
pub fn continue_request() {
    // SAFETY: no pointers; 0 is the request stream.
    unsafe {
        proxy_continue_stream(0);
    }
}

pub fn remove_header(map: u32, name: &str) {
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    unsafe {
        proxy_remove_header_map_value(map, name.as_ptr(), name.len());
    }
}

fn property_path(path: &[&str]) -> Vec<u8> {
    path.join("\0").into_bytes()
}

pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    let path = property_path(path);
    let mut data = null_mut();
    let mut size = 0;
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    // SAFETY: after an Ok, data/size are the buffer the host allocated in this module
    // (proxy_on_memory_allocate) and handed over.
    (status == OK).then(|| unsafe { owned(data, size) })
}

pub fn set_property(path: &[&str], value: &[u8]) {
    let path = property_path(path);
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    unsafe {
        proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len());
    }
}

/// A shared-data value and its version; `Ok(None)` when the key is absent.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, String> {
    let mut data = null_mut();
    let mut size = 0;
    let mut cas = 0u32;
    let status =
        // SAFETY: every pointer is to a live slice, string or local of the length passed; the
        // host writes only the return slots, which outlive the call.
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        // SAFETY: after an Ok, data/size are the buffer the host allocated in this module
        // (proxy_on_memory_allocate) and handed over.
        OK => Ok(Some((unsafe { owned(data, size) }, cas))),
        NOT_FOUND => Ok(None),
        other => Err(format!("shared data get failed with status {other}")),
    }
}

/// Writes a shared-data value; `Ok(false)` when `cas` no longer matches.
pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<bool, String> {
    let status =
        // SAFETY: every pointer is to a live slice, string or local of the length passed; the
        // host writes only the return slots, which outlive the call.
        unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) };
    match status {
        OK => Ok(true),
        CAS_MISMATCH => Ok(false),
        other => Err(format!("shared data set failed with status {other}")),
    }
}

/// Header pairs as the host reads them: a count, the sizes, then each name
/// and value followed by NUL.
fn serialize_pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len(pairs.len()));
    for (k, v) in pairs {
        out.extend_from_slice(&len(k.len()));
        out.extend_from_slice(&len(v.len()));
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

pub fn send_local_response(
    status: u32,
    details: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> bool {
    let headers = serialize_pairs(headers);
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    let result = unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    };
    result == OK
}

/// A counter metric's id, defined once per name.
pub fn define_counter(name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: every pointer is to a live slice, string or local of the length passed; the host
    // writes only the return slots, which outlive the call.
    let status = unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub fn increment(id: u32, by: i64) {
    if by > 0 {
        // SAFETY: every pointer is to a live slice, string or local of the length passed; the
        // host writes only the return slots, which outlive the call.
        unsafe {
            proxy_increment_metric(id, by);
        }
    }
}
