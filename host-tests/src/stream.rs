//! One HTTP stream (a stream context of the filter), driven the way Envoy's
//! HTTP connection manager drives a wasm filter, plus what came out of it.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::types::{Action, LocalResponse, ResponseSeen, Upstream};
use crate::vm::Vm;

/// An open HTTP stream on a [`Vm`]. Created by [`Vm::stream`].
///
/// Feed it the request (and response) as Envoy would, then look at what the
/// filter did: [`local_response`](Self::local_response),
/// [`upstream_request`](Self::upstream_request),
/// [`downstream_response`](Self::downstream_response),
/// [`filter_state`](Self::filter_state).
///
/// Dropping it without [`finish`](Self::finish) still calls `proxy_on_done`
/// and `proxy_on_delete` (errors ignored), unless it was
/// [`detach`](Self::detach)ed or the thread is panicking.
pub struct Stream<'vm> {
    vm: &'vm mut Vm,
    id: u32,
    closed_by_caller: bool,
}

impl<'vm> Stream<'vm> {
    pub(crate) fn new(vm: &'vm mut Vm, id: u32) -> Self {
        Self {
            vm,
            id,
            closed_by_caller: false,
        }
    }

    /// This stream's context id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The VM the stream runs on (for its logs, pending calls, options).
    pub fn vm(&mut self) -> &mut Vm {
        self.vm
    }

    /// Makes `proxy_get_property(path)` return `value` (raw bytes, exactly as
    /// given) for this stream. Examples: `["connection",
    /// "uri_san_peer_certificate"]`; `["metadata", "filter_metadata",
    /// "envoy.filters.http.jwt_authn", "agents"]` holding whatever bytes the
    /// test wants the filter to see. Only exact paths match; for structured
    /// values (dynamic metadata) prefer [`set_dynamic_metadata`](Self::set_dynamic_metadata). Without a value set, `["request", "path" |
    /// "url_path" | "method" | "host" | "scheme" | "id"]`, `["request",
    /// "headers", name]` and `["response", "code"]` (i64 LE) are derived from
    /// the headers, and `[name]` reads back filter state `wasm.name`.
    pub fn set_property(&mut self, path: &[&str], value: &[u8]) {
        if let Ok(s) = self.vm.stream_state(self.id) {
            s.properties
                .insert(path.iter().map(|p| p.to_string()).collect(), value.to_vec());
        }
    }

    /// Makes every property path at or below `path` resolve into `value` the
    /// way Envoy resolves a protobuf `Struct` through CEL: the guest can ask
    /// for `path` itself or any key/index below it, and gets strings raw,
    /// numbers as f64 little-endian, booleans as one byte, objects as a pairs
    /// map (values serialised the same way), lists as pairs of (element, "");
    /// `null` gives SerializationFailure, a missing key NotFound. Exact
    /// [`set_property`](Self::set_property) values take precedence.
    pub fn set_property_json(&mut self, path: &[&str], value: serde_json::Value) {
        if let Ok(s) = self.vm.stream_state(self.id) {
            let path: Vec<String> = path.iter().map(|p| p.to_string()).collect();
            s.trees.retain(|(p, _)| *p != path);
            s.trees.push((path, value));
        }
    }

    /// Dynamic metadata written by another filter, as `jwt_authn` writes a
    /// verified JWT payload: `set_dynamic_metadata("envoy.filters.http.jwt_authn",
    /// json!({"agents": {"sub": "1234"}}))` makes `["metadata", "filter_metadata",
    /// "envoy.filters.http.jwt_authn", "agents", "sub"]` return `1234`. See
    /// [`set_property_json`](Self::set_property_json) for the encoding.
    pub fn set_dynamic_metadata(&mut self, filter_name: &str, value: serde_json::Value) {
        self.set_property_json(&["metadata", "filter_metadata", filter_name], value);
    }

    /// `proxy_on_request_headers`. On Continue the headers (with the filter's
    /// changes) go upstream; on Pause they are held until a later body or
    /// trailers callback returns Continue or the filter calls
    /// `proxy_continue_stream(0)`.
    pub fn request_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action> {
        self.vm.request_headers(self.id, headers, end_of_stream)
    }

    /// Appends `chunk` to the buffered request body and calls
    /// `proxy_on_request_body(id, buffered_size, end_of_stream)`. On Continue
    /// the held headers and all buffered bytes go upstream and the buffer
    /// empties; on Pause the bytes stay buffered (StopIterationAndBuffer).
    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Result<Action> {
        self.vm.request_body(self.id, chunk, end_of_stream)
    }

    /// `proxy_on_request_trailers`; Continue releases everything held.
    pub fn request_trailers(&mut self, trailers: &[(&str, &str)]) -> Result<Action> {
        self.vm.request_trailers(self.id, trailers)
    }

    /// `proxy_on_response_headers`. Include `:status`. On Continue the
    /// headers, as the filter left them, go to the client.
    pub fn response_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action> {
        self.vm.response_headers(self.id, headers, end_of_stream)
    }

