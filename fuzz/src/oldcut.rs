//! The tool-list cut as the filter made it before `json::scan`: the whole
//! message read strictly into a tree (`json::parse`), then the lists found
//! with `json::spans`. The `toolslist` target holds `toolslist::cut` to it:
//! the same cut, or both refuse.

use mcp_policy::json::{self, spans, Json};
use mcp_policy::policy::Policy;
use mcp_policy::toolslist::{may_hold_list, Unreadable};
use std::ops::Range;

/// A range of the text and what replaces it.
type Edit = (Range<usize>, Vec<u8>);

/// `Err`: withheld (the message may hold a list but is not strict JSON).
pub fn cut(text: &[u8], policy: Option<&Policy>) -> Result<Option<Vec<u8>>, Unreadable> {
    if !may_hold_list(text) {
        return Ok(None);
    }
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
        out.extend_from_slice(&text[done..range.start]);
        out.extend_from_slice(&replacement);
        done = range.end;
    }
    out.extend_from_slice(&text[done..]);
    Ok(Some(out))
}

fn cut_message(
    text: &[u8],
    at: usize,
    policy: Option<&Policy>,
) -> Result<Option<Edit>, Unreadable> {
    let opens = |at: &usize, open: u8| text.get(*at) == Some(&open);
    let Some(result) = spans::member_start(text, at, "result").filter(|r| opens(r, b'{')) else {
        return Ok(None);
    };
    let Some(tools_start) = spans::member_start(text, result, "tools").filter(|r| opens(r, b'['))
    else {
        return Ok(None);
    };
    let (items, tools_end) = spans::array(text, tools_start).ok_or(Unreadable)?;
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
    let mut list = b"[".to_vec();
    for (i, tool) in kept.into_iter().enumerate() {
        if i > 0 {
            list.push(b',');
        }
        list.extend_from_slice(tool);
    }
    list.push(b']');
    Ok(Some((tools_start..tools_end, list)))
}
