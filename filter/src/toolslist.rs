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

use crate::json::scan::{self, Mark, Visit, TOP, UNMARKED};
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
        // (The first byte alone, before comparing six: most keys differ there.)
        if (b == b'"' && next.first() == Some(&b't') && next.starts_with(b"tools\""))
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
///
/// One pass (`json::scan`) checks the text as strictly as `json::parse`
/// and, as it goes, finds each list and each tool's name, judges the tool
/// and notes where the kept ones sit; nothing else is built or decoded.
pub fn cut(text: &[u8], policy: Option<&Policy>) -> Result<Option<Vec<u8>>, Unreadable> {
    if !may_hold_list(text) {
        return Ok(None);
    }
    let mut found = Lists {
        text,
        policy,
        lists: Vec::new(),
        kept: Vec::with_capacity(16),
        tool: 0,
        name: None,
    };
    scan::scan(text, &mut found).map_err(|_| Unreadable)?;
    let Lists { lists, kept, .. } = found;
    let mut out: Option<Vec<u8>> = None;
    let mut done = 0usize;
    for (i, list) in lists.iter().enumerate() {
        if !list.cut {
            continue;
        }
        let last = lists
            .get(i.saturating_add(1))
            .map_or(kept.len(), |l| l.first);
        let out = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
        out.extend_from_slice(text.get(done..list.range.start).unwrap_or_default());
        out.push(b'[');
        for (j, tool) in kept
            .get(list.first..last)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(text.get(tool.clone()).unwrap_or_default());
        }
        out.push(b']');
        done = list.range.end;
    }
    Ok(out.map(|mut out| {
        out.extend_from_slice(text.get(done..).unwrap_or_default());
        out
    }))
}

/// What the values `Lists` follows are: the path from the document to a
/// tool's name, `[ message ]` or `message`, then `result` (an object),
/// `tools` (an array), each element, its `name` (a string).
const BATCH: Mark = 1;
const MESSAGE: Mark = 2;
const RESULT: Mark = 3;
const TOOLS: Mark = 4;
const TOOL: Mark = 5;
const NAME: Mark = 6;

/// The tool lists of a message, judged while the text is checked.
struct Lists<'t, 'p> {
    text: &'t [u8],
    policy: Option<&'p Policy>,
    lists: Vec<List>,
    /// The tools kept, of every list in document order (only these: a list
    /// of many tools the caller may not see costs no memory).
    kept: Vec<Range<usize>>,
    /// Where the tool being read starts, and its `name` when that is a
    /// string (with its quotes).
    tool: usize,
    name: Option<Range<usize>>,
}

/// A `result.tools` array: its range, its first kept tool (in
/// `Lists::kept`), and whether a tool of it goes.
struct List {
    range: Range<usize>,
    first: usize,
    cut: bool,
}

/// Whether `key` is `word` (a fixed-size compare, no call).
fn is<const N: usize>(key: &[u8], word: &[u8; N]) -> bool {
    <&[u8; N]>::try_from(key).is_ok_and(|k| k == word)
}

impl Visit for Lists<'_, '_> {
    fn enter(&mut self, parent: Mark, key: Option<&[u8]>, at: usize, first: u8) -> Mark {
        match (parent, key, first) {
            (TOP, _, b'[') => BATCH,
            (TOP | BATCH, _, b'{') => MESSAGE,
            (MESSAGE, Some(k), b'{') if is(k, b"result") => RESULT,
            (RESULT, Some(k), b'[') if is(k, b"tools") => {
                self.lists.push(List {
                    range: at..at,
                    first: self.kept.len(),
                    cut: false,
                });
                TOOLS
            }
            (TOOLS, None, _) => {
                self.tool = at;
                self.name = None;
                TOOL
            }
            (TOOL, Some(k), b'"') if is(k, b"name") => {
                self.name = Some(at..at);
                NAME
            }
            _ => UNMARKED,
        }
    }

