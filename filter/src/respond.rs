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
//! Does not own: deciding (`judge`).

use crate::config::DenyAs;
use crate::decision::{codes, Decision, Verdict};
use crate::json::Json;
use serde::Serialize;

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
}

impl Style {
    /// The style for a request whose `MCP-Protocol-Version` header is
    /// `version` (dated revisions compare as text).
    pub fn new(deny_as: DenyAs, version: Option<&str>) -> Style {
        Style {
            deny_as,
            modern: version.is_some_and(|v| v.trim() >= "2026-07-28"),
        }
    }
}

/// The reply to a blocked request; `None` when it is allowed.
pub fn reply(style: Style, decision: &Decision) -> Option<Reply> {
    if !decision.decision.blocks() {
        return None;
    }
    if decision.decision == Verdict::Invalid {
        return Some(Reply {
            status: invalid_status(decision.code),
            body: to_text(&error_response(decision, &decision.reason)),
        });
    }
    let body = if decision.elements.is_empty() {
        to_text(&denial(style, decision))
    } else {
        let responses: Vec<Response<'_>> = decision
            .elements
            .iter()
            // Requests only: a client's responses (to sampling, elicitation)
            // and notifications are not answered.
            .filter(|e| e.id.is_some() && e.method.is_some())
            .map(|e| {
                if e.decision.blocks() {
                    denial(style, e)
                } else {
                    error_response(e, "not executed: batch contained a denied call")
                }
            })
            .collect();
        to_text(&responses)
    };
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
    match d.decision {
        Verdict::RateLimited => {
            let retry = d
                .retry_after_ms
                .map(|ms| format!(" Retry in {} s.", ms.saturating_add(999) / 1000))
                .unwrap_or_default();
            format!("Rate limited by policy: {} ({tool} was not run).{retry}", d.reason)
        }
        Verdict::ApprovalPending => format!(
            "Approval pending: {} ({tool} was not run). A human must approve this exact call; retry the same call later.",
            d.reason
        ),
        _ => format!("Denied by policy: {} ({tool} was not run).", d.reason),
    }
}

fn denial(style: Style, d: &Decision) -> Response<'_> {
    let text = agent_text(d);
    match style.deny_as {
        DenyAs::ToolError => Response {
            jsonrpc: "2.0",
            id: Id::of(d),
            result: Some(ToolResult {
                content: [Content { kind: "text", text }],
                is_error: true,
                result_type: style.modern.then_some("complete"),
                meta: Meta::of(d),
            }),
            error: None,
        },
        DenyAs::JsonRpcError => error_response(d, &text),
    }
}

fn error_response<'d>(d: &'d Decision, message: &str) -> Response<'d> {
    Response {
        jsonrpc: "2.0",
        id: Id::of(d),
        result: None,
        error: Some(RpcError {
            code: if d.decision.blocks() {
                d.code
            } else {
                codes::NOT_EXECUTED
            },
            message: message.to_owned(),
            data: Meta::of(d),
        }),
    }
}

fn to_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[derive(Serialize)]
struct Response<'d> {
    jsonrpc: &'static str,
    id: Id<'d>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ToolResult<'d>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<RpcError<'d>>,
}

/// The id to echo: as the request spelled it when known.
#[derive(Serialize)]
#[serde(untagged)]
enum Id<'d> {
    Raw(&'d serde_json::value::RawValue),
    Parsed(&'d Json<'static>),
}

impl<'d> Id<'d> {
    fn of(d: &'d Decision) -> Id<'d> {
        let raw = d
            .raw_id
            .as_deref()
            .and_then(|r| serde_json::from_str::<&serde_json::value::RawValue>(r).ok());
        match raw {
            Some(r) => Id::Raw(r),
            None => Id::Parsed(d.id.as_ref().unwrap_or(&Json::Null)),
        }
    }
}

#[derive(Serialize)]
struct ToolResult<'d> {
    content: [Content; 1],
    #[serde(rename = "isError")]
    is_error: bool,
    /// Required from 2026-07-28 on: this result is final.
    #[serde(rename = "resultType", skip_serializing_if = "Option::is_none")]
    result_type: Option<&'static str>,
    #[serde(rename = "_meta")]
    meta: Meta<'d>,
}

#[derive(Serialize)]
struct Content {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
}

#[derive(Serialize)]
struct RpcError<'d> {
    code: i32,
    message: String,
    data: Meta<'d>,
}

/// The machine-readable fields of a refusal.
#[derive(Serialize)]
struct Meta<'d> {
    decision: &'static str,
    code: i32,
    rule: &'d str,
    reason: &'d str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl<'d> Meta<'d> {
    fn of(d: &'d Decision) -> Meta<'d> {
        let (decision, code) = if d.decision.blocks() {
            (d.decision.label(), d.code)
        } else {
            ("not_executed", codes::NOT_EXECUTED)
        };
        Meta {
            decision,
            code,
            rule: &d.rule,
            reason: &d.reason,
            retry_after_ms: d.retry_after_ms,
        }
    }
}
