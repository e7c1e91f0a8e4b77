//! MCP over JSON-RPC 2.0: what a request body says, read strictly.
//!
//! Owns: telling a single message from a batch; requests, notifications and
//! responses apart; the name and arguments of a `tools/call`; and the reason a
//! body is refused, with the JSON-RPC error code for it. Strict because the
//! filter and the MCP server must never read one body two ways: duplicate
//! keys, trailing data, unknown members and malformed envelopes are invalid.
//!
//! Does not own: HTTP (paths, headers, encodings are the host's), or judging
//! (`judge`).

use crate::decision::codes;
use crate::json::write::quote;
use crate::json::{self, Json, Object};
use std::borrow::Cow;

/// A request body: one message or a batch (2025-03-26).
#[derive(Debug)]
pub enum Body<'a> {
    Single(Message<'a>),
    Batch(Vec<Message<'a>>),
}

impl<'a> Body<'a> {
    pub fn messages(&self) -> &[Message<'a>] {
        match self {
            Body::Single(m) => std::slice::from_ref(m),
            Body::Batch(ms) => ms,
        }
    }

    pub fn is_batch(&self) -> bool {
        matches!(self, Body::Batch(_))
    }
}

/// One JSON-RPC message.
#[derive(Debug)]
pub struct Message<'a> {
    /// `None` for a notification.
    pub id: Option<Json<'a>>,
    pub kind: Kind<'a>,
}

#[derive(Debug)]
pub enum Kind<'a> {
    /// A `tools/call` request.
    ToolCall(ToolCall<'a>),
    /// Any other request or notification. `name` is the parameter the
    /// 2026-07-28 `Mcp-Name` header mirrors: `params.name` of
    /// `prompts/get`, `params.uri` of `resources/read`.
    Other {
        method: Cow<'a, str>,
        name: Option<Cow<'a, str>>,
    },
    /// A response the client sends to a server request (sampling, elicitation).
    Response,
}

impl Message<'_> {
    /// The value the `Mcp-Name` header must carry for this message, if any.
    pub fn routing_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::ToolCall(call) => Some(&call.name),
            Kind::Other { name, .. } => name.as_deref(),
            Kind::Response => None,
        }
    }

    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::ToolCall(_) => Some(TOOLS_CALL),
            Kind::Other { method, .. } => Some(method),
            Kind::Response => None,
        }
    }
}

#[derive(Debug)]
pub struct ToolCall<'a> {
    pub name: Cow<'a, str>,
    pub arguments: Option<Object<'a>>,
    /// A 2026-07-28 request that declares (in its `_meta` envelope) a client
    /// able to open a URL elicitation: `clientCapabilities.elicitation.url`.
    pub elicits_url: bool,
}

/// The `_meta` key of a 2026-07-28 request's client capabilities.
const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

pub const TOOLS_CALL: &str = "tools/call";
pub const TOOLS_LIST: &str = "tools/list";

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// A JSON-RPC error code (`decision::codes`).
    pub code: i32,
    pub message: String,
    /// The request's id, when it could be read.
    pub id: Option<Json<'static>>,
}

impl Refusal {
    fn new(code: i32, message: impl Into<String>, id: Option<&Json<'_>>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            id: id.map(|i| i.clone().into_owned()),
        }
    }
}

/// Reads a request body as JSON-RPC.
pub fn parse(bytes: &[u8]) -> Result<Body<'_>, Refusal> {
    let value = json::parse(bytes)
        .map_err(|e| Refusal::new(codes::PARSE_ERROR, format!("Parse error: {e}"), None))?;
    match value {
        Json::Arr(items) => {
            if items.is_empty() {
                return Err(Refusal::new(
                    codes::INVALID_REQUEST,
                    "Invalid Request: empty batch",
                    None,
                ));
            }
            let mut messages = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let message = message(item).map_err(|mut r| {
                    r.message = format!("batch element {i}: {}", r.message);
                    r
                })?;
                messages.push(message);
            }
            if let Some(id) = repeated_request_id(&messages) {
                return Err(Refusal::new(
                    codes::INVALID_REQUEST,
                    format!(
                        "Invalid Request: two requests of the batch have the id {}",
                        id.to_text()
                    ),
                    None,
                ));
            }
            Ok(Body::Batch(messages))
        }
        other => message(other).map(Body::Single),
    }
}

