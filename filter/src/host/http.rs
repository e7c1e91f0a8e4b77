//! The HTTP context: each proxy-wasm callback handed to `stream::Stream`,
//! with the host calls behind its `Host` trait.

use super::abi::{self, LogLevel};
use super::plugin::{Plugin, SharedCells, VERDICTS};
use crate::engine::counters::{CasStore, CounterStore};
use crate::stream::{Action, GrpcCall, Headers, Host, Level, Metric, OutsideCall, Stream};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action as ProxyAction;
use std::rc::Rc;

pub struct Http {
    plugin: Option<Rc<Plugin>>,
    stream: Stream,
    calls: HostCalls,
}

impl Http {
    pub fn new(plugin: Option<Rc<Plugin>>) -> Http {
        Http {
            calls: HostCalls {
                plugin: plugin.clone(),
                store: CasStore::new(SharedCells),
            },
            plugin,
            stream: Stream::new(),
        }
    }

    /// Runs one callback, then reports the compare-and-swap races it lost.
    fn run(&mut self, f: impl FnOnce(&mut Stream, &mut HostCalls) -> Action) -> ProxyAction {
        let before = self.calls.store.retries;
        let action = f(&mut self.stream, &mut self.calls);
        let lost = self.calls.store.retries.saturating_sub(before);
        if lost > 0 {
            if let Some(id) = self.plugin.as_ref().and_then(|p| p.metrics.cas_retries) {
                abi::increment(id, i64::try_from(lost).unwrap_or(i64::MAX));
            }
        }
        match action {
            Action::Continue => ProxyAction::Continue,
            Action::Pause => ProxyAction::Pause,
        }
    }
}

impl Context for Http {
    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        self.rls_answer(token_id, status_code, response_size);
    }

    /// The answer of a service the stream called out to (the approval
    /// service). Envoy answers a timeout or an unknown cluster with a 5xx of
    /// its own and a reset with no headers at all.
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(plugin) = self.plugin.clone() else {
            return;
        };
        let status = (num_headers > 0)
            .then(|| {
                let headers =
                    Headers::from_map_bytes(abi::header_map(abi::HTTP_CALL_RESPONSE_HEADERS));
                headers
                    .get(":status")
                    .and_then(|s| s.trim().parse::<u32>().ok())
            })
            .flatten();
        let body = abi::buffer(abi::HTTP_CALL_RESPONSE_BODY, 0, body_size).unwrap_or_default();
        self.run(|s, h| {
            s.on_outside_answer(&plugin.config, h, status, &body);
            Action::Continue
        });
    }
}

