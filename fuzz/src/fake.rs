//! A proxy host double for `stream::Stream`, and request facts for
//! `Config::caller`, recording everything the filter does.

use mcp_policy::config::RequestFacts;
use mcp_policy::engine::counters::{CounterStore, MemoryStore};
use mcp_policy::stream::{Headers, Host, Level, Metric};
use std::cell::RefCell;

/// Headers and properties of a request, for naming the caller.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub headers: Vec<(String, String)>,
    pub properties: Vec<(Vec<String>, Vec<u8>)>,
}

impl RequestFacts for Facts {
    fn header(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        lookup(&self.headers, name).map(std::borrow::Cow::Owned)
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

/// The proxy, as `stream::Stream` sees it. `body` is the request body
/// buffered so far; `response_chunk` the current response body chunk.
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
    pub replies: Vec<(u32, String)>,
    pub state: Vec<(String, String)>,
    pub logs: RefCell<Vec<(Level, String)>>,
    pub metrics: Vec<String>,
    pub now_ms: u64,
    pub store: MemoryStore,
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
        Some(self.body[..size.min(self.body.len())].to_vec())
    }
    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        Some(self.response_chunk[..size.min(self.response_chunk.len())].to_vec())
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
}