/// An id two requests of one batch share. Refused: the server's answers
/// are matched to calls by id, and an error answering the other request
/// would read as the call's failure and give its quota back. Numbers are
/// compared as the doubles a JavaScript server keeps (so `7`, `7.0` and
/// `7e0` are one id). Sorted, so a batch of many requests stays cheap.
fn repeated_request_id<'m, 'a>(messages: &'m [Message<'a>]) -> Option<&'m Json<'a>> {
    // (key, index) pairs sorted like `json`'s duplicate keys, one sort for both.
    let mut keys: Vec<(String, usize)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let key = match (&message.kind, &message.id) {
            (Kind::Response, _) | (_, None) => continue,
            // `+ 0.0` makes -0 and 0 one id.
            (_, Some(Json::Num(n))) => format!("n{:016x}", (n.as_f64() + 0.0).to_bits()),
            (_, Some(Json::Str(s))) => format!("s{s}"),
            (_, Some(_)) => continue,
        };
        keys.push((key, i));
    }
    crate::sort::sort(&mut keys);
    let pair = keys.windows(2).find_map(|w| match w {
        [a, b] if a.0 == b.0 => Some(b.1),
        _ => None,
    })?;
    messages.get(pair).and_then(|m| m.id.as_ref())
}

/// The `id` of each message exactly as the body spells it (`1.50`, `"\u0041"`),
/// in order, so a reply can echo it byte for byte. Only called for replies.
pub fn raw_ids(bytes: &[u8]) -> Vec<Option<String>> {
    use crate::json::spans;
    let id_at = |at: usize| {
        let range = spans::member(bytes, at, "id")?;
        std::str::from_utf8(bytes.get(range)?)
            .ok()
            .map(str::to_owned)
    };
    let at = spans::skip_ws(bytes, 0);
    match bytes.get(at) {
        Some(b'[') => spans::elements(bytes, at)
            .map(|all| all.into_iter().map(|e| id_at(e.start)).collect())
            .unwrap_or_default(),
        _ => vec![id_at(at)],
    }
}

/// The arguments of a single `tools/call` as the body spells them (compact:
/// whitespace outside strings removed), `{}` when it has none; `None` for
/// a batch or a body that is not one such call. Over text `parse` accepted.
pub fn raw_arguments(bytes: &[u8]) -> Option<String> {
    use crate::json::spans;
    let at = spans::skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let params = spans::member(bytes, at, "params")?;
    match spans::member(bytes, params.start, "arguments") {
        Some(r) if bytes.get(r.start) == Some(&b'{') => spans::compact(bytes.get(r)?),
        Some(r) if bytes.get(r.clone()) == Some(b"null") => Some("{}".into()),
        Some(_) => None,
        None => Some("{}".into()),
    }
}

/// Checks the 2026-07-28 routing headers against the body they travel with:
/// `Mcp-Method` must be the message's method, and `Mcp-Name` (Base64 inside
/// `=?base64?...?=` when it is not plain ASCII) the tool name, prompt name or
/// resource URI. A proxy or server that routes on the headers must never see
/// a different call than the one judged.
pub fn check_routing_headers(
    body: &Body<'_>,
    method: Option<&str>,
    name: Option<&str>,
) -> Result<(), Refusal> {
    if method.is_none() && name.is_none() {
        return Ok(());
    }
    let mismatch =
        |what: String, id: Option<&Json<'_>>| Err(Refusal::new(codes::HEADER_MISMATCH, what, id));
    let Body::Single(message) = body else {
        return mismatch(
            "Header mismatch: Mcp-Method / Mcp-Name headers cannot describe a batch".into(),
            None,
        );
    };
    let id = message.id.as_ref();
    if let Some(header) = method {
        if message.method() != Some(header.trim()) {
            return mismatch(
                format!(
                    "Header mismatch: Mcp-Method {} does not match the body's method",
                    quote(header.trim())
                ),
                id,
            );
        }
    }
    if let Some(header) = name {
        let decoded = decode_header_value(header.trim());
        if decoded.is_none() || decoded.as_deref() != message.routing_name() {
            return mismatch(
                "Header mismatch: Mcp-Name does not match the body".into(),
                id,
            );
        }
    }
    Ok(())
}

