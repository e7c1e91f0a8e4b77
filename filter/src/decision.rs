//! The decision object: what was decided about one request, and why.
//!
//! Owns: the JSON of SPEC §6, the same from `mcp-policy explain` and in the
//! audit log, and the order of strictness that picks a batch's decision.
//! Argument values never appear here; only their keys (and a digest when the
//! operator asks for one).

use crate::json::write::{push_f64, push_str, push_u64};
use crate::json::Json;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct CounterState {
    pub counter: String,
    pub scope: &'static str,
    /// Written as ECMAScript writes a number: `3`, not `3.0`.
    pub value: f64,
    pub max: Option<f64>,
    pub window_reset_ms: u64,
}

/// SPEC §6. Written by `write_json`; the fields not in SPEC §6 (`id`,
/// `raw_id`, `code`) are for the reply and never logged.
#[derive(Debug, Clone, PartialEq)]
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
    pub arg_sha256: Option<String>,
    pub policy_sha256: Option<String>,
    pub request_id: Option<String>,
    pub retry_after_ms: Option<u64>,
    /// A batch: each element's decision, in order.
    pub elements: Vec<Decision>,
    /// The JSON-RPC id the request carried (to answer it), not logged.
    pub id: Option<Json<'static>>,
    /// That id as the body spelled it, for replies that echo it exactly.
    pub raw_id: Option<String>,
    /// The JSON-RPC error code of a blocked request (SPEC §5), not logged.
    pub code: i32,
    /// Where a person approves this call, while its approval is pending
    /// (SPEC §7.2); for the reply, not logged.
    pub approval: Option<ApprovalLink>,
}

/// Where a pending call is approved: the page, and the id the agent's
/// client knows the URL elicitation by.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalLink {
    pub url: String,
    pub elicitation_id: String,
    /// The request said its client opens URL elicitations (2026-07-28):
    /// it gets an `input_required` result rather than a denial.
    pub elicits_url: bool,
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
            approval: None,
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

    /// Whether the agent is told the tool is unknown (SPEC §3 step 1): a
    /// `tools/call` denied because the caller's policy hides the tool
    /// (`/hide/<i>`, or `/hide` for `hide: "*"`) or does not list it under
    /// `default: deny` (`/default`). The caller's tool lists never show such
    /// a tool, and the two are answered alike, so that a reply never
    /// confirms that a hidden tool exists. The decision itself (audit,
    /// filter state, `explain`) keeps the true rule and reason.
    pub fn unknown_tool(&self) -> bool {
        self.decision == Verdict::Deny
            && self.tool.is_some()
            && (self.rule == "/default" || self.rule == "/hide" || self.rule.starts_with("/hide/"))
    }

    /// The decision as compact JSON: written directly, because the audit
    /// line is written for every request.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(512);
        self.write_json(&mut out);
        out
    }

    /// Appends the decision's JSON to `out`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"decision\":\"");
        out.push_str(self.decision.label());
        out.push_str("\",\"tool\":");
        push_opt(out, self.tool.as_deref());
        out.push_str(",\"method\":");
        push_opt(out, self.method.as_deref());
        out.push_str(",\"grant\":");
        push_opt(out, self.grant.as_deref());
        out.push_str(",\"session\":");
        push_opt(out, self.session.as_deref());
        out.push_str(",\"rule\":");
        push_str(out, &self.rule);
        out.push_str(",\"reason\":");
        push_str(out, &self.reason);
        out.push_str(",\"counters\":[");
        for (i, c) in self.counters.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"counter\":");
            push_str(out, &c.counter);
            out.push_str(",\"scope\":\"");
            out.push_str(c.scope);
            out.push_str("\",\"value\":");
            push_f64(out, c.value);
            out.push_str(",\"max\":");
            match c.max {
                Some(m) => push_f64(out, m),
                None => out.push_str("null"),
            }
            out.push_str(",\"window_reset_ms\":");
            push_u64(out, c.window_reset_ms);
            out.push('}');
        }
        out.push_str("],\"arg_keys\":[");
        for (i, k) in self.arg_keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, k);
        }
        out.push(']');
        if let Some(digest) = &self.arg_sha256 {
            out.push_str(",\"arg_sha256\":");
            push_str(out, digest);
        }
        out.push_str(",\"policy_sha256\":");
        push_opt(out, self.policy_sha256.as_deref());
        out.push_str(",\"request_id\":");
        push_opt(out, self.request_id.as_deref());
        if let Some(ms) = self.retry_after_ms {
            out.push_str(",\"retry_after_ms\":");
            push_u64(out, ms);
        }
        if !self.elements.is_empty() {
            out.push_str(",\"elements\":[");
            for (i, e) in self.elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                e.write_json(out);
            }
            out.push(']');
        }
        out.push('}');
    }
}

