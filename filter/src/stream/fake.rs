//! The one test double of the proxy host for `Stream` (`FakeHost`), and
//! request facts for `Config::caller` (`Facts`): they record everything the
//! filter does, for the tests here, in `tests/` and in the fuzz targets.
//! Compiled for tests or with feature `fake-host`; never into the .wasm.

use super::{GrpcCall, Headers, Host, Level, Metric, OutsideCall};
use crate::config::RequestFacts;
use crate::engine::counters::{CounterStore, MemoryStore};
use std::borrow::Cow;
use std::cell::RefCell;

/// Headers and properties of a request, for naming the caller.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub headers: Vec<(String, String)>,
    pub properties: Vec<(Vec<String>, Vec<u8>)>,
}

impl RequestFacts for Facts {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        lookup(&self.headers, name).map(Cow::Owned)
    }
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        property(&self.properties, path)
    }
}

/// A header as the README reads it: a repeated one is all its values,
/// joined with `, `.
pub fn lookup(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn property(properties: &[(Vec<String>, Vec<u8>)], path: &[&str]) -> Option<Vec<u8>> {
    properties
        .iter()
        .find(|(p, _)| p.iter().map(String::as_str).eq(path.iter().copied()))
        .map(|(_, v)| v.clone())
}

/// A call the filter sent outside the proxy (`Host::call_out`), owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub cluster: String,
    pub path: String,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

/// A unary gRPC call the filter sent (`Host::call_grpc`), owned; its token
/// is its place in `FakeHost::grpc_calls` plus one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grpc {
    pub service: Vec<u8>,
    pub service_name: String,
    pub method: String,
    pub message: Vec<u8>,
    pub timeout_ms: u64,
}

/// The proxy, as `Stream` sees it. `body` is the request body buffered so
/// far; `response_chunk` the current response body chunk. Removed headers
/// stay in `request_headers` / `response_headers` but are no longer read.
#[derive(Default)]
pub struct FakeHost {
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub properties: Vec<(Vec<String>, Vec<u8>)>,
    pub body: Vec<u8>,
    pub response_chunk: Vec<u8>,
    pub removed: Vec<String>,
    pub removed_response: Vec<String>,
    /// What replaced the current response chunk, if the filter replaced it.
    pub replaced_chunk: Option<Vec<u8>>,
    /// How many bytes of the current chunk `replaced_chunk` replaced.
    pub replaced_size: Option<usize>,
    pub replies: Vec<(u32, String)>,
    /// Every filter state written, in order (`state` reads the last).
    pub state: Vec<(String, String)>,
    pub logs: RefCell<Vec<(Level, String)>>,
    pub metrics: Vec<String>,
    pub now_ms: u64,
    pub store: MemoryStore,
    /// Every call sent outside the proxy, in order.
    pub calls: Vec<Call>,
    /// Every unary gRPC call sent, in order.
    pub grpc_calls: Vec<Grpc>,
    /// `call_out` and `call_grpc` fail: the host knows no such cluster.
    pub refuse_calls: bool,
    /// How many times a held request was let go on upstream.
    pub resumed: usize,
}

impl FakeHost {
    /// The last value written to filter state `key`.
    pub fn state(&self, key: &str) -> Option<&str> {
        self.state
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Envoy's `response.code_details`, replacing any earlier one.
    pub fn set_code_details(&mut self, details: &str) {
        const PATH: [&str; 2] = ["response", "code_details"];
        self.properties
            .retain(|(p, _)| !p.iter().map(String::as_str).eq(PATH));
        self.properties.push((
            PATH.iter().map(|s| s.to_string()).collect(),
            details.as_bytes().to_vec(),
        ));
    }
}

impl Host for FakeHost {
    fn request_headers(&self) -> Headers {
        Headers::from_pairs(
            self.request_headers
                .iter()
                .filter(|(k, _)| !self.removed.iter().any(|r| r.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
        )
    }
    fn response_headers(&self) -> Headers {
        Headers::from_pairs(
            self.response_headers
                .iter()
                .filter(|(k, _)| {
                    !self
                        .removed_response
                        .iter()
                        .any(|r| r.eq_ignore_ascii_case(k))
                })
                .cloned()
                .collect(),
        )
    }
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        property(&self.properties, path)
    }
    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        Some(self.body.iter().take(size).copied().collect())
    }
    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        Some(self.response_chunk.iter().take(size).copied().collect())
    }
    fn now_ms(&self) -> u64 {
        self.now_ms
    }
    fn remove_request_header(&mut self, name: &str) {
        self.removed.push(name.to_owned());
    }
    fn remove_response_header(&mut self, name: &str) {
        self.removed_response.push(name.to_owned());
    }
    fn set_response_body(&mut self, size: usize, data: &[u8]) {
        assert!(
            size <= self.response_chunk.len(),
            "set_response_body({size}) beyond the chunk ({} bytes)",
            self.response_chunk.len()
        );
        self.replaced_chunk = Some(data.to_vec());
        self.replaced_size = Some(size);
    }
    fn reply(&mut self, status: u32, body: &str) {
        self.replies.push((status, body.to_owned()));
    }
    fn filter_state(&mut self, key: &str, value: &str) {
        self.state.push((key.to_owned(), value.to_owned()));
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
    fn metric(&mut self, metric: Metric<'_>) {
        self.metrics.push(format!("{metric:?}"));
    }
    fn counters(&mut self) -> &mut dyn CounterStore {
        &mut self.store
    }
    fn default_namespace(&self) -> String {
        String::new()
    }
    fn call_out(&mut self, call: &OutsideCall<'_>) -> bool {
        self.calls.push(Call {
            cluster: call.cluster.to_owned(),
            path: call.path.to_owned(),
            body: call.body.to_vec(),
            timeout_ms: call.timeout_ms,
        });
        !self.refuse_calls
    }
    fn call_grpc(&mut self, call: &GrpcCall<'_>) -> Option<u32> {
        self.grpc_calls.push(Grpc {
            service: call.service.to_vec(),
            service_name: call.service_name.to_owned(),
            method: call.method.to_owned(),
            message: call.message.to_vec(),
            timeout_ms: call.timeout_ms,
        });
        (!self.refuse_calls).then(|| u32::try_from(self.grpc_calls.len()).unwrap_or(u32::MAX))
    }
    fn resume_request(&mut self) {
        self.resumed = self.resumed.saturating_add(1);
    }
}
