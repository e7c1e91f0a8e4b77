//! e2e probe filter: holds request headers until the whole body is in, then
//! - denies (403, body "probe denied") when the body contains `deny-me`;
//! - otherwise adds request header `x-probe-body-len: <n>` (only possible while the
//!   headers are still held) and lets the request go;
//! and always sets filter state `wasm.mcp_policy.decision` / `.tool` and counts
//! requests in the custom counter `mcp_probe_requests_total`.
//! The plugin configuration (a JSON string) is refused when it contains `"refuse"`.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(ProbeRoot { metric: 0 }) });
}}

struct ProbeRoot {
    metric: u32,
}

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self
            .get_plugin_configuration()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if config.contains("\"refuse\"") {
            proxy_wasm::hostcalls::log(LogLevel::Error, "probe: configuration refused").ok();
            return false;
        }
        proxy_wasm::hostcalls::log(LogLevel::Info, &format!("probe: configured with {config}")).ok();
        self.metric = hostcalls::define_metric(MetricType::Counter, "mcp_probe_requests_total").unwrap_or(0);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(ProbeHttp { metric: self.metric, body_len: 0 }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct ProbeHttp {
    metric: u32,
    body_len: usize,
}

impl Context for ProbeHttp {}

impl ProbeHttp {
    fn decide(&mut self, body: &[u8]) -> Action {
        if self.metric != 0 {
            hostcalls::increment_metric(self.metric, 1).ok();
        }
        self.set_property(vec!["mcp_policy.tool"], Some(b"probe"));
        if body.windows(7).any(|w| w == b"deny-me") {
            self.set_property(vec!["mcp_policy.decision"], Some(b"deny"));
            self.send_http_response(403, vec![("content-type", "text/plain")], Some(b"probe denied"));
            return Action::Pause;
        }
        self.set_property(vec!["mcp_policy.decision"], Some(b"allow"));
        self.add_http_request_header("x-probe-body-len", &body.len().to_string());
        Action::Continue
    }
}

impl HttpContext for ProbeHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if end_of_stream {
            return self.decide(b"");
        }
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.body_len = body_size;
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        self.decide(&body)
    }
}