fn push_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_as_json() {
        let mut d = Decision::new(Verdict::RateLimited);
        d.tool = Some("ec\"ho\u{1}\n\u{2028}é".into());
        d.method = Some("tools/call".into());
        d.rule = "/tools/echo/rate_limit".into();
        d.reason = "Rate limit of 3 per minute reached\\".into();
        d.counters = vec![
            CounterState {
                counter: "_rate_minute".into(),
                scope: "grant",
                value: 3.0,
                max: Some(3.0),
                window_reset_ms: 12_345,
            },
            CounterState {
                counter: "spend".into(),
                scope: "session",
                value: 19.99,
                max: None,
                window_reset_ms: 0,
            },
        ];
        d.arg_keys = vec!["a".into(), "b\tc".into()];
        d.arg_sha256 = Some("ab".into());
        d.policy_sha256 = Some("cd".into());
        d.request_id = Some("r-1".into());
        d.retry_after_ms = Some(u64::MAX);
        let mut batch = Decision::new(Verdict::Deny);
        batch.elements = vec![d.clone(), Decision::new(Verdict::Allow)];
        let one = concat!(
            r#"{"decision":"rate_limited","tool":"ec\"ho\u0001\n"#,
            "\u{2028}é\",",
            r#""method":"tools/call","grant":null,"session":null,"#,
            r#""rule":"/tools/echo/rate_limit","reason":"Rate limit of 3 per minute reached\\","#,
            r#""counters":[{"counter":"_rate_minute","scope":"grant","value":3,"max":3,"window_reset_ms":12345},"#,
            r#"{"counter":"spend","scope":"session","value":19.99,"max":null,"window_reset_ms":0}],"#,
            r#""arg_keys":["a","b\tc"],"arg_sha256":"ab","policy_sha256":"cd","request_id":"r-1","#,
            r#""retry_after_ms":18446744073709551615}"#
        );
        assert_eq!(d.to_json(), one);
        let allow = concat!(
            r#"{"decision":"allow","tool":null,"method":null,"grant":null,"session":null,"#,
            r#""rule":"","reason":"","counters":[],"arg_keys":[],"policy_sha256":null,"request_id":null}"#
        );
        assert_eq!(Decision::new(Verdict::Allow).to_json(), allow);
        let deny = Decision::new(Verdict::Deny).to_json();
        let deny = deny.trim_end_matches('}');
        assert_eq!(
            batch.to_json(),
            format!("{deny},\"elements\":[{one},{allow}]}}")
        );
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
    /// MCP's own `URLElicitationRequiredError` (2025-11-25): a pending
    /// approval, to a client that knows URL elicitation.
    pub const URL_ELICITATION_REQUIRED: i32 = -32042;
    /// A batch element that was allowed but not run, because another was not.
    pub const NOT_EXECUTED: i32 = -32063;
    /// The body is larger than `mcp.max_body_bytes`.
    pub const TOO_LARGE: i32 = -32064;
    /// A `Content-Encoding` the filter cannot read.
    pub const UNSUPPORTED_ENCODING: i32 = -32065;
}