    /// Appends `chunk` to the buffered response body and calls
    /// `proxy_on_response_body(id, buffered_size, end_of_stream)`; Continue
    /// releases the held headers and the buffered body to the client.
    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Result<Action> {
        self.vm.response_body(self.id, chunk, end_of_stream)
    }

    /// `proxy_on_response_trailers`; Continue releases everything held.
    pub fn response_trailers(&mut self, trailers: &[(&str, &str)]) -> Result<Action> {
        self.vm.response_trailers(self.id, trailers)
    }

    /// Answers a pending HTTP call; see [`Vm::http_call_response`].
    pub fn http_call_response(
        &mut self,
        token: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.vm.http_call_response(token, headers, body)
    }

    /// Fails a pending HTTP call with a reset; see [`Vm::http_call_failure`].
    pub fn http_call_failure(&mut self, token: u32) -> Result<()> {
        self.vm.http_call_failure(token)
    }

    /// Answers a pending gRPC call; see [`Vm::grpc_receive`].
    pub fn grpc_receive(&mut self, token: u32, message: &[u8]) -> Result<()> {
        self.vm.grpc_receive(token, message)
    }

    /// Fails a pending gRPC call; see [`Vm::grpc_close`].
    pub fn grpc_close(&mut self, token: u32, status: u32) -> Result<()> {
        self.vm.grpc_close(token, status)
    }

    /// `proxy_on_log(id)`; request and response headers are readable during it.
    pub fn log(&mut self) -> Result<()> {
        self.vm.log_stream(self.id)
    }

    /// `proxy_on_done(id)` then `proxy_on_delete(id)`; the stream is gone afterwards.
    pub fn finish(mut self) -> Result<()> {
        self.closed_by_caller = true;
        self.vm.finish_stream(self.id)
    }

    /// Leaves the context open without `on_done`/`on_delete` and returns its
    /// id, to re-attach later with [`Vm::resume_stream`] (e.g. to keep two
    /// requests in flight on one VM).
    pub fn detach(mut self) -> u32 {
        self.closed_by_caller = true;
        self.id
    }

    // ---- what happened ----

    fn state(&self) -> Option<&crate::state::StreamState> {
        self.vm.stream_state_ref(self.id)
    }

    /// The local reply the filter sent (`proxy_send_local_response`), if any.
    /// After it nothing more goes upstream.
    pub fn local_response(&self) -> Option<LocalResponse> {
        self.state().and_then(|s| s.local_response.clone())
    }

    /// What Envoy would have sent upstream: `None` until the filter let the
    /// headers through; `body` is every byte released so far. If the filter
    /// sent a local reply after releasing the headers, this still shows what
    /// had already left (Envoy would reset that upstream request).
    pub fn upstream_request(&self) -> Option<Upstream> {
        self.state().and_then(|s| s.upstream.clone())
    }

    /// The response as released to the client, after the filter's changes.
    /// A local reply sent while handling the request appears here too, once
    /// it has passed the filter's response callbacks (see
    /// [`Vm::set_local_reply_encoding`]).
    pub fn downstream_response(&self) -> ResponseSeen {
        self.state()
            .map(|s| s.downstream.clone())
            .unwrap_or_default()
    }

    /// Filter state set with `proxy_set_property`: path `["a.b"]` is stored
    /// under `"wasm.a.b"`, as Envoy does (several segments are joined with `.`).
    pub fn filter_state(&self) -> BTreeMap<String, Vec<u8>> {
        self.state()
            .map(|s| s.filter_state.clone())
            .unwrap_or_default()
    }

    /// One filter-state value as a string, by its full key (`"wasm.…"`).
    pub fn filter_state_str(&self, key: &str) -> Option<String> {
        self.state()
            .and_then(|s| s.filter_state.get(key))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Whether the filter called `proxy_continue_stream(0)` (request).
    pub fn continued(&self) -> bool {
        self.state().is_some_and(|s| s.continued_request)
    }

    /// Whether the filter called `proxy_continue_stream(1)` (response).
    pub fn continued_response(&self) -> bool {
        self.state().is_some_and(|s| s.continued_response)
    }

    /// Whether the filter reset the stream with `proxy_close_stream`.
    pub fn reset(&self) -> bool {
        self.state().is_some_and(|s| s.closed)
    }

    /// The request headers as they stand now (with the filter's changes),
    /// whether or not they were released.
    pub fn current_request_headers(&self) -> Vec<(String, String)> {
        self.state()
            .map(|s| s.req_headers.clone())
            .unwrap_or_default()
    }

    /// Request body bytes buffered and not yet released.
    pub fn buffered_request_body(&self) -> Vec<u8> {
        self.state().map(|s| s.req_body.clone()).unwrap_or_default()
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        if !self.closed_by_caller && !std::thread::panicking() && self.vm.poisoned().is_none() {
            let _ = self.vm.finish_stream(self.id);
        }
    }
}
