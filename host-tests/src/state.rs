//! Per-VM host state (the wasmtime `Store` data): contexts, header maps,
//! buffers, properties, pending outgoing calls and captured logs.
//!
//! Header maps follow Envoy's lifetime rules: a map is readable and writable
//! only while Envoy holds it for the filter. The request headers, for example,
//! are there from `on_request_headers` until that callback returns Continue or
//! the filter calls `proxy_continue_stream`; afterwards reading a value is a
//! `BadArgument` (which the Rust SDK turns into a panic, exactly as in Envoy).
//! During `on_log` the request and response headers are readable again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::memory::{serialize_pairs, status, Pairs};
use crate::shared::Shared;
use crate::types::{GrpcCall, HttpCall, LocalResponse, ResponseSeen, Upstream};

/// Everything the harness tracks for one HTTP stream context.
#[derive(Default)]
pub(crate) struct StreamState {
    pub req_headers: Pairs,
    pub req_headers_live: bool,
    pub req_headers_seen: bool,
    pub req_trailers: Pairs,
    pub req_trailers_live: bool,
    pub req_trailers_held: bool,
    /// Request body bytes buffered by Envoy and not yet released upstream.
    pub req_body: Vec<u8>,
    /// The request-headers callback returned Pause and nothing released them yet.
    pub req_headers_held: bool,

    pub resp_headers: Pairs,
    pub resp_headers_live: bool,
    pub resp_started: bool,
    pub resp_trailers: Pairs,
    pub resp_trailers_live: bool,
    pub resp_trailers_held: bool,
    pub resp_body: Vec<u8>,

    pub upstream: Option<Upstream>,
    pub downstream: ResponseSeen,
    pub local_response: Option<LocalResponse>,
    /// A local reply whose trip through the encoder callbacks is still due.
    pub local_reply_to_encode: bool,
    pub closed: bool,

    pub continued_request: bool,
    pub continued_response: bool,
    pub pending_continue_request: bool,
    pub pending_continue_response: bool,

    pub in_log: bool,
    pub properties: HashMap<Vec<String>, Vec<u8>>,
    pub trees: Vec<(Vec<String>, serde_json::Value)>,
    pub filter_state: BTreeMap<String, Vec<u8>>,
}

impl StreamState {
    /// Releases everything the request side holds to the upstream: headers
    /// (first time), buffered body, held trailers. Nothing moves after a local
    /// reply or a reset.
    pub fn release_request(&mut self) {
        if self.local_response.is_some() || self.closed || !self.req_headers_seen {
            return;
        }
        let up = self.upstream.get_or_insert_with(|| Upstream {
            headers: self.req_headers.clone(),
            ..Upstream::default()
        });
        up.body.append(&mut self.req_body);
        if self.req_trailers_held {
            up.trailers = Some(self.req_trailers.clone());
            self.req_trailers_held = false;
        }
        self.req_headers_held = false;
    }

    /// The response-side twin of [`release_request`](Self::release_request).
    pub fn release_response(&mut self) {
        if self.closed || !self.resp_started {
            return;
        }
        if self.downstream.headers.is_none() {
            self.downstream.headers = Some(self.resp_headers.clone());
        }
        self.downstream.body.append(&mut self.resp_body);
        if self.resp_trailers_held {
            self.downstream.trailers = Some(self.resp_trailers.clone());
            self.resp_trailers_held = false;
        }
    }
}

/// The response to an outgoing HTTP call, visible while its callback runs.
pub(crate) struct CallResponse {
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub trailers: Pairs,
}

/// Store data of one VM.
pub(crate) struct HostState {
    pub shared: Arc<Shared>,
    pub root_id: u32,
    pub next_context_id: u32,
    /// Context whose callback is running (0: none).
    pub current: u32,
    /// Set by `proxy_set_effective_context` for the rest of the callback.
    pub effective: u32,
    pub streams: HashMap<u32, StreamState>,
    pub root_properties: HashMap<Vec<String>, Vec<u8>>,
    pub root_trees: Vec<(Vec<String>, serde_json::Value)>,
    pub logs: Vec<(u32, String)>,
    pub log_level: u32,
    pub echo_logs: bool,
    pub vm_config: Vec<u8>,
    /// The plugin configuration; readable only during `on_configure`, as in Envoy.
    pub plugin_config: Option<Vec<u8>>,
    pub tick_period_ms: u32,
    pub next_token: u32,
    pub http_calls: BTreeMap<u32, HttpCall>,
    pub grpc_calls: BTreeMap<u32, GrpcCall>,
    pub grpc_streams: HashSet<u32>,
    pub rejected_upstreams: HashSet<String>,
    pub http_response: Option<CallResponse>,
    pub grpc_receive: Option<Vec<u8>>,
    pub status: (u32, Vec<u8>),
    pub done_calls: u32,
    pub rng: u64,
    /// When on, every export called and every import the guest calls, with
    /// the fuel left at that moment (see [`crate::Vm::trace_fuel`]).
    pub fuel_trace: Option<Vec<(String, u64)>>,
}