/// An `Mcp-Name` value: verbatim, or the UTF-8 text inside
/// `=?base64?<canonical base64>?=`; `None` when the sentinel is malformed.
pub fn decode_header_value(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_owned());
    };
    let bytes = base64_decode(payload)?;
    String::from_utf8(bytes).ok()
}

/// Strict, canonical standard Base64 (padding required, no stray bits).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c.checked_sub(b'A')?,
            b'a'..=b'z' => c.checked_sub(b'a')?.checked_add(26)?,
            b'0'..=b'9' => c.checked_sub(b'0')?.checked_add(52)?,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let chunks = bytes.chunks_exact(4);
    let count = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        let last = i.saturating_add(1) == count;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut word = 0u32;
        for (j, &c) in chunk.iter().enumerate() {
            let v = if j >= 4usize.saturating_sub(pad) {
                0
            } else {
                sextet(c)?
            };
            word = (word << 6) | v;
        }
        let [_, a, b, c] = word.to_be_bytes();
        out.push(a);
        match pad {
            0 => out.extend_from_slice(&[b, c]),
            1 if c == 0 => out.push(b),
            2 if b == 0 && c == 0 => {}
            _ => return None, // non-canonical: stray bits under the padding
        }
    }
    Some(out)
}

/// What the first characters of a body say about whether some server's
/// reader could take it for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// It opens an object or an array: read it.
    MaybeJson,
    /// No reader takes it for a JSON object or array (a form, plain text).
    NotJson,
    /// Only skippable characters so far.
    Undecided,
}

/// Whether a body might be JSON (and so JSON-RPC) to some server's reader.
/// Skipped first: whitespace as any reader counts it (every ASCII control
/// character and space; NUL and byte-order-mark bytes, as UTF-16 and UTF-32
/// text has; Unicode spaces and line separators), the comments lenient
/// readers allow (`//` and `#` to the end of the line, `/* */`), and the
/// `)]}'` prefix Gson's lenient reader drops. Then `{` or `[` might be JSON,
/// anything else is not.
pub fn sniff(bytes: &[u8]) -> Sniff {
    let mut i = 0usize;
    loop {
        let rest = bytes.get(i..).unwrap_or_default();
        let Some(&b) = rest.first() else {
            return Sniff::Undecided;
        };
        let skip = match b {
            b'{' | b'[' => return Sniff::MaybeJson,
            0..=0x20 | 0x7f | 0xEF | 0xBB | 0xBF | 0xFE | 0xFF => 1,
            0xC2 | 0xE1 | 0xE2 | 0xE3 => match unicode_space(rest) {
                Some(len) => len,
                None if rest.len() < 3 => return Sniff::Undecided,
                None => return Sniff::NotJson,
            },
            b'/' => match rest.get(1) {
                Some(b'/') => match line_end(rest) {
                    Some(len) => len,
                    None => return Sniff::Undecided,
                },
                Some(b'*') => match find(rest.get(2..).unwrap_or_default(), b"*/") {
                    Some(at) => at.saturating_add(4),
                    None => return Sniff::Undecided,
                },
                None => return Sniff::Undecided,
                Some(_) => return Sniff::NotJson,
            },
            b'#' => match line_end(rest) {
                Some(len) => len,
                None => return Sniff::Undecided,
            },
            b')' => {
                const XSSI: &[u8] = b")]}'";
                if rest.starts_with(XSSI) {
                    XSSI.len()
                } else if XSSI.starts_with(rest) {
                    return Sniff::Undecided;
                } else {
                    return Sniff::NotJson;
                }
            }
            _ => return Sniff::NotJson,
        };
        i = i.saturating_add(skip);
    }
}

