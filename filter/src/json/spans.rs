//! Where values sit in JSON text that `read` has already accepted: byte
//! ranges of an object's members and an array's elements, so that a value
//! can be echoed or cut out exactly as it was written (an id `1.50`, a tool
//! list with every number and escape as the server wrote it).
//!
//! Owns: skipping over values without building them. Checks nothing: give
//! it only text the strict reader accepted. On anything else it stops with
//! `None` (never panics, never loops), and callers treat that as "unknown".
//!
//! Does not own: deciding what is JSON (`read`).

use std::borrow::Cow;
use std::ops::Range;

/// The members of the object at `at` (after whitespace): each key, decoded,
/// and the range of its value.
pub fn members(text: &[u8], at: usize) -> Option<Vec<(Cow<'_, str>, Range<usize>)>> {
    let mut out = Vec::new();
    let mut failed = false;
    each_member(text, at, |key, start| {
        match skip_value(text, start) {
            Some(end) => out.push((key, start..end)),
            None => failed = true,
        }
        failed
    })?;
    (!failed).then_some(out)
}

/// Calls `f` with each member of the object at `at` (its key and where its
/// value starts) until it returns true; values `f` passes over are skipped.
/// `None` when the text is not an object as `read` accepts it.
fn each_member<'t>(
    text: &'t [u8],
    at: usize,
    mut f: impl FnMut(Cow<'t, str>, usize) -> bool,
) -> Option<()> {
    let mut at = skip_ws(text, at);
    if text.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_ws(text, at.saturating_add(1));
    if text.get(at) == Some(&b'}') {
        return Some(());
    }
    loop {
        let key_end = skip_string(text, at)?;
        let key = super::scan::decode(text, at..key_end)?;
        at = skip_ws(text, key_end);
        if text.get(at) != Some(&b':') {
            return None;
        }
        let start = skip_ws(text, at.saturating_add(1));
        if f(key, start) {
            return Some(());
        }
        let end = skip_value(text, start)?;
        at = skip_ws(text, end);
        match text.get(at) {
            Some(b',') => at = skip_ws(text, at.saturating_add(1)),
            Some(b'}') => return Some(()),
            _ => return None,
        }
    }
}

/// The ranges of the elements of the array at `at` (after whitespace).
pub fn elements(text: &[u8], at: usize) -> Option<Vec<Range<usize>>> {
    array(text, at).map(|(items, _)| items)
}

/// The ranges of the elements of the array at `at` (after whitespace), and
/// where the array ends (after its `]`): one pass over it.
pub fn array(text: &[u8], at: usize) -> Option<(Vec<Range<usize>>, usize)> {
    let mut at = skip_ws(text, at);
    if text.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_ws(text, at.saturating_add(1));
    let mut out = Vec::new();
    if text.get(at) == Some(&b']') {
        return Some((out, at.saturating_add(1)));
    }
    loop {
        let end = skip_value(text, at)?;
        out.push(at..end);
        at = skip_ws(text, end);
        match text.get(at) {
            Some(b',') => at = skip_ws(text, at.saturating_add(1)),
            Some(b']') => return Some((out, at.saturating_add(1))),
            _ => return None,
        }
    }
}

/// The range of the member `key` of the object at `at`.
pub fn member(text: &[u8], at: usize, key: &str) -> Option<Range<usize>> {
    let start = member_start(text, at, key)?;
    Some(start..skip_value(text, start)?)
}

/// Where the value of the member `key` of the object at `at` starts,
/// without reading the value. Accepted text has each key once: the first
/// match is the member, and the values after it are not read.
pub fn member_start(text: &[u8], at: usize, key: &str) -> Option<usize> {
    let mut found = None;
    each_member(text, at, |k, start| {
        let hit = k == key;
        if hit {
            found = Some(start);
        }
        hit
    })?;
    found
}

/// The first byte at or after `at` that is not JSON whitespace.
pub fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at = at.saturating_add(1);
    }
    at
}

/// Where the value at `at` ends.
pub fn skip_value(text: &[u8], at: usize) -> Option<usize> {
    match text.get(at)? {
        b'"' => skip_string(text, at),
        b'{' | b'[' => {
            // Brackets balance in accepted text; strings are skipped whole.
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match text.get(i)? {
                    b'"' => {
                        i = skip_string(text, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth = depth.saturating_add(1),
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i.saturating_add(1));
                        }
                    }
                    _ => {}
                }
                i = i.saturating_add(1);
            }
        }
        _ => {
            // A number or a word: up to the next delimiter.
            let len = text
                .get(at..)?
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(text.len().saturating_sub(at));
            (len > 0).then(|| at.saturating_add(len))
        }
    }
}

/// Where the string at `at` (its opening quote) ends, after its closing quote.
fn skip_string(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at.saturating_add(1);
    loop {
        let (stop, _) = super::read::plain_run(text, i);
        match text.get(stop)? {
            b'"' => return Some(stop.saturating_add(1)),
            b'\\' => i = stop.saturating_add(2),
            // A raw control character: not accepted text.
            _ => return None,
        }
    }
}

/// Accepted JSON text without its whitespace (outside strings): the same
/// document, every token as written.
pub fn compact(text: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0usize;
    while let Some(&b) = text.get(at) {
        if b == b'"' {
            let end = skip_string(text, at)?;
            out.extend_from_slice(text.get(at..end)?);
            at = end;
        } else {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                out.push(b);
            }
            at = at.saturating_add(1);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_drops_only_whitespace_outside_strings() {
        let text = b"{ \"a\" : [ 1 , 2.50 ] ,\n\t\"b c\": \"x \\\" y\" , \"d\":1e2 }";
        assert_eq!(
            compact(text).unwrap(),
            r#"{"a":[1,2.50],"b c":"x \" y","d":1e2}"#
        );
    }

    #[test]
    fn members_and_elements_where_written() {
        let text = br#" {"a" : [1, {"b":"]}\""}, 2.50 ] ,"i\u0064":1.50,"c":{}} "#;
        let m = members(text, 0).unwrap();
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["a", "id", "c"]);
        assert_eq!(&text[m[1].1.clone()], b"1.50");
        let items = elements(text, m[0].1.start).unwrap();
        let items: Vec<&[u8]> = items.into_iter().map(|r| &text[r]).collect();
        assert_eq!(items, [&b"1"[..], br#"{"b":"]}\""}"#, b"2.50"]);
        assert_eq!(&text[member(text, 0, "c").unwrap()], b"{}");
        assert_eq!(elements(b"[]", 0), Some(vec![]));
        assert_eq!(members(b"{}", 0), Some(vec![]));
    }

    #[test]
    fn stops_on_what_was_not_accepted() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":[1,",
            b"{\"a\":\"x",
            b"{\"a\":1 x}",
            b"{\"a\\",
            b"]",
        ] {
            assert_eq!(members(bad, 0), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
