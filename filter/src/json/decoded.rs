//! Strings that a server may decode as JSON before the tool runs.
//!
//! Owns: telling what a JSON-decoding server makes of a string argument. The
//! official Python SDK (FastMCP / `MCPServer`) passes every string argument
//! whose parameter is not typed `str` through Python's `json.loads`, and
//! keeps the result when it is an object, an array or `null`: the tool then
//! sees `{"b": 1}` where the request carried `"{\"b\": 1}"`. So such a string
//! has a second reading. Python's `json` is more lenient than the strict
//! reader (`NaN`, duplicate keys, lone surrogates, `1e400`): a string it
//! decodes that the strict reader refuses cannot be judged at all.
//!
//! Does not own: what a condition makes of the readings (`engine::conditions`).

use super::{parse, Json};

/// What a JSON-decoding server may make of a string.
#[derive(Debug)]
pub enum Decoded<'s> {
    /// Nothing: the string stays a string for every server.
    No,
    /// JSON text of an object, an array or `null`: what it decodes to.
    Value(Json<'s>),
    /// JSON text that Python decodes and the strict reader refuses: unknown.
    Unreadable,
}

/// The second reading of `s`, if a server may decode it.
pub fn decode_string(s: &str) -> Decoded<'_> {
    let first = s
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if !matches!(first, Some(b'{' | b'[' | b'n')) {
        return Decoded::No;
    }
    match parse(s.as_bytes()) {
        Ok(v @ (Json::Obj(_) | Json::Arr(_) | Json::Null)) => Decoded::Value(v),
        Ok(_) => Decoded::No,
        Err(_) if python_reads(s.as_bytes()) => Decoded::Unreadable,
        Err(_) => Decoded::No,
    }
}

/// Whether Python's `json.loads` reads `bytes` as one document: JSON plus
/// `NaN`, `Infinity`, `-Infinity`, any `\u` escape, duplicate keys, numbers
/// of any size, nesting of any depth.
fn python_reads(bytes: &[u8]) -> bool {
    let mut at = 0usize;
    // Open containers: true for an object.
    let mut stack: Vec<bool> = Vec::new();
    let ws = |at: &mut usize| {
        while matches!(bytes.get(*at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *at = at.saturating_add(1);
        }
    };
    ws(&mut at);
    loop {
        // A value.
        match bytes.get(at) {
            Some(b'{') => {
                at = at.saturating_add(1);
                ws(&mut at);
                if bytes.get(at) == Some(&b'}') {
                    at = at.saturating_add(1);
                } else {
                    stack.push(true);
                    match key(bytes, at) {
                        Some(next) => at = next,
                        None => return false,
                    }
                    continue;
                }
            }
            Some(b'[') => {
                at = at.saturating_add(1);
                ws(&mut at);
                if bytes.get(at) == Some(&b']') {
                    at = at.saturating_add(1);
                } else {
                    stack.push(false);
                    continue;
                }
            }
            Some(b'"') => match string(bytes, at) {
                Some(next) => at = next,
                None => return false,
            },
            _ => match scalar(bytes, at) {
                Some(next) => at = next,
                None => return false,
            },
        }
        // After a value: close containers, or go on to the next member.
        loop {
            ws(&mut at);
            let Some(&object) = stack.last() else {
                return at == bytes.len();
            };
            match (bytes.get(at), object) {
                (Some(b','), true) => {
                    at = at.saturating_add(1);
                    ws(&mut at);
                    match key(bytes, at) {
                        Some(next) => at = next,
                        None => return false,
                    }
                    break;
                }
                (Some(b','), false) => {
                    at = at.saturating_add(1);
                    ws(&mut at);
                    break;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    at = at.saturating_add(1);
                    stack.pop();
                }
                _ => return false,
            }
        }
    }
}

/// `"key" :` and the whitespace after it; the position of the value.
fn key(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut at = string(bytes, at)?;
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at = at.saturating_add(1);
    }
    if bytes.get(at) != Some(&b':') {
        return None;
    }
    at = at.saturating_add(1);
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at = at.saturating_add(1);
    }
    Some(at)
}

/// A string at its quote (any `\u` escape; no raw control character).
fn string(bytes: &[u8], mut at: usize) -> Option<usize> {
    at = at.saturating_add(1);
    loop {
        match bytes.get(at)? {
            b'"' => return Some(at.saturating_add(1)),
            b'\\' => {
                at = at.saturating_add(1);
                match bytes.get(at)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = bytes.get(at.saturating_add(1)..at.saturating_add(5))?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        at = at.saturating_add(4);
                    }
                    _ => return None,
                }
                at = at.saturating_add(1);
            }
            0..=0x1f => return None,
            _ => at = at.saturating_add(1),
        }
    }
}

/// A number or a literal; the position after it.
fn scalar(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = bytes.get(at..)?;
    for word in [
        &b"true"[..],
        b"false",
        b"null",
        b"NaN",
        b"Infinity",
        b"-Infinity",
    ] {
        if rest.starts_with(word) {
            return Some(at.saturating_add(word.len()));
        }
    }
    let mut i = 0usize;
    let digits = |i: &mut usize| {
        let start = *i;
        while rest.get(*i).is_some_and(u8::is_ascii_digit) {
            *i = i.saturating_add(1);
        }
        *i > start
    };
    if rest.first() == Some(&b'-') {
        i = 1;
    }
    match rest.get(i)? {
        b'0' => i = i.saturating_add(1),
        b'1'..=b'9' => {
            digits(&mut i);
        }
        _ => return None,
    }
    if rest.get(i) == Some(&b'.') {
        let mut j = i.saturating_add(1);
        if digits(&mut j) {
            i = j;
        }
    }
    if matches!(rest.get(i), Some(b'e' | b'E')) {
        let mut j = i.saturating_add(1);
        if matches!(rest.get(j), Some(b'+' | b'-')) {
            j = j.saturating_add(1);
        }
        if digits(&mut j) {
            i = j;
        }
    }
    Some(at.saturating_add(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_python_decodes_have_a_second_reading() {
        assert!(matches!(
            decode_string(r#"{"b": 1}"#),
            Decoded::Value(Json::Obj(_))
        ));
        assert!(matches!(
            decode_string(" [1, 2] "),
            Decoded::Value(Json::Arr(_))
        ));
        assert!(matches!(decode_string("null"), Decoded::Value(Json::Null)));
        // Python keeps strings, numbers and booleans as the string.
        for plain in [
            "hello",
            "\"x\"",
            "5",
            "true",
            "",
            "{not json",
            "[1,",
            "nope",
        ] {
            assert!(matches!(decode_string(plain), Decoded::No), "{plain}");
        }
    }

    #[test]
    fn what_only_python_reads_is_unreadable() {
        for lenient in [
            r#"{"a": NaN}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": "\ud800"}"#,
            r#"[1e400]"#,
            r#"[-Infinity, Infinity]"#,
            r#"{"amount": 1, "AMOUNT": 2}"#,
        ] {
            assert!(
                matches!(decode_string(lenient), Decoded::Unreadable),
                "{lenient}"
            );
        }
        for broken in [
            "{'a': 1}",
            "[1,]",
            "{\"a\" 1}",
            "[01]",
            "[1.]",
            "[\"\t\"]",
            "[1] x",
        ] {
            assert!(matches!(decode_string(broken), Decoded::No), "{broken}");
        }
    }
}