    // Called for a few values only: kept out of the scan's loop (inlined,
    // the loop would find the last list at every value).
    #[inline(never)]
    fn leave(&mut self, mark: Mark, end: usize) {
        match mark {
            TOOLS => {
                if let Some(list) = self.lists.last_mut() {
                    list.range.end = end;
                }
            }
            NAME => {
                if let Some(name) = &mut self.name {
                    name.end = end;
                }
            }
            TOOL => {
                // What cannot be judged (no string name) is not shown.
                let name = self.name.take().and_then(|r| scan::decode(self.text, r));
                if matches!((name, self.policy), (Some(n), Some(p)) if p.lists(&n)) {
                    self.kept.push(self.tool..end);
                } else if let Some(list) = self.lists.last_mut() {
                    list.cut = true;
                }
            }
            _ => {}
        }
    }
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

    #[test]
    fn names_are_read_as_a_reader_reads_them() {
        let p = policy(r#"{"version":"1","default":"allow","hide":["b","é"],"tools":{}}"#);
        // Escaped, not ASCII, not a string, no name, not an object.
        let text = r#"{"result":{"tools":[{"name":"\u0062"},{"name":"a\u0062"},{"name":"é"},
            {"name":"\u00e9"},{"name":1},{"nom":"a"},"a",null,[{"name":"a"}],{"x":{"name":"a"},"name":"c"}]}}"#;
        let out = cut(text.as_bytes(), Some(&p)).unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["result"]["tools"],
            serde_json::json!([{"name":"ab"},{"x":{"name":"a"},"name":"c"}])
        );
    }

    #[test]
    fn only_result_tools_is_a_list() {
        // `tools` elsewhere (in a result's content, at the top, under
        // `params`, as an object) is the message's own business.
        for text in [
            r#"{"result":{"content":[{"tools":[{"name":"b"}]}]}}"#,
            r#"{"tools":[{"name":"b"}],"result":{}}"#,
            r#"{"params":{"tools":[{"name":"b"}]}}"#,
            r#"{"result":{"tools":{"name":"b"}}}"#,
            r#"{"result":[{"tools":[{"name":"b"}]}]}"#,
            r#"[[{"result":{"tools":[{"name":"b"}]}}]]"#,
            r#"{"Result":{"tools":[{"name":"b"}]}}"#,
        ] {
            assert_eq!(cut(text.as_bytes(), None), Ok(None), "{text}");
        }
    }

    #[test]
    fn every_list_of_a_batch_is_cut() {
        let p = policy(r#"{"version":"1","default":"allow","hide":["b"],"tools":{}}"#);
        let text = br#"[{"id":1,"result":{"tools":[{"name":"a"},{"name":"b"}]}},{"id":2,"result":{"tools":[]}},
            {"id":3,"result":{"tools":[{"name":"b"}],"nextCursor":"c"}},{"id":4,"result":{"tools":[{"name":"a"}]}}]"#;
        let out = cut(text, Some(&p)).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"[{"id":1,"result":{"tools":[{"name":"a"}]}},{"id":2,"result":{"tools":[]}},
            {"id":3,"result":{"tools":[],"nextCursor":"c"}},{"id":4,"result":{"tools":[{"name":"a"}]}}]"#
        );
    }

    #[test]
    fn lists_the_strict_reader_refuses_are_withheld() {
        for bad in [
            // Keys one key to a Go server, in a tool and in the result.
            &br#"{"result":{"tools":[{"name":"a","NAME":"b"}]}}"#[..],
            br#"{"result":{"tools":[{"name":"a"}],"Tools":[]}}"#,
            br#"{"result":{"tools":[{"name":"a","n\u0061me":"b"}]}}"#,
            br#"{"result":{"tools":[{"name":"\ud800"}]}}"#,
            b"{\"result\":{\"tools\":[{\"name\":\"\xff\"}]}}",
            br#"{"result":{"tools":[{"name":"a"}]},"n":1e400}"#,
            br#"{"result":{"tools":[{"name":"a"},]}}"#,
            br#"{"result":{"tools":[{"name":"a"}]}}{}"#,
        ] {
            assert_eq!(
                cut(bad, None),
                Err(Unreadable),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(crate::json::parse(bad).is_err());
        }
    }
}
