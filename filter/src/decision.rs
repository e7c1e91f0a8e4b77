//! The decision object: what was decided about one request, and why.
//!
//! Owns: the JSON of SPEC §6, the same from `mcp-policy explain` and in the
//! audit log, and the order of strictness that picks a batch's decision.
//! Argument values never appear here; only their keys (and a digest when the
//! operator asks for one).

use crate::json::Json;
use serde::Serialize;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    // Declared from least to most strict: a batch takes its strictest.
    Allow,
    ApprovalPending,
    RateLimited,
    Deny,
    Invalid,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::ApprovalPending => "approval_pending",
            Verdict::RateLimited => "rate_limited",
            Verdict::Deny => "deny",
            Verdict::Invalid => "invalid",
        }
    }

    pub fn blocks(self) -> bool {
        self != Verdict::Allow
    }
}

/// A counter a decision touched, as it stood after the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterState {
    pub counter: String,
    pub scope: &'static str,
    #[serde(serialize_with = "number")]
    pub value: f64,
    #[serde(serialize_with = "optional_number")]
    pub max: Option<f64>,
    pub window_reset_ms: u64,
}

/// Counts print as integers when they are (`3`, not `3.0`).
fn number<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn optional_number<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => number(v, s),
        None => s.serialize_none(),
    }
}

/// SPEC §6.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub decision: Verdict,
    pub tool: Option<String>,
    pub method: Option<String>,
    pub grant: Option<String>,
    pub session: Option<String>,
    /// JSON pointer into the policy (or, for decisions no policy made, into
    /// the configuration: `/unmatched`, `/grants/<name>`), or "" for a
    /// request no rule applies to.
    pub rule: String,
    pub reason: String,
    pub counters: Vec<CounterState>,
    pub arg_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arg_sha256: Option<String>,
    pub policy_sha256: Option<String>,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// A batch: each element's decision, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<Decision>,
    /// The JSON-RPC id the request carried (to answer it), not logged.
    #[serde(skip)]
    pub id: Option<Json<'static>>,
    /// That id as the body spelled it, for replies that echo it exactly.
    #[serde(skip)]
    pub raw_id: Option<String>,
    /// The JSON-RPC error code of a blocked request (SPEC §5), not logged.
    #[serde(skip)]
    pub code: i32,
}

impl Decision {
    pub fn new(decision: Verdict) -> Decision {
        Decision {
            decision,
            tool: None,
            method: None,
            grant: None,
            session: None,
            rule: String::new(),
            reason: String::new(),
            counters: Vec::new(),
            arg_keys: Vec::new(),
            arg_sha256: None,
            policy_sha256: None,
            request_id: None,
            retry_after_ms: None,
            elements: Vec::new(),
            id: None,
            raw_id: None,
            code: 0,
        }
    }

    /// Records each message's id as the body spelled it (see `mcp::raw_ids`),
    /// where the strict reading found one. A refused batch has no elements
    /// and its id is one element's, unknown here: it keeps the id it has.
    pub fn set_raw_ids(&mut self, raw: Vec<Option<String>>, batch: bool) {
        if batch && self.elements.is_empty() {
            return;
        }
        let targets: Vec<&mut Decision> = if self.elements.is_empty() {
            vec![self]
        } else {
            self.elements.iter_mut().collect()
        };
        for (d, r) in targets.into_iter().zip(raw) {
            if d.id.is_some() {
                d.raw_id = r;
            }
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Stable JSON-RPC error codes (SPEC §5), documented in the README.
pub mod codes {
    /// The body is not JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// JSON, but not a JSON-RPC message the filter accepts.
    pub const INVALID_REQUEST: i32 = -32600;
    /// A `tools/call` without a usable `name` or with non-object `arguments`.
    pub const INVALID_PARAMS: i32 = -32602;
    /// `Mcp-Method` / `Mcp-Name` headers disagree with the body.
    pub const HEADER_MISMATCH: i32 = -32020;
    /// Denied by policy.
    pub const DENIED: i32 = -32060;
    /// Over a limit; `retry_after_ms` says when it resets.
    pub const RATE_LIMITED: i32 = -32061;
    /// Waiting for a human to approve; retry the same call later.
    pub const APPROVAL_PENDING: i32 = -32062;
    /// A batch element that was allowed but not run, because another was not.
    pub const NOT_EXECUTED: i32 = -32063;
    /// The body is larger than `mcp.max_body_bytes`.
    pub const TOO_LARGE: i32 = -32064;
    /// A `Content-Encoding` the filter cannot read.
    pub const UNSUPPORTED_ENCODING: i32 = -32065;
}
