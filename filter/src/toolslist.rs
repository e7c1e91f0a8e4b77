//! Tool lists in responses, cut down to what the caller may call.
//!
//! Owns: removing from every tool list a response carries each tool the
//! caller's policy hides, leaves unlisted under `default: deny`, or denies
//! unconditionally (`Policy::lists`), and every tool at all for a caller
//! with no policy. A tool list is any JSON-RPC response whose `result.tools`
//! is an array, whatever its id: ids are the client's to choose, a server may
//! round one (a JavaScript server keeps doubles) or deliver the answer to
//! one request on another request's stream, and a resumed stream replays
//! answers given long ago. Everything else in the message (pagination
//! cursors, `_meta`, other messages of a batch) is kept. A tool without a
//! string name is removed: what cannot be judged is not shown.
//!
//! Does not own: finding the messages in a response (`stream`, `sse`).

use crate::json::{self, spans, Json};
use crate::policy::Policy;
use std::ops::Range;

/// Whether a message may hold a tool list, a cheap test before parsing: it
/// names `"tools"` plainly, or holds a `\u` escape (a reader decodes
/// `"tool\u0073"` to the same key). Servers rarely write either otherwise.
pub fn may_hold_list(text: &[u8]) -> bool {
    let mut at = 0usize;
    loop {
        // The next quote or backslash, eight bytes at a time.
        let (stop, _) = crate::json::plain_run_from(text, at);
        let Some(&b) = text.get(stop) else {
            return false;
        };
        let next = text.get(stop.saturating_add(1)..).unwrap_or_default();
        if (b == b'"' && next.starts_with(b"tools\""))
            || (b == b'\\' && next.first() == Some(&b'u'))
        {
            return true;
        }
        at = stop.saturating_add(1);
    }
}

/// A message that may hold a tool list but is not strict JSON: it is
/// withheld, never passed uncut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