impl Http {
    /// The Rate Limit Service's answer: the SDK calls `on_grpc_call_response`
    /// with status 0 and the message's size, or with the call's failure.
    fn rls_answer(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let Some(plugin) = self.plugin.clone() else {
            return;
        };
        let body = match status_code {
            0 => abi::buffer(abi::GRPC_RECEIVE_BUFFER, 0, response_size).unwrap_or_default(),
            _ => Vec::new(),
        };
        self.run(|s, h| {
            s.on_rls_answer(&plugin.config, h, token_id, status_code, &body);
            Action::Continue
        });
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> ProxyAction {
        let Some(plugin) = self.plugin.clone() else {
            // Fail closed: a VM without a configuration answers nothing.
            abi::send_local_response(
                503,
                "mcp_policy_not_configured",
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"MCP policy filter is not configured"}}"#,
                &[("content-type", "application/json")],
            );
            return ProxyAction::Pause;
        };
        self.run(|s, h| s.on_request_headers(&plugin.config, h, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> ProxyAction {
        let Some(plugin) = self.plugin.clone() else {
            return ProxyAction::Pause;
        };
        self.run(|s, h| s.on_request_body(&plugin.config, h, body_size, end_of_stream))
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> ProxyAction {
        let Some(plugin) = self.plugin.clone() else {
            return ProxyAction::Pause;
        };
        self.run(|s, h| s.on_request_trailers(&plugin.config, h))
    }

    fn on_http_response_headers(
        &mut self,
        _num_headers: usize,
        end_of_stream: bool,
    ) -> ProxyAction {
        self.run(|s, h| s.on_response_headers(h, end_of_stream))
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> ProxyAction {
        let Some(plugin) = self.plugin.clone() else {
            return ProxyAction::Continue;
        };
        self.run(|s, h| s.on_response_body(&plugin.config, h, body_size, end_of_stream))
    }

    fn on_log(&mut self) {
        self.run(|s, h| {
            s.on_log(h);
            Action::Continue
        });
    }
}

/// `stream::Host` over real host calls.
struct HostCalls {
    plugin: Option<Rc<Plugin>>,
    store: CasStore<SharedCells>,
}

impl Host for HostCalls {
    fn request_headers(&self) -> Headers {
        Headers::from_map_bytes(abi::header_map(abi::REQUEST_HEADERS))
    }

    fn response_headers(&self) -> Headers {
        Headers::from_map_bytes(abi::header_map(abi::RESPONSE_HEADERS))
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        abi::property(path)
    }

    fn request_body(&self, size: usize) -> Option<Vec<u8>> {
        abi::buffer(abi::REQUEST_BODY, 0, size)
    }

    fn response_body(&self, size: usize) -> Option<Vec<u8>> {
        abi::buffer(abi::RESPONSE_BODY, 0, size)
    }

    fn now_ms(&self) -> u64 {
        abi::now_ms()
    }

    fn remove_request_header(&mut self, name: &str) {
        abi::remove_header(abi::REQUEST_HEADERS, name);
    }

    fn remove_response_header(&mut self, name: &str) {
        abi::remove_header(abi::RESPONSE_HEADERS, name);
    }

    fn set_response_body(&mut self, size: usize, data: &[u8]) {
        abi::set_buffer(abi::RESPONSE_BODY, 0, size, data);
    }

    fn reply(&mut self, status: u32, body: &str) {
        abi::send_local_response(
            status,
            "mcp_policy",
            body.as_bytes(),
            &[("content-type", "application/json")],
        );
    }

    fn filter_state(&mut self, key: &str, value: &str) {
        abi::set_property(&[key], value.as_bytes());
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        abi::log(level, message);
    }

    fn metric(&mut self, metric: Metric<'_>) {
        let Some(plugin) = &self.plugin else { return };
        let m = &plugin.metrics;
        let id = match metric {
            Metric::Decision(v) => VERDICTS
                .iter()
                .position(|x| *x == v)
                .and_then(|i| m.decisions.get(i).copied().flatten()),
            Metric::Tool { tool, allowed } => {
                let (yes, no) = m.tools.get(tool).copied().unwrap_or(m.other_tools);
                if allowed {
                    yes
                } else {
                    no
                }
            }
            Metric::Rollback => m.rollbacks,
            Metric::ApprovalError => m.approval_errors,
            Metric::RlsError => m.rls_errors,
        };
        if let Some(id) = id {
            abi::increment(id, 1);
        }
    }

    fn counters(&mut self) -> &mut dyn CounterStore {
        self.store.now_ms = abi::now_ms();
        &mut self.store
    }

    fn call_out(&mut self, call: &OutsideCall<'_>) -> bool {
        let headers = vec![
            (":method", "POST"),
            (":path", call.path),
            (":authority", call.cluster),
            ("content-type", "application/json"),
        ];
        proxy_wasm::hostcalls::dispatch_http_call(
            call.cluster,
            headers,
            Some(call.body),
            Vec::new(),
            std::time::Duration::from_millis(call.timeout_ms),
        )
        .is_ok()
    }

    fn call_grpc(&mut self, call: &GrpcCall<'_>) -> Option<u32> {
        // The SDK's call, so its dispatcher routes the answer back to this
        // stream. The service is a serialized `GrpcService`, never a bare
        // name Envoy might misread.
        let service = std::str::from_utf8(call.service).ok()?;
        proxy_wasm::hostcalls::dispatch_grpc_call(
            service,
            call.service_name,
            call.method,
            Vec::new(),
            Some(call.message),
            std::time::Duration::from_millis(call.timeout_ms),
        )
        .ok()
    }

    fn resume_request(&mut self) {
        abi::continue_request();
    }

    /// The plugin's name and the port the request came in on: Envoy tells a
    /// plugin neither its listener nor its route, and two listeners that
    /// copy one configuration (the same `name`) still differ in port, while
    /// a reload of a listener keeps both.
    fn default_namespace(&self) -> String {
        let name = self.plugin.as_ref().map_or("", |p| p.name.as_str());
        match abi::property(&["destination", "port"]) {
            Some(bytes) => format!("{name}@{}", port_text(&bytes)),
            None => name.to_owned(),
        }
    }
}

/// A port as Envoy hands it over: a CEL integer (8 bytes, little-endian),
/// or text from another host.
fn port_text(bytes: &[u8]) -> String {
    match <[u8; 8]>::try_from(bytes) {
        Ok(raw) => i64::from_le_bytes(raw).to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}