impl HostState {
    pub fn new(shared: Arc<Shared>) -> Self {
        let echo_logs = std::env::var_os("HARNESS_LOG").is_some();
        let mut root_properties = HashMap::new();
        for key in ["plugin_name", "plugin_root_id", "plugin_vm_id"] {
            root_properties.insert(vec![key.to_string()], b"mcp_policy".to_vec());
        }
        Self {
            shared,
            root_id: 1,
            next_context_id: 2,
            current: 0,
            effective: 0,
            streams: HashMap::new(),
            root_properties,
            root_trees: Vec::new(),
            logs: Vec::new(),
            log_level: 0,
            echo_logs,
            vm_config: Vec::new(),
            plugin_config: None,
            tick_period_ms: 0,
            next_token: 1,
            http_calls: BTreeMap::new(),
            grpc_calls: BTreeMap::new(),
            grpc_streams: HashSet::new(),
            rejected_upstreams: HashSet::new(),
            http_response: None,
            grpc_receive: None,
            status: (0, Vec::new()),
            done_calls: 0,
            fuel_trace: None,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The context host calls act on: the effective one if set, else the current one.
    pub fn context(&self) -> u32 {
        if self.effective != 0 {
            self.effective
        } else {
            self.current
        }
    }

    /// The stream the host call acts on, if the context is a stream.
    pub fn stream(&mut self) -> Option<&mut StreamState> {
        let id = self.context();
        self.streams.get_mut(&id)
    }

    pub fn stream_ref(&self) -> Option<&StreamState> {
        self.streams.get(&self.context())
    }

    pub fn log(&mut self, level: u32, message: String) {
        if self.echo_logs {
            eprintln!("[wasm {}] {}", level_name(level), message);
        }
        self.logs.push((level, message));
    }

    pub fn next_token(&mut self) -> u32 {
        let t = self.next_token;
        self.next_token = self.next_token.wrapping_add(1).max(1);
        t
    }

    /// A simple xorshift generator for WASI `random_get`.
    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            out.extend_from_slice(&self.rng.to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// Read access to header map `map_type` in the current context: `None`
    /// when Envoy would not have that map at this point (`BadArgument`).
    pub fn read_map(&self, map_type: i32) -> Option<&Pairs> {
        match map_type {
            4..=5 => None, // gRPC metadata: not emulated (always absent)
            6 => self.http_response.as_ref().map(|r| &r.headers),
            7 => self.http_response.as_ref().map(|r| &r.trailers),
            _ => {
                let s = self.stream_ref()?;
                if s.in_log {
                    return match map_type {
                        0 => Some(s.upstream.as_ref().map_or(&s.req_headers, |u| &u.headers)),
                        2 if s.resp_started => {
                            Some(s.downstream.headers.as_ref().unwrap_or(&s.resp_headers))
                        }
                        3 if s.resp_started => Some(&s.resp_trailers),
                        1 if s.req_trailers_live => Some(&s.req_trailers),
                        _ => None,
                    };
                }
                match map_type {
                    0 if s.req_headers_live => Some(&s.req_headers),
                    1 if s.req_trailers_live => Some(&s.req_trailers),
                    2 if s.resp_headers_live => Some(&s.resp_headers),
                    3 if s.resp_trailers_live => Some(&s.resp_trailers),
                    _ => None,
                }
            }
        }
    }

    /// Write access to header map `map_type` (only types 0..=3, only while live).
    pub fn write_map(&mut self, map_type: i32) -> Option<&mut Pairs> {
        let s = self.stream()?;
        match map_type {
            0 if s.req_headers_live => Some(&mut s.req_headers),
            1 if s.req_trailers_live => Some(&mut s.req_trailers),
            2 if s.resp_headers_live => Some(&mut s.resp_headers),
            3 if s.resp_trailers_live => Some(&mut s.resp_trailers),
            _ => None,
        }
    }

    /// Resolves `proxy_get_property` for the current context: the value, or
    /// the status to return (NotFound, SerializationFailure).
    pub fn get_property(&self, path: &[String]) -> Result<Vec<u8>, i32> {
        let stream = self.stream_ref();
        if let Some(v) = stream.and_then(|s| s.properties.get(path)) {
            return Ok(v.clone());
        }
        if let Some(v) = self.root_properties.get(path) {
            return Ok(v.clone());
        }
        let trees = stream
            .map(|s| s.trees.as_slice())
            .unwrap_or_default()
            .iter()
            .chain(self.root_trees.iter());
        for (prefix, tree) in trees {
            if let Some(rest) = path.strip_prefix(prefix.as_slice()) {
                let mut node = tree;
                for seg in rest {
                    node = match node {
                        serde_json::Value::Object(m) => m.get(seg).ok_or(status::NOT_FOUND)?,
                        serde_json::Value::Array(a) => seg
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| a.get(i))
                            .ok_or(status::NOT_FOUND)?,
                        _ => return Err(status::NOT_FOUND),
                    };
                }
                return serialize_cel(node);
            }
        }
        let s = stream.ok_or(status::NOT_FOUND)?;
        if let [name] = path {
            if let Some(v) = s.filter_state.get(&format!("wasm.{name}")) {
                return Ok(v.clone());
            }
        }
        let header = |name: &str| -> Option<Vec<u8>> {
            s.req_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone().into_bytes())
        };
        let parts: Vec<&str> = path.iter().map(String::as_str).collect();
        let derived = match parts.as_slice() {
            ["request", "path"] => header(":path"),
            ["request", "url_path"] => header(":path").map(|p| {
                let end = p.iter().position(|b| *b == b'?').unwrap_or(p.len());
                p[..end].to_vec()
            }),
            ["request", "method"] => header(":method"),
            ["request", "host"] => header(":authority"),
            ["request", "scheme"] => header(":scheme"),
            ["request", "id"] => header("x-request-id"),
            ["request", "headers", name] => header(name),
            ["response", "code"] if s.resp_started => s
                .resp_headers
                .iter()
                .find(|(k, _)| k == ":status")
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .map(|c| c.to_le_bytes().to_vec()),
            _ => None,
        };
        derived.ok_or(status::NOT_FOUND)
    }
}

/// Serialises a value the way Envoy serialises a CEL value for
/// `proxy_get_property`: strings raw, numbers (protobuf `Struct` numbers are
/// doubles) as f64 LE, booleans as one byte, maps as pairs of serialised
/// key/value, lists as pairs of (serialised element, ""), null unsupported.
pub fn serialize_cel(value: &serde_json::Value) -> Result<Vec<u8>, i32> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => s.clone().into_bytes(),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN).to_le_bytes().to_vec(),
        Value::Bool(b) => vec![u8::from(*b)],
        Value::Null => return Err(status::SERIALIZATION_FAILURE),
        Value::Object(m) => {
            let mut pairs = Vec::with_capacity(m.len());
            for (k, v) in m {
                pairs.push((k.clone().into_bytes(), serialize_cel(v)?));
            }
            serialize_pairs(&pairs)
        }
        Value::Array(a) => {
            let mut pairs = Vec::with_capacity(a.len());
            for v in a {
                pairs.push((serialize_cel(v)?, Vec::new()));
            }
            serialize_pairs(&pairs)
        }
    })
}