/// The length of a Unicode space or line separator in UTF-8 at the start.
fn unicode_space(rest: &[u8]) -> Option<usize> {
    match rest {
        [0xC2, 0xA0 | 0x85, ..] => Some(2),
        [0xE1, 0x9A, 0x80, ..] | [0xE3, 0x80, 0x80, ..] | [0xE2, 0x81, 0x9F, ..] => Some(3),
        [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..] => Some(3),
        _ => None,
    }
}

/// The length up to and including the first line break.
fn line_end(rest: &[u8]) -> Option<usize> {
    rest.iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map(|at| at.saturating_add(1))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether a whole body might be JSON to some reader (see [`sniff`]).
pub fn could_be_json(bytes: &[u8]) -> bool {
    sniff(bytes) == Sniff::MaybeJson
}

/// The first byte that is not JSON whitespace.
pub fn first_significant(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// True when a strictly valid JSON value is shaped like JSON-RPC at all: an
/// object with a `jsonrpc` member, or a `method` member naming a namespaced
/// method (`tools/call`), or an array holding one. Member names compare
/// without regard to case, as servers written in Go match them. Other JSON (an
/// application's own API, `{"method": "card"}`) passes off the MCP paths.
pub fn is_jsonrpc_shaped(value: &Json<'_>) -> bool {
    let object_is = |v: &Json<'_>| {
        v.as_object().is_some_and(|o| {
            o.0.iter().any(|(k, v)| {
                json::same_key(k, "jsonrpc")
                    || (json::same_key(k, "method") && v.as_str().is_some_and(|m| m.contains('/')))
            })
        })
    };
    match value {
        Json::Arr(items) => items.iter().any(object_is),
        other => object_is(other),
    }
}

fn message(value: Json<'_>) -> Result<Message<'_>, Refusal> {
    let Json::Obj(obj) = value else {
        return Err(Refusal::new(
            codes::INVALID_REQUEST,
            format!(
                "Invalid Request: a JSON-RPC message is an object, got {}",
                value.kind()
            ),
            None,
        ));
    };
    let mut id = None;
    let mut method = None;
    let mut params = None;
    let mut version = None;
    let mut result = false;
    let mut error = false;
    let mut unknown = None;
    for (key, v) in obj.0 {
        match key.as_ref() {
            "jsonrpc" => version = Some(v),
            "id" => id = Some(v),
            "method" => method = Some(v),
            "params" => params = Some(v),
            "result" => result = true,
            "error" => error = true,
            _ => unknown = Some(key),
        }
    }
    let invalid =
        |msg: String, id: Option<&Json<'_>>| Refusal::new(codes::INVALID_REQUEST, msg, id);
    match &id {
        None | Some(Json::Str(_) | Json::Num(_)) => {}
        Some(other) => {
            return Err(invalid(
                format!(
                    "Invalid Request: id must be a string or a number, got {}",
                    other.kind()
                ),
                None,
            ))
        }
    }
    if !matches!(&version, Some(Json::Str(v)) if v == "2.0") {
        return Err(invalid(
            "Invalid Request: \"jsonrpc\" must be \"2.0\"".into(),
            id.as_ref(),
        ));
    }
    if let Some(key) = unknown {
        return Err(invalid(
            format!("Invalid Request: unknown member {}", quote(&key)),
            id.as_ref(),
        ));
    }
    let Some(method) = method else {
        // A response: exactly one of result and error, and an id.
        if id.is_none() || result == error || params.is_some() {
            return Err(invalid(
                "Invalid Request: neither a request (method) nor a response (id with result or error)".into(),
                id.as_ref(),
            ));
        }
        return Ok(Message {
            id,
            kind: Kind::Response,
        });
    };
    let Json::Str(method) = method else {
        return Err(invalid(
            "Invalid Request: method must be a string".into(),
            id.as_ref(),
        ));
    };
    if result || error {
        return Err(invalid(
            "Invalid Request: a request cannot carry result or error".into(),
            id.as_ref(),
        ));
    }
    match &params {
        None | Some(Json::Obj(_) | Json::Arr(_)) => {}
        Some(other) => {
            return Err(invalid(
                format!(
                    "Invalid Request: params must be an object or an array, got {}",
                    other.kind()
                ),
                id.as_ref(),
            ))
        }
    }
    if method != TOOLS_CALL {
        let key = match method.as_ref() {
            "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            _ => None,
        };
        let name = match (key, params) {
            (Some(key), Some(Json::Obj(params))) => params
                .0
                .into_iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| match v {
                    Json::Str(s) => Some(s),
                    _ => None,
                }),
            _ => None,
        };
        return Ok(Message {
            id,
            kind: Kind::Other { method, name },
        });
    }
    if id.is_none() {
        return Err(invalid(
            "Invalid Request: tools/call is a request and needs an id".into(),
            None,
        ));
    }
    let call =
        tool_call(params).map_err(|msg| Refusal::new(codes::INVALID_PARAMS, msg, id.as_ref()))?;
    Ok(Message {
        id,
        kind: Kind::ToolCall(call),
    })
}

fn tool_call(params: Option<Json<'_>>) -> Result<ToolCall<'_>, String> {
    let Some(Json::Obj(params)) = params else {
        return Err("Invalid params: tools/call needs params with a tool name".into());
    };
    let mut name = None;
    let mut arguments = None;
    let mut elicits_url = false;
    for (key, v) in params.0 {
        match key.as_ref() {
            "name" => name = Some(v),
            "arguments" => arguments = Some(v),
            "_meta" => {
                elicits_url = v
                    .get(CLIENT_CAPABILITIES)
                    .and_then(|c| c.get("elicitation"))
                    .and_then(|e| e.get("url"))
                    .is_some_and(|u| matches!(u, Json::Obj(_)));
            }
            // A Go server would read `ARGUMENTS` as `arguments`, and run
            // the call with what the filter took for an unknown member.
            other => {
                if let Some(known) = ["name", "arguments"]
                    .into_iter()
                    .find(|k| json::same_key(other, k))
                {
                    return Err(format!(
                        "Invalid params: {} differs from {} only in case",
                        quote(other),
                        quote(known)
                    ));
                }
            }
        }
    }
    let name = match name {
        Some(Json::Str(n)) if !n.is_empty() => n,
        Some(Json::Str(_)) => return Err("Invalid params: tool name is empty".into()),
        Some(other) => {
            return Err(format!(
                "Invalid params: tool name must be a string, got {}",
                other.kind()
            ))
        }
        None => return Err("Invalid params: tools/call needs a tool name".into()),
    };
    let arguments = match arguments {
        None | Some(Json::Null) => None,
        Some(Json::Obj(o)) => Some(o),
        Some(other) => {
            return Err(format!(
                "Invalid params: arguments must be an object, got {}",
                other.kind()
            ))
        }
    };
    Ok(ToolCall {
        name,
        arguments,
        elicits_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> Refusal {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_a_tool_call() {
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"a","n":1},"_meta":{"progressToken":1}}}"#;
        let Body::Single(m) = parse(body).unwrap() else {
            panic!()
        };
        assert_eq!(m.id, Some(Json::Num(json::Num::U(7))));
        let Kind::ToolCall(call) = m.kind else {
            panic!()
        };
        assert_eq!(call.name, "create_issue");
        assert_eq!(
            call.arguments.unwrap().keys().collect::<Vec<_>>(),
            ["repo", "n"]
        );
    }

    #[test]
    fn escapes_in_names_are_decoded_like_the_server_does() {
        let body = br#"{"jsonrpc":"2.0","id":"a","method":"tools\/c\u0061ll","params":{"n\u0061me":"del\u0065te_repo"}}"#;
        let Body::Single(m) = parse(body).unwrap() else {
            panic!()
        };
        let Kind::ToolCall(call) = m.kind else {
            panic!()
        };
        assert_eq!(call.name, "delete_repo");
    }

    #[test]
    fn reads_notifications_responses_and_batches() {
        let body = br#"[{"jsonrpc":"2.0","method":"notifications/initialized"},
                        {"jsonrpc":"2.0","id":1,"result":{}},
                        {"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}},
                        {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}]"#;
        let Body::Batch(ms) = parse(body).unwrap() else {
            panic!()
        };
        assert_eq!(ms.len(), 4);
        assert!(ms[0].id.is_none());
        assert!(matches!(ms[1].kind, Kind::Response));
        assert_eq!(ms[2].method(), Some("tools/list"));
        assert!(matches!(
            ms[3].kind,
            Kind::ToolCall(ToolCall {
                arguments: None,
                ..
            })
        ));
    }

    #[test]
    fn refuses_malformed_messages_with_codes() {
        let cases = [
            ("{", codes::PARSE_ERROR),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
                codes::PARSE_ERROR,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x"} trailing"#,
                codes::PARSE_ERROR,
            ),
            ("[]", codes::INVALID_REQUEST),
            ("5", codes::INVALID_REQUEST),
            (r#"[5]"#, codes::INVALID_REQUEST),
            (
                r#"{"id":1,"method":"tools/call","params":{"name":"a"}}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","extra":1}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","result":1}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}"#,
                codes::INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, codes::INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}"#,
                codes::INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
                codes::INVALID_PARAMS,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[]}"#,
                codes::INVALID_PARAMS,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
                codes::INVALID_PARAMS,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}"#,
                codes::INVALID_PARAMS,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#,
                codes::INVALID_PARAMS,
            ),
        ];
        for (body, code) in cases {
            assert_eq!(refusal(body).code, code, "{body}");
        }
        // A member a Go server would read as `name` or `arguments`.
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","ARGUMENTS":{"x":1}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"a"}}"#,
        ] {
            assert_eq!(refusal(body).code, codes::INVALID_PARAMS, "{body}");
        }
        // Two requests of a batch with one id: an error answering one would
        // read as the other's failure. Numbers compare as doubles.
        let call = r#"{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"a"}}"#;
        for (a, b) in [("7", "7"), ("7", "7.0"), ("7", "7e0"), (r#""x""#, r#""x""#)] {
            let other = format!(r#"{{"jsonrpc":"2.0","id":{b},"method":"no/such"}}"#);
            let body = format!("[{},{other}]", call.replace("ID", a));
            let r = refusal(&body);
            assert_eq!(r.code, codes::INVALID_REQUEST, "{body}");
            assert!(
                r.message.contains("two requests of the batch"),
                "{}",
                r.message
            );
        }
        // Distinct ids, a string and a number, and a response's id are fine.
        for (a, b) in [("7", "8"), ("7", r#""7""#)] {
            let body = format!(
                r#"[{},{{"jsonrpc":"2.0","id":{b},"method":"x"}},{{"jsonrpc":"2.0","id":7,"result":{{}}}}]"#,
                call.replace("ID", a)
            );
            assert!(parse(body.as_bytes()).is_ok(), "{body}");
        }
        assert_eq!(
            refusal(r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{}}"#).id,
            Some(Json::Str("x".into()))
        );
        assert!(
            refusal(r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0"}]"#)
                .message
                .starts_with("batch element 1")
        );
    }

    #[test]
    fn routing_headers_must_match_the_body() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
        let body = parse(call).unwrap();
        assert!(check_routing_headers(&body, None, None).is_ok());
        assert!(check_routing_headers(&body, Some("tools/call"), Some("echo")).is_ok());
        assert!(
            check_routing_headers(&body, Some("tools/call"), Some("=?base64?ZWNobw==?=")).is_ok()
        );
        for (m, n) in [
            (Some("tools/list"), None),
            (Some("tools/call"), Some("delete_repository")),
            (None, Some("=?base64?ZGVsZXRl?=")),
            (None, Some("=?base64?ZWNobw=?=")),
            (None, Some("=?base64?ZWNobx==?=")),
        ] {
            let r = check_routing_headers(&body, m, n).unwrap_err();
            assert_eq!(
                (r.code, r.id.clone()),
                (codes::HEADER_MISMATCH, Some(Json::Num(json::Num::U(1)))),
                "{m:?} {n:?}"
            );
        }
        let read = parse(
            br#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a b"}}"#,
        )
        .unwrap();
        assert!(check_routing_headers(
            &read,
            Some("resources/read"),
            Some("=?base64?ZmlsZTovLy9hIGI=?=")
        )
        .is_ok());
        assert!(check_routing_headers(&read, None, Some("file:///etc/passwd")).is_err());
        let batch = parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).unwrap();
        assert!(check_routing_headers(&batch, Some("ping"), None).is_err());
        let list = parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert!(check_routing_headers(&list, Some("tools/list"), Some("x")).is_err());
    }

    #[test]
    fn raw_ids_are_kept_as_spelled() {
        assert_eq!(
            raw_ids(br#"{"jsonrpc":"2.0","id":1.50,"method":"x"}"#),
            [Some("1.50".to_owned())]
        );
        assert_eq!(
            raw_ids(br#"[{"id":"A"},{"method":"n"},{"id":18446744073709551616}]"#),
            [
                Some(r#""A""#.to_owned()),
                None,
                Some("18446744073709551616".to_owned())
            ]
        );
        assert_eq!(raw_ids(b"{"), [None]);
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(
            decode_header_value("=?base64?w6ljaG8=?=").as_deref(),
            Some("écho")
        );
        assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
        for bad in ["=?base64?!!!!?=", "=?base64?abc?=", "=?base64?/w==?="] {
            assert_eq!(decode_header_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn what_might_be_json() {
        for yes in [
            &b"{}"[..],
            b"  \n[1]",
            b"\xEF\xBB\xBF{",
            b"\0{\0\"",
            b"\xFF\xFE{\0",
        ] {
            assert!(could_be_json(yes), "{yes:?}");
        }
        for no in [&b"grant_type=client_credentials"[..], b"", b"ok", b"\"s\""] {
            assert!(!could_be_json(no), "{no:?}");
        }
        // What lenient readers skip before a document.
        for lenient in [
            &b"\x0c{\"jsonrpc\":\"2.0\"}"[..],
            b"\x0b[1]",
            b"// note\n{}",
            b"/* a */ /**/{}",
            b"# yaml-ish\r\n[]",
            b")]}'\n{}",
            b"\xC2\xA0{}",
            b"\xE2\x80\xA8\xE3\x80\x80[",
        ] {
            assert!(could_be_json(lenient), "{lenient:?}");
        }
        for (prefix, expected) in [
            (&b"/* unfinished"[..], Sniff::Undecided),
            (b"//", Sniff::Undecided),
            (b")]", Sniff::Undecided),
            (b"\xE2\x80", Sniff::Undecided),
            (b"/x", Sniff::NotJson),
            (b")x", Sniff::NotJson),
            (b"\xE2\x82\xAC{", Sniff::NotJson),
        ] {
            assert_eq!(sniff(prefix), expected, "{prefix:?}");
        }
        let shaped = |t: &str| is_jsonrpc_shaped(&json::parse(t.as_bytes()).unwrap());
        assert!(shaped(r#"{"method":"tools/call"}"#));
        assert!(shaped(r#"{"METHOD":"tools/call"}"#));
        assert!(shaped(r#"{"JsonRpc":"2.0"}"#));
        assert!(shaped(r#"[{"a":1},{"jsonrpc":"2.0"}]"#));
        assert!(!shaped(r#"{"grant_type":"x"}"#));
        assert!(!shaped(r#"{"method":"card","id":5}"#));
    }
}
