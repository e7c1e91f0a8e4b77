//! What the agent receives when a request is blocked (SPEC §5).
//!
//! Owns: the HTTP status and JSON-RPC body of every refusal. A denied
//! `tools/call` is, by default, a tool result with `isError: true` whose text
//! says what was denied, why, and when to retry, so the model can adapt;
//! `deny_as: "jsonrpc_error"` makes it a JSON-RPC error instead. Either way the
//! machine-readable fields (`decision`, `rule`, `code`, `retry_after_ms`) sit
//! under `result._meta` or `error.data`. Invalid requests are JSON-RPC errors
//! with a 4xx status.
//!
//! What the agent is told is not always what the audit says: a tool the
//! caller's policy hides, or does not list under `default: deny`, is answered
//! as an unknown tool (`Unknown tool: NAME`, rule `/default`), the same reply
//! for both, so that calling a hidden tool never confirms that it exists
//! (SPEC §3 step 1; `Decision::unknown_tool`). Every other denial shows its
//! reason: the operator's `on_deny` or `reason`, or the condition that failed.
//!
//! Does not own: deciding (`judge`).

use crate::config::DenyAs;
use crate::decision::{codes, ApprovalLink, Decision, Verdict};
use crate::json::write::{push_i64, push_json, push_str, push_u64};
use crate::json::Json;

/// The `rule` an agent is shown for a tool it is told is unknown (a hidden
/// tool, or one the policy does not list under `default: deny`).
pub const UNKNOWN_TOOL_RULE: &str = "/default";

/// A local reply: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u32,
    pub body: String,
}

/// How to shape replies for this request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub deny_as: DenyAs,
    /// Protocol 2026-07-28 or later: results carry `resultType`.
    pub modern: bool,
    /// Protocol 2025-11-25 or later: the client knows URL elicitation, so a
    /// pending approval is a `URLElicitationRequiredError` (-32042).
    pub elicits: bool,
}

impl Style {
    /// The style for a request whose `MCP-Protocol-Version` header is
    /// `version` (dated revisions compare as text).
    pub fn new(deny_as: DenyAs, version: Option<&str>) -> Style {
        let version = version.map(str::trim);
        Style {
            deny_as,
            modern: version.is_some_and(|v| v >= "2026-07-28"),
            elicits: version.is_some_and(|v| v >= "2025-11-25"),
        }
    }
}

/// The reply to a blocked request; `None` when it is allowed.
pub fn reply(style: Style, decision: &Decision) -> Option<Reply> {
    if !decision.decision.blocks() {
        return None;
    }
    let mut body = String::with_capacity(512);
    if decision.decision == Verdict::Invalid {
        push_error(&mut body, decision, &decision.reason);
        return Some(Reply {
            status: invalid_status(decision.code),
            body,
        });
    }
    if decision.elements.is_empty() {
        push_denial(&mut body, style, decision);
    } else {
        body.push('[');
        // Requests only: a client's responses (to sampling, elicitation)
        // and notifications are not answered.
        let requests = decision
            .elements
            .iter()
            .filter(|e| e.id.is_some() && e.method.is_some());
        for (i, e) in requests.enumerate() {
            if i > 0 {
                body.push(',');
            }
            if e.decision.blocks() {
                push_denial(&mut body, style, e);
            } else {
                push_error(&mut body, e, "not executed: batch contained a denied call");
            }
        }
        body.push(']');
    }
    Some(Reply { status: 200, body })
}

/// The HTTP status of an invalid request.
pub fn invalid_status(code: i32) -> u32 {
    match code {
        codes::TOO_LARGE => 413,
        codes::UNSUPPORTED_ENCODING => 415,
        _ => 400,
    }
}

/// The text the model reads.
pub fn agent_text(d: &Decision) -> String {
    let tool = d.tool.as_deref().unwrap_or("the call");
    if d.unknown_tool() {
        // The words of the MCP specification's example and of the official
        // Python SDK's server for a tool it does not have.
        return format!("Unknown tool: {tool}");
    }
    match d.decision {
        Verdict::RateLimited => {
            let retry = d
                .retry_after_ms
                .map(|ms| format!(" Retry in {} s.", ms.saturating_add(999) / 1000))
                .unwrap_or_default();
            format!("Rate limited by policy: {} ({tool} was not run).{retry}", d.reason)
        }
        Verdict::ApprovalPending => match &d.approval {
            Some(link) => format!(
                "Approval pending: {} ({tool} was not run). A person must approve this exact call at {}; then retry the same call.",
                d.reason, link.url
            ),
            None => format!(
                "Approval pending: {} ({tool} was not run). A human must approve this exact call; retry the same call later.",
                d.reason
            ),
        },
        _ => format!("Denied by policy: {} ({tool} was not run).", d.reason),
    }
}