/// Envoy's (spdlog's) names for proxy-wasm log levels.
pub fn level_name(level: u32) -> &'static str {
    match level {
        0 => "trace",
        1 => "debug",
        2 => "info",
        3 => "warn",
        4 => "error",
        5 => "critical",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::deserialize_pairs;
    use serde_json::json;

    #[test]
    fn cel_serialisation() {
        assert_eq!(serialize_cel(&json!("x")).unwrap(), b"x");
        assert_eq!(serialize_cel(&json!(2)).unwrap(), 2f64.to_le_bytes());
        assert_eq!(serialize_cel(&json!(true)).unwrap(), [1]);
        assert_eq!(
            serialize_cel(&json!(null)),
            Err(status::SERIALIZATION_FAILURE)
        );
        let map = deserialize_pairs(&serialize_cel(&json!({"a": "b"})).unwrap()).unwrap();
        assert_eq!(map, vec![("a".to_string(), "b".to_string())]);
        let list = deserialize_pairs(&serialize_cel(&json!(["p", "q"])).unwrap()).unwrap();
        assert_eq!(list, vec![("p".into(), "".into()), ("q".into(), "".into())]);
    }

    #[test]
    fn tree_navigation() {
        let mut st = HostState::new(std::sync::Arc::new(crate::shared::Shared::new()));
        st.root_trees.push((
            vec!["metadata".into(), "filter_metadata".into(), "jwt".into()],
            json!({"agents": {"sub": "1234", "roles": ["a", "b"], "org": {"id": 7}}}),
        ));
        let get =
            |p: &[&str]| st.get_property(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            get(&["metadata", "filter_metadata", "jwt", "agents", "sub"]).unwrap(),
            b"1234"
        );
        assert_eq!(
            get(&["metadata", "filter_metadata", "jwt", "agents", "roles", "1"]).unwrap(),
            b"b"
        );
        assert_eq!(
            get(&["metadata", "filter_metadata", "jwt", "agents", "org", "id"]).unwrap(),
            7f64.to_le_bytes()
        );
        assert_eq!(
            get(&["metadata", "filter_metadata", "jwt", "agents", "nope"]),
            Err(status::NOT_FOUND)
        );
        assert_eq!(
            get(&["metadata", "filter_metadata", "other"]),
            Err(status::NOT_FOUND)
        );
    }
}