/// The message (or batch) `text` with every tool list cut to `policy`:
/// `Ok(None)` when nothing in it changes. Only the lists are rewritten;
/// every other byte, and every kept tool, stays as the server wrote it.
pub fn cut(text: &[u8], policy: Option<&Policy>) -> Result<Option<Vec<u8>>, Unreadable> {
    if !may_hold_list(text) {
        return Ok(None);
    }
    // Strict first: the spans below are only read over accepted text.
    json::parse(text).map_err(|_| Unreadable)?;
    let at = spans::skip_ws(text, 0);
    let messages: Vec<usize> = match text.get(at) {
        Some(b'[') => spans::elements(text, at)
            .ok_or(Unreadable)?
            .into_iter()
            .map(|m| m.start)
            .collect(),
        _ => vec![at],
    };
    let mut edits: Vec<Edit> = Vec::new();
    for message in messages {
        if let Some(edit) = cut_message(text, message, policy)? {
            edits.push(edit);
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut done = 0usize;
    for (range, replacement) in edits {
        out.extend_from_slice(text.get(done..range.start).unwrap_or_default());
        out.extend_from_slice(&replacement);
        done = range.end;
    }
    out.extend_from_slice(text.get(done..).unwrap_or_default());
    Ok(Some(out))
}

/// A range of the text and what replaces it.
type Edit = (Range<usize>, Vec<u8>);

/// The message at `at`: its `result.tools` range and the list that
/// replaces it, when a tool goes.
fn cut_message(
    text: &[u8],
    at: usize,
    policy: Option<&Policy>,
) -> Result<Option<Edit>, Unreadable> {
    // Where `result` and its `tools` start, without reading past them; the
    // list itself is read once, for its elements and its end.
    let opens = |at: &usize, open: u8| text.get(*at) == Some(&open);
    let Some(result) = spans::member_start(text, at, "result").filter(|r| opens(r, b'{')) else {
        return Ok(None);
    };
    let Some(tools_start) = spans::member_start(text, result, "tools").filter(|r| opens(r, b'['))
    else {
        return Ok(None);
    };
    let (items, tools_end) = spans::array(text, tools_start).ok_or(Unreadable)?;
    let tools = tools_start..tools_end;
    let before = items.len();
    let kept: Vec<&[u8]> = items
        .into_iter()
        .filter(|tool| {
            let name = spans::member(text, tool.start, "name")
                .and_then(|r| json::parse(text.get(r)?).ok());
            let name = name.as_ref().and_then(Json::as_str);
            matches!((name, policy), (Some(n), Some(p)) if p.lists(n))
        })
        .filter_map(|tool| text.get(tool))
        .collect();
    if kept.len() == before {
        return Ok(None);
    }
    let mut list = Vec::with_capacity(tools.len());
    list.push(b'[');
    for (i, tool) in kept.into_iter().enumerate() {
        if i > 0 {
            list.push(b',');
        }
        list.extend_from_slice(tool);
    }
    list.push(b']');
    Ok(Some((tools, list)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{Loc, Report};
    use crate::json::parse_owned;

    fn policy(text: &str) -> Policy {
        let v = parse_owned(text).unwrap();
        crate::policy::read_policy(
            &v,
            &Loc::root().as_policy_root(),
            "",
            &mut Report::default(),
        )
        .unwrap()
    }

    fn names(text: &[u8]) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    const LIST: &str = r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[
        {"name":"echo","inputSchema":{"type":"object"}},{"name":"delete_repository"},{"name":"drop"},{"nome":"x"}],
        "nextCursor":"page-2","_meta":{"k":1}}}"#;

    #[test]
    fn removes_what_the_caller_may_never_call_and_keeps_the_rest() {
        let p = policy(
            r#"{"version":"1","default":"allow","hide":["delete_repository"],"tools":{"drop":{"action":"deny"}}}"#,
        );
        let out = cut(LIST.as_bytes(), Some(&p)).unwrap().unwrap();
        assert_eq!(names(&out), ["echo"]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["result"]["nextCursor"], "page-2");
        assert_eq!(v["result"]["_meta"]["k"], 1);
        assert_eq!(v["result"]["tools"][0]["inputSchema"]["type"], "object");
    }

    #[test]
    fn default_deny_lists_only_listed_tools_and_no_policy_lists_nothing() {
        let p = policy(r#"{"version":"1","default":"deny","tools":{"echo":{},"drop":{}}}"#);
        assert_eq!(
            names(&cut(LIST.as_bytes(), Some(&p)).unwrap().unwrap()),
            ["echo", "drop"]
        );
        assert!(names(&cut(LIST.as_bytes(), None).unwrap().unwrap()).is_empty());
    }

    #[test]
    fn any_id_and_any_message_of_a_batch() {
        let open = policy(r#"{"version":"1","tools":{}}"#);
        let clean = r#"{"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"echo"}]}}"#;
        assert_eq!(cut(clean.as_bytes(), Some(&open)), Ok(None));
        // An id the filter never saw (a rounded one, another request's).
        let rounded = LIST.replace("\"id\":3", "\"id\":9007199254740992");
        assert!(names(&cut(rounded.as_bytes(), None).unwrap().unwrap()).is_empty());
        let batch = format!(r#"[{{"jsonrpc":"2.0","id":1,"result":{{}}}},{LIST}]"#);
        let out = cut(batch.as_bytes(), None).unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["id"], 1);
        assert_eq!(v[1]["result"]["tools"], serde_json::json!([]));
    }

    #[test]
    fn what_cannot_be_read_is_withheld_and_the_rest_untouched() {
        assert_eq!(
            cut(br#"{"result":{"tools":[{"name":"x"}]},"a":NaN}"#, None),
            Err(Unreadable)
        );
        // A tool's result that quotes the word is read, and left as it is.
        let echo = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"\"tools\": []"}]}}"#;
        assert_eq!(cut(echo, None), Ok(None));
        assert_eq!(cut(b"not json, no list", None), Ok(None));
        // A key spelled with an escape is the same key to a reader.
        let escaped = br#"{"jsonrpc":"2.0","id":1,"result":{"tool\u0073":[{"name":"x"}]}}"#;
        let out = cut(escaped, None).unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("\"x\""));
    }
    #[test]
    fn kept_bytes_stay_as_the_server_wrote_them() {
        let p = policy(r#"{"version":"1","default":"allow","hide":["b"],"tools":{}}"#);
        let text = br#"{"id":1.50, "result" : {"tools" : [ {"name":"a","x":1E2,"d":"\u00e9"} , {"name":"b"} ],"n":2.0}}"#;
        let out = cut(text, Some(&p)).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":1.50, "result" : {"tools" : [{"name":"a","x":1E2,"d":"\u00e9"}],"n":2.0}}"#
        );
    }
}
