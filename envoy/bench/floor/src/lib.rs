//! The floor of a body-judging wasm filter: hold the request headers, pause on every
//! body chunk, copy the complete body into the VM once, then continue. No parsing, no
//! policy.
//!
//! For diagnosis, the plugin configuration may add the host calls a real filter makes
//! per request, to price each of them in Envoy (comma-separated, all off by default):
//!
//! - `pairs`: read the request headers as one map (`proxy_get_header_map_pairs`);
//! - `props=N`: N filter-state writes (`proxy_set_property`, e.g. `floor.p0`);
//! - `metrics=N`: N counter increments (`proxy_increment_metric`);
//! - `log`: one info log line of about 600 bytes (an audit line's size);
//! - `shared`: one shared-data read and compare-and-swap write (a 45-byte key, a 24-byte
//!   value), as one counter reservation does.

use std::cell::Cell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { extra: Rc::new(Extra::default()) })
    });
}}

#[derive(Default)]
struct Extra {
    pairs: bool,
    props: u32,
    metrics: Vec<u32>,
    log: bool,
    shared: bool,
    line: String,
    sink: Cell<usize>,
}

impl Extra {
    fn parse(text: &str) -> Extra {
        let mut extra = Extra::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, "1"));
            let n: u32 = value.trim().parse().unwrap_or(0);
            match key.trim() {
                "pairs" => extra.pairs = n > 0,
                "props" => extra.props = n,
                "metrics" => {
                    extra.metrics = (0..n)
                        .filter_map(|i| {
                            hostcalls::define_metric(MetricType::Counter, &format!("floor.m{i}"))
                                .ok()
                        })
                        .collect()
                }
                "log" => extra.log = n > 0,
                "shared" => extra.shared = n > 0,
                _ => {}
            }
        }
        extra.line = format!(
            "floor decision {{\"decision\":\"allow\",\"pad\":\"{}\"}}",
            "x".repeat(560)
        );
        extra
    }
}

struct Root {
    extra: Rc<Extra>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let text = String::from_utf8_lossy(&config);
        // A JSON string value ("...") or the bare text.
        let text = text.trim().trim_matches('"');
        self.extra = Rc::new(Extra::parse(text));
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor {
            extra: self.extra.clone(),
        }))
    }
}

struct Floor {
    extra: Rc<Extra>,
}

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        if self.extra.pairs {
            let n = self.get_http_request_headers().len();
            self.extra.sink.set(self.extra.sink.get().wrapping_add(n));
        }
        if end_of_stream {
            Action::Continue
        } else {
            Action::Pause
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        // The copy every body-judging filter makes; its length is kept so the copy
        // cannot be optimised away.
        let n = self
            .get_http_request_body(0, body_size)
            .map_or(0, |b| b.len());
        let extra = self.extra.clone();
        extra.sink.set(extra.sink.get().wrapping_add(n));
        for i in 0..extra.props {
            let key = format!("floor.p{i}");
            self.set_property(vec![key.as_str()], Some(b"allow"));
        }
        for id in &extra.metrics {
            let _ = hostcalls::increment_metric(*id, 1);
        }
        if extra.log {
            let _ = hostcalls::log(LogLevel::Info, &extra.line);
        }
        if extra.shared {
            let key = "floor:c:0123456789abcdef0123456789abcdef";
            let (value, cas) = self.get_shared_data(key);
            let mut record = value.unwrap_or_else(|| vec![0u8; 24]);
            if let Some(b) = record.first_mut() {
                *b = b.wrapping_add(1);
            }
            let _ = self.set_shared_data(key, Some(&record), cas);
        }
        Action::Continue
    }
}
