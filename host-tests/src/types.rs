//! Plain data types the harness hands to tests: what a callback returned,
//! what the filter sent or released, and the outgoing calls it made.

/// What a request/response callback returned, as Envoy reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// 0: let the headers/data through.
    Continue,
    /// Anything else (1 in the Rust SDK): stop iteration; for body callbacks,
    /// keep buffering (StopIterationAndBuffer).
    Pause,
}

impl Action {
    pub(crate) fn from_abi(v: i64) -> Self {
        if v == 0 {
            Self::Continue
        } else {
            Self::Pause
        }
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_json(body: &[u8]) -> anyhow::Result<serde_json::Value> {
    serde_json::from_slice(body).map_err(|e| {
        anyhow::anyhow!(
            "body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body[..body.len().min(512)])
        )
    })
}

/// A `proxy_send_local_response` made by the filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    /// HTTP status code.
    pub status: u32,
    /// Response code details (Envoy's `%RESPONSE_CODE_DETAILS%`), as the filter
    /// passed them (Envoy would also replace whitespace with `_`).
    pub details: String,
    /// Response body.
    pub body: Vec<u8>,
    /// The additional headers the filter passed, names lowercased as Envoy does.
    pub headers: Vec<(String, String)>,
    /// gRPC status the filter passed (-1 / out of range means none).
    pub grpc_status: i32,
}

impl LocalResponse {
    /// First value of header `name` (case-insensitive) among the filter's additional headers.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    /// The body as (lossy) UTF-8.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON.
    pub fn body_json(&self) -> anyhow::Result<serde_json::Value> {
        parse_json(&self.body)
    }
}

/// What Envoy would have sent to the upstream for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upstream {
    /// Request headers as they stood when the filter released them.
    pub headers: Vec<(String, String)>,
    /// Every body byte released so far, in order.
    pub body: Vec<u8>,
    /// Request trailers, once released.
    pub trailers: Option<Vec<(String, String)>>,
}

impl Upstream {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    /// The body as (lossy) UTF-8.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON.
    pub fn body_json(&self) -> anyhow::Result<serde_json::Value> {
        parse_json(&self.body)
    }
}

/// The response as released towards the client (after the filter's changes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseSeen {
    /// Response headers as they stood when released; `None` while held (or never seen).
    pub headers: Option<Vec<(String, String)>>,
    /// Every response body byte released so far, in order.
    pub body: Vec<u8>,
    /// Response trailers, once released.
    pub trailers: Option<Vec<(String, String)>>,
}

impl ResponseSeen {
    /// First value of header `name` (case-insensitive), if headers were released.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_deref().and_then(|h| find_header(h, name))
    }
    /// The body as (lossy) UTF-8.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body parsed as JSON.
    pub fn body_json(&self) -> anyhow::Result<serde_json::Value> {
        parse_json(&self.body)
    }
}

/// A pending `proxy_http_call`. Answer it with
/// [`Vm::http_call_response`](crate::Vm::http_call_response) or
/// [`Vm::http_call_failure`](crate::Vm::http_call_failure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    /// Token returned to the filter.
    pub token: u32,
    /// The context (root or stream id) that was current when the call was made.
    pub context_id: u32,
    /// Cluster name.
    pub upstream: String,
    /// Request headers (`:method`, `:path`, `:authority` are required, as in Envoy).
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: Vec<(String, String)>,
    /// Timeout in milliseconds (0 = none).
    pub timeout_ms: u32,
}

impl HttpCall {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    /// The body parsed as JSON.
    pub fn body_json(&self) -> anyhow::Result<serde_json::Value> {
        parse_json(&self.body)
    }
}

/// A pending `proxy_grpc_call`. Answer it with
/// [`Vm::grpc_receive`](crate::Vm::grpc_receive) or [`Vm::grpc_close`](crate::Vm::grpc_close).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcCall {
    /// Token returned to the filter.
    pub token: u32,
    /// The context (root or stream id) that was current when the call was made.
    pub context_id: u32,
    /// The serialized `envoy.config.core.v3.GrpcService` the filter passed (raw bytes).
    pub service: Vec<u8>,
    /// Fully qualified service name, e.g. `envoy.service.ratelimit.v3.RateLimitService`.
    pub service_name: String,
    /// Method name, e.g. `ShouldRateLimit`.
    pub method: String,
    /// Initial metadata.
    pub initial_metadata: Vec<(String, String)>,
    /// The serialized request message.
    pub message: Vec<u8>,
    /// Timeout in milliseconds.
    pub timeout_ms: u32,
}