/// `{"jsonrpc":"2.0","id":<the request's id>,` for a response to `d`'s
/// request. The id is echoed as the request spelled it when that is known
/// (`raw_id`, which is strict JSON by construction: checked again, as it
/// goes into the body), else as it was read.
fn push_head(out: &mut String, d: &Decision) {
    out.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    match d.raw_id.as_deref() {
        Some(raw) if crate::json::parse(raw.as_bytes()).is_ok() => out.push_str(raw.trim()),
        _ => push_json(out, d.id.as_ref().unwrap_or(&Json::Null)),
    }
    out.push(',');
}

/// The refusal of a blocked request: a tool result with `isError`, or a
/// JSON-RPC error, as the configuration asks.
fn push_denial(out: &mut String, style: Style, d: &Decision) {
    let text = agent_text(d);
    match (&d.approval, style.modern, style.elicits) {
        // 2026-07-28 has no -32042 on the wire: a client that opens URL
        // elicitations gets them as input it must give before a retry.
        (Some(link), true, _) if link.elicits_url => {
            return push_input_required(out, d, link);
        }
        (Some(link), false, true) => return push_elicitation(out, d, link, &text),
        _ => {}
    }
    match style.deny_as {
        DenyAs::ToolError => {
            push_head(out, d);
            out.push_str("\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
            push_str(out, &text);
            out.push_str("}],\"isError\":true,");
            if style.modern {
                // Required from 2026-07-28 on: this result is final.
                out.push_str("\"resultType\":\"complete\",");
            }
            out.push_str("\"_meta\":");
            push_meta(out, d);
            out.push_str("}}");
        }
        DenyAs::JsonRpcError => push_error(out, d, &text),
    }
}

fn push_error(out: &mut String, d: &Decision, message: &str) {
    push_head(out, d);
    out.push_str("\"error\":{\"code\":");
    push_i64(
        out,
        i64::from(if d.decision.blocks() {
            d.code
        } else {
            codes::NOT_EXECUTED
        }),
    );
    out.push_str(",\"message\":");
    push_str(out, message);
    out.push_str(",\"data\":");
    push_meta(out, d);
    out.push_str("}}");
}

/// A pending approval to a client that knows URL elicitation (MCP
/// 2025-11-25): `URLElicitationRequiredError`, whose client sends the user
/// to `url` and may retry once the elicitation completes.
fn push_elicitation(out: &mut String, d: &Decision, link: &ApprovalLink, text: &str) {
    push_head(out, d);
    out.push_str("\"error\":{\"code\":");
    push_i64(out, i64::from(codes::URL_ELICITATION_REQUIRED));
    out.push_str(",\"message\":");
    push_str(out, text);
    out.push_str(",\"data\":{\"elicitations\":[");
    push_url_elicitation(out, link);
    out.push_str("],");
    // The filter's own fields, beside what the spec defines.
    push_meta_fields(out, d);
    out.push_str("}}}");
}

/// A pending approval to a 2026-07-28 client that opens URL elicitations:
/// an `input_required` result asking for one, which the client completes
/// (the person approves) before it retries the call.
fn push_input_required(out: &mut String, d: &Decision, link: &ApprovalLink) {
    push_head(out, d);
    out.push_str("\"result\":{\"resultType\":\"input_required\",\"inputRequests\":{\"mcp_policy_approval\":{\"method\":\"elicitation/create\",\"params\":");
    push_url_elicitation(out, link);
    out.push_str("}},\"_meta\":");
    push_meta(out, d);
    out.push_str("}}");
}

/// `{"mode":"url","elicitationId":..,"url":..,"message":..}`.
fn push_url_elicitation(out: &mut String, link: &ApprovalLink) {
    out.push_str("{\"mode\":\"url\",\"elicitationId\":");
    push_str(out, &link.elicitation_id);
    out.push_str(",\"url\":");
    push_str(out, &link.url);
    out.push_str(",\"message\":");
    push_str(
        out,
        "A person must approve this exact tool call before it runs.",
    );
    out.push('}');
}

/// The machine-readable fields of a refusal.
fn push_meta(out: &mut String, d: &Decision) {
    out.push('{');
    push_meta_fields(out, d);
    out.push('}');
}

fn push_meta_fields(out: &mut String, d: &Decision) {
    let (decision, code) = if d.decision.blocks() {
        (d.decision.label(), d.code)
    } else {
        ("not_executed", codes::NOT_EXECUTED)
    };
    out.push_str("\"decision\":\"");
    out.push_str(decision);
    out.push_str("\",\"code\":");
    push_i64(out, i64::from(code));
    out.push_str(",\"rule\":");
    if d.unknown_tool() {
        // A hidden tool reads as one the policy does not list: never its
        // `hide` entry, nor the audit's reason.
        push_str(out, UNKNOWN_TOOL_RULE);
        out.push_str(",\"reason\":");
        push_str(out, &agent_text(d));
    } else {
        push_str(out, &d.rule);
        out.push_str(",\"reason\":");
        push_str(out, &d.reason);
    }
    if let Some(ms) = d.retry_after_ms {
        out.push_str(",\"retry_after_ms\":");
        push_u64(out, ms);
    }
    if let Some(link) = &d.approval {
        out.push_str(",\"approval_url\":");
        push_str(out, &link.url);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(tool: &str, rule: &str, reason: &str) -> Decision {
        let mut d = Decision::new(Verdict::Deny);
        d.tool = Some(tool.into());
        d.method = Some("tools/call".into());
        d.rule = rule.into();
        d.reason = reason.into();
        d.code = codes::DENIED;
        d.id = Some(Json::Num(crate::json::Num::U(7)));
        d
    }

    fn styles() -> Vec<Style> {
        let mut out = Vec::new();
        for deny_as in [DenyAs::ToolError, DenyAs::JsonRpcError] {
            for version in [
                None,
                Some("2025-06-18"),
                Some("2025-11-25"),
                Some("2026-07-28"),
            ] {
                out.push(Style::new(deny_as, version));
            }
        }
        out
    }

    #[test]
    fn a_hidden_tool_is_answered_as_an_unlisted_one() {
        for style in styles() {
            let hidden = denied("x", "/hide/0", "Tool \"x\" is hidden by policy");
            let all = denied("x", "/hide", "Tool \"x\" is hidden by policy");
            let unlisted = denied(
                "x",
                "/default",
                "Tool \"x\" is not permitted by policy (default: deny)",
            );
            let a = reply(style, &hidden).unwrap();
            assert_eq!(a, reply(style, &all).unwrap(), "{style:?}");
            assert_eq!(a, reply(style, &unlisted).unwrap(), "{style:?}");
            assert_eq!(a.status, 200);
            assert!(!a.body.to_lowercase().contains("hid"), "{}", a.body);
            assert!(a.body.contains("\"Unknown tool: x\""), "{}", a.body);
            assert!(a.body.contains("\"rule\":\"/default\""), "{}", a.body);
            assert!(a.body.contains("\"code\":-32060"), "{}", a.body);
            // The decision keeps the truth.
            assert!(hidden.to_json().contains("\"rule\":\"/hide/0\""));
            assert!(hidden.to_json().contains("hidden by policy"));
        }
    }

    #[test]
    fn the_unknown_tool_reply_in_each_form() {
        let d = denied("x", "/hide/3", "Tool \"x\" is hidden by policy");
        let meta =
            r#"{"decision":"deny","code":-32060,"rule":"/default","reason":"Unknown tool: x"}"#;
        assert_eq!(
            reply(Style::new(DenyAs::ToolError, None), &d).unwrap().body,
            format!(
                r#"{{"jsonrpc":"2.0","id":7,"result":{{"content":[{{"type":"text","text":"Unknown tool: x"}}],"isError":true,"_meta":{meta}}}}}"#
            )
        );
        assert_eq!(
            reply(Style::new(DenyAs::ToolError, Some("2026-07-28")), &d)
                .unwrap()
                .body,
            format!(
                r#"{{"jsonrpc":"2.0","id":7,"result":{{"content":[{{"type":"text","text":"Unknown tool: x"}}],"isError":true,"resultType":"complete","_meta":{meta}}}}}"#
            )
        );
        assert_eq!(
            reply(Style::new(DenyAs::JsonRpcError, None), &d)
                .unwrap()
                .body,
            format!(
                r#"{{"jsonrpc":"2.0","id":7,"error":{{"code":-32060,"message":"Unknown tool: x","data":{meta}}}}}"#
            )
        );
    }

    #[test]
    fn a_batch_answers_a_hidden_element_as_an_unlisted_one() {
        let batch = |first: Decision| {
            let mut allowed = Decision::new(Verdict::Allow);
            allowed.method = Some("tools/call".into());
            allowed.tool = Some("echo".into());
            allowed.id = Some(Json::Num(crate::json::Num::U(8)));
            let mut b = Decision::new(Verdict::Deny);
            b.elements = vec![first, allowed];
            b
        };
        for style in styles() {
            let hidden = reply(style, &batch(denied("x", "/hide/0", "hidden"))).unwrap();
            let unlisted = reply(style, &batch(denied("x", "/default", "not listed"))).unwrap();
            assert_eq!(hidden, unlisted, "{style:?}");
            assert!(hidden.body.contains("not executed"), "{}", hidden.body);
        }
    }

    #[test]
    fn other_denials_keep_their_rule_and_reason() {
        let d = denied("x", "/tools/x/action", "Deleting needs a ticket");
        let r = reply(Style::new(DenyAs::ToolError, None), &d).unwrap();
        assert!(r
            .body
            .contains("Denied by policy: Deleting needs a ticket (x was not run)."));
        assert!(
            r.body.contains("\"rule\":\"/tools/x/action\""),
            "{}",
            r.body
        );
        // `/default` is the unknown-tool rule only for a denied tools/call.
        let mut allowed = denied("x", "/default", "allowed by default");
        allowed.decision = Verdict::Allow;
        assert!(!allowed.unknown_tool());
        assert!(reply(Style::new(DenyAs::ToolError, None), &allowed).is_none());
        // A tool whose name starts like the pointer is not hidden by it.
        assert!(!denied("x", "/hidey", "r").unknown_tool());
    }
}
