//! Strict JSON checked in one pass without building it, telling a visitor
//! where the values it follows sit.
//!
//! Owns: accepting exactly the documents `read` accepts (the same grammar,
//! duplicate keys under Go's folding, UTF-8, surrogates, numbers a double
//! holds, 127 levels, nothing after the value) at a fraction of its work: no
//! value is built and no string decoded, save the keys of the containers a
//! [`Visit`] follows and of the objects whose keys may repeat (a key with an
//! escape or a byte above 0x7F, or two plain keys on one bit of the object's
//! 64-bit filter: `key_bit`). A number's token is read by `read` itself,
//! so both take the same numbers. The fuzz target `toolslist` holds the
//! scan to `read`.
//!
//! Does not own: what the values mean (the visitor's, e.g. `toolslist`).

use super::read::hex4;
use std::borrow::Cow;
use std::ops::Range;

/// Containers may nest this deep, as in `read` (and serde_json).
const MAX_DEPTH: usize = 127;

/// A value's mark: what a visitor knows it to be. [`UNMARKED`] values (and
/// everything inside them) are not shown to the visitor.
pub type Mark = u8;

/// The mark of nothing the visitor follows.
pub const UNMARKED: Mark = 0;

/// The parent mark the document itself is entered with.
pub const TOP: Mark = u8::MAX;

/// What a scan tells: each value in a marked container (or the document
/// itself, under [`TOP`]) as it starts, and each marked value as it ends.
pub trait Visit {
    /// The value starting at `at` (its first byte `first`), in the
    /// container marked `parent`, as its member `key` (decoded, UTF-8) or
    /// as an element (`None`): its mark, [`UNMARKED`] to not follow it.
    fn enter(&mut self, parent: Mark, key: Option<&[u8]>, at: usize, first: u8) -> Mark;

    /// The value marked `mark` ends before `end`.
    fn leave(&mut self, mark: Mark, end: usize);
}

/// The text is not strict JSON (as `read` would say, without the why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The container being read (or the document itself, `Top`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Top,
    Object,
    Array,
}

#[derive(Clone, Copy)]
struct Frame {
    kind: Kind,
    mark: Mark,
    /// Two of its keys may be one: they are compared at its end.
    check: bool,
    /// A bit for each of its plain keys so far ([`key_bit`]): keys equal
    /// under ASCII case share it.
    seen: u64,
    /// Where its keys start in the scan's list of keys.
    keys: usize,
}

/// Checks that `text` is one strict JSON document, as `read::parse` would
/// accept it, telling `visit` about the values it follows.
pub fn scan(text: &[u8], visit: &mut impl Visit) -> Result<(), Refused> {
    // The containers around the one being read (`frame`, in locals).
    let mut outer: Vec<Frame> = Vec::with_capacity(8);
    // The keys (their quoted text) of the open objects.
    let mut keys: Vec<Range<usize>> = Vec::with_capacity(16);
    // Outside strings only ASCII is JSON, and strings end at ASCII quotes:
    // the strings' contents are UTF-8 exactly when the whole text is. One
    // check for all of them (none when the text is ASCII); then a key is
    // plain when it holds no escape and, in a text that is not ASCII, no
    // byte above 0x7F.
    let ascii = is_ascii(text);
    if !ascii && std::str::from_utf8(text).is_err() {
        return Err(Refused);
    }
    let mut at = skip_ws(text, 0);
    let mut frame = Frame {
        kind: Kind::Top,
        mark: TOP,
        check: false,
        seen: 0,
        keys: 0,
    };
    // The mark of the value at `at`; or a key comes next (`key`).
    let mut mark = element(text, at, TOP, visit);
    let mut key = false;
    // Indexes stay within the text or one past it: adding to them never
    // wraps, and every read is checked.
    loop {
        let first = text.get(at).copied().unwrap_or_default();
        let mut end = if first == b'"' {
            // One place reads strings, keys and values alike.
            let (end, mut plain) = string(text, at)?;
            if key {
                key = false;
                if !ascii && plain {
                    let inner = text.get(at..end).unwrap_or_default();
                    plain = inner.iter().all(u8::is_ascii);
                }
                if plain {
                    let bit = key_bit(text, at.wrapping_add(1), end.wrapping_sub(1));
                    frame.check |= frame.seen & bit != 0;
                    frame.seen |= bit;
                } else {
                    frame.check = true;
                }
                let colon = skip_ws(text, end);
                if text.get(colon) != Some(&b':') {
                    return Err(Refused);
                }
                let value = skip_ws(text, colon.wrapping_add(1));
                mark = UNMARKED;
                if frame.mark != UNMARKED {
                    let first = text.get(value).copied().unwrap_or_default();
                    mark = if plain {
                        let inner = at.wrapping_add(1)..end.wrapping_sub(1);
                        visit.enter(frame.mark, text.get(inner), value, first)
                    } else {
                        let name = decode(text, at..end).ok_or(Refused)?;
                        visit.enter(frame.mark, Some(name.as_bytes()), value, first)
                    };
                }
                keys.push(at..end);
                at = value;
                continue;
            }
            end
        } else if key {
            return Err(Refused);
        } else {
            match first {
                b'{' | b'[' => {
                    // The document is outermost: the containers are the rest.
                    if outer.len() >= MAX_DEPTH {
                        return Err(Refused);
                    }
                    outer.push(frame);
                    let object = first == b'{';
                    frame = Frame {
                        kind: if object { Kind::Object } else { Kind::Array },
                        mark,
                        check: false,
                        seen: 0,
                        keys: keys.len(),
                    };
                    at = skip_ws(text, at.wrapping_add(1));
                    let close = if object { b'}' } else { b']' };
                    if text.get(at) != Some(&close) {
                        if object {
                            key = true;
                        } else {
                            mark = element(text, at, frame.mark, visit);
                        }
                        continue;
                    }
                    frame = outer.pop().ok_or(Refused)?;
                    at.wrapping_add(1)
                }
                b'-' | b'0'..=b'9' => number(text, at)?,
                b't' => word(text, at, b"true")?,
                b'f' => word(text, at, b"false")?,
                b'n' => word(text, at, b"null")?,
                _ => return Err(Refused),
            }
        };
        // The value ends at `end`: then the containers it closes.
        loop {
            if mark != UNMARKED {
                visit.leave(mark, end);
            }
            at = skip_ws(text, end);
            match (text.get(at), frame.kind) {
                (Some(b','), Kind::Object) => {
                    at = skip_ws(text, at.wrapping_add(1));
                    key = true;
                    break;
                }
                (Some(b','), Kind::Array) => {
                    at = skip_ws(text, at.wrapping_add(1));
                    mark = element(text, at, frame.mark, visit);
                    break;
                }
                (Some(b'}'), Kind::Object) | (Some(b']'), Kind::Array) => {
                    if frame.check {
                        let own = keys.get(frame.keys..).unwrap_or_default();
                        if duplicate(text, own)? {
                            return Err(Refused);
                        }
                    }
                    keys.truncate(frame.keys);
                    mark = frame.mark;
                    end = at.wrapping_add(1);
                    frame = outer.pop().ok_or(Refused)?;
                }
                (None, Kind::Top) => return Ok(()),
                _ => return Err(Refused),
            }
        }
    }
}

/// The mark of the value at `at` in an array marked `parent` (or of the
/// document, `TOP`).
#[inline(always)]
fn element(text: &[u8], at: usize, parent: Mark, visit: &mut impl Visit) -> Mark {
    if parent == UNMARKED {
        return UNMARKED;
    }
    let first = text.get(at).copied().unwrap_or_default();
    visit.enter(parent, None, at, first)
}

/// A bit for the plain (ASCII, unescaped) key `text[start..end]`, one of
/// 64 picked by its length and its first byte with the case bit set: keys
/// equal but for ASCII case get the same bit. Two keys of an object on one
/// bit are compared in full (`duplicate`).
#[inline(always)]
fn key_bit(text: &[u8], start: usize, end: usize) -> u64 {
    let len = end.wrapping_sub(start) as u32;
    let first = u32::from(text.get(start).copied().unwrap_or_default() | 0x20);
    let hash = len.wrapping_mul(0x9E37_79B1) ^ first.wrapping_mul(0x85EB_CA77);
    1u64.wrapping_shl(hash >> 26)
}

/// Whether two of an object's keys (quoted, `keys`) are one key, decoded
/// and under Go's folding, as `read` compares them.
fn duplicate(text: &[u8], keys: &[Range<usize>]) -> Result<bool, Refused> {
    let mut members = Vec::with_capacity(keys.len());
    for key in keys {
        let name = decode(text, key.clone()).ok_or(Refused)?;
        members.push((name, super::Json::Null));
    }
    Ok(super::fold::duplicate_key(&members).is_some())
}

/// The string at `quoted` (its quotes included) of checked text, decoded:
/// borrowed when it holds no escape.
#[inline(never)]
pub fn decode(text: &[u8], quoted: Range<usize>) -> Option<Cow<'_, str>> {
    let quoted = text.get(quoted)?;
    let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
    if plain_ascii(inner) {
        debug_assert!(inner.is_ascii());
        // SAFETY: every byte is below 0x80 (`plain_ascii`, just above), and
        // ASCII is UTF-8. (`from_utf8` costs several times as much on the
        // short strings decoded here, a tool's name.)
        return Some(Cow::Borrowed(unsafe {
            std::str::from_utf8_unchecked(inner)
        }));
    }
    match super::read::parse(quoted).ok()? {
        super::Json::Str(s) => Some(s),
        _ => None,
    }
}

/// Whether `s` is ASCII without a backslash, eight bytes at a time (a
/// byte at a time costs some twenty instructions a byte in wasm).
fn plain_ascii(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const BACKSLASHES: u64 = ONES.wrapping_mul(b'\\' as u64);
    let mut bad = 0u64;
    for chunk in s.chunks(8) {
        // The last chunk padded with zero bytes: neither kind of bad byte.
        let mut eight = [0u8; 8];
        if let Some(head) = eight.get_mut(..chunk.len()) {
            head.copy_from_slice(chunk);
        }
        let w = u64::from_le_bytes(eight);
        // A byte above 0x7F, or a zero byte of `b`: a backslash (exact when
        // there is none, and then any flag will do).
        let b = w ^ BACKSLASHES;
        bad |= w | (b.wrapping_sub(ONES) & !b);
    }
    bad & HIGH == 0
}

/// The first byte at or after `at` that is not JSON whitespace.
#[inline(always)]
fn skip_ws(text: &[u8], at: usize) -> usize {
    // Most JSON on the wire has none: one test, no loop.
    match text.get(at) {
        Some(&b) if b > b' ' => at,
        _ => skip_ws_loop(text, at),
    }
}

#[inline(never)]
fn skip_ws_loop(text: &[u8], mut at: usize) -> usize {
    // Indexes stay within the text (or one past it): adding 1 never wraps.
    while matches!(text.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at = at.wrapping_add(1);
    }
    at
}

/// The string at `at` (its opening quote): where it ends (after its closing
/// quote) and whether it holds no escape. Its contents are read eight bytes
/// at a time, as `read::plain_run` does; their UTF-8 was checked with the
/// whole text's.
#[inline(always)]
fn string(text: &[u8], at: usize) -> Result<(usize, bool), Refused> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES.wrapping_mul(b'"' as u64);
    const BACKSLASHES: u64 = ONES.wrapping_mul(b'\\' as u64);
    const SPACES: u64 = ONES.wrapping_mul(0x20);
    let mut i = at.wrapping_add(1);
    let mut plain = true;
    loop {
        i = 'run: {
            while let Some(eight) = text
                .get(i..i.wrapping_add(8))
                .and_then(|c| <[u8; 8]>::try_from(c).ok())
            {
                let w = u64::from_le_bytes(eight);
                let q = w ^ QUOTES;
                let b = w ^ BACKSLASHES;
                // The high bit of each quote, backslash or byte below 0x20;
                // the lowest is exact (a borrow only disturbs the bytes above
                // it).
                let flags = (q.wrapping_sub(ONES) & !q
                    | b.wrapping_sub(ONES) & !b
                    | w.wrapping_sub(SPACES) & !w)
                    & HIGH;
                if flags != 0 {
                    break 'run i.wrapping_add((flags.trailing_zeros() / 8) as usize);
                }
                i = i.wrapping_add(8);
            }
            // The last few bytes of the text, one at a time.
            while let Some(&c) = text.get(i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                i = i.wrapping_add(1);
            }
            i
        };
        match text.get(i) {
            Some(b'"') => return Ok((i.wrapping_add(1), plain)),
            Some(b'\\') => {
                plain = false;
                i = escape(text, i.wrapping_add(1))?;
            }
            // A control character, or the end of the text.
            _ => return Err(Refused),
        }
    }
}

/// Whether every byte is below 0x80, 32 at a time.
fn is_ascii(text: &[u8]) -> bool {
    let mut chunks = text.chunks_exact(32);
    let mut high = 0u64;
    for chunk in &mut chunks {
        for eight in chunk.chunks_exact(8) {
            high |= <[u8; 8]>::try_from(eight).map_or(u64::MAX, u64::from_le_bytes);
        }
    }
    for &b in chunks.remainder() {
        high |= u64::from(b);
    }
    high & 0x8080_8080_8080_8080 == 0
}

/// The escape after the backslash at `at - 1`: where it ends. A `\u` escape
/// of a leading surrogate must be followed by one of a trailing surrogate;
/// a trailing one alone is refused.
fn escape(text: &[u8], at: usize) -> Result<usize, Refused> {
    match text.get(at) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at.wrapping_add(1)),
        Some(b'u') => {
            let first = hex4(text, at.wrapping_add(1)).map_err(|_| Refused)?;
            let after = at.wrapping_add(5);
            match first {
                0xD800..=0xDBFF => {
                    if text.get(after) != Some(&b'\\')
                        || text.get(after.wrapping_add(1)) != Some(&b'u')
                    {
                        return Err(Refused);
                    }
                    let second = hex4(text, after.wrapping_add(2)).map_err(|_| Refused)?;
                    if !(0xDC00..=0xDFFF).contains(&second) {
                        return Err(Refused);
                    }
                    Ok(after.wrapping_add(6))
                }
                0xDC00..=0xDFFF => Err(Refused),
                _ => Ok(after),
            }
        }
        _ => Err(Refused),
    }
}

fn word(text: &[u8], at: usize, word: &[u8]) -> Result<usize, Refused> {
    let end = at.wrapping_add(word.len());
    if text.get(at..end) == Some(word) {
        Ok(end)
    } else {
        Err(Refused)
    }
}

/// The number at `start`: where it ends. Its token (the bytes a number may
/// hold) must be one number as `read` reads it, so both take the same
/// numbers (the grammar, and only what a double holds: `1e400` is refused).
fn number(text: &[u8], start: usize) -> Result<usize, Refused> {
    let mut end = start;
    while matches!(
        text.get(end),
        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
    ) {
        end = end.wrapping_add(1);
    }
    let token = text.get(start..end).unwrap_or_default();
    match super::read::parse(token) {
        Ok(_) => Ok(end),
        Err(_) => Err(Refused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Follows nothing.
    struct Nothing;
    impl Visit for Nothing {
        fn enter(&mut self, _: Mark, _: Option<&[u8]>, _: usize, _: u8) -> Mark {
            UNMARKED
        }
        fn leave(&mut self, _: Mark, _: usize) {}
    }

    /// Follows everything, writing down each value's path and text.
    #[derive(Default)]
    struct Everything {
        open: Vec<(String, usize)>,
        seen: Vec<String>,
    }
    impl Visit for Everything {
        fn enter(&mut self, _: Mark, key: Option<&[u8]>, at: usize, _: u8) -> Mark {
            let key = String::from_utf8(key.unwrap_or(b"[]").to_vec()).unwrap();
            self.open.push((key, at));
            1
        }
        fn leave(&mut self, _: Mark, end: usize) {
            let (key, at) = self.open.pop().unwrap();
            self.seen.push(format!("{key}@{at}..{end}"));
        }
    }

    fn accepts(text: &[u8]) -> bool {
        let mut all = Everything::default();
        let full = scan(text, &mut all).is_ok();
        assert_eq!(scan(text, &mut Nothing).is_ok(), full);
        full
    }

    #[test]
    fn accepts_what_read_accepts() {
        for text in [
            "0",
            "-0",
            "1e2",
            "1E+2",
            "-12.50",
            "18446744073709551616",
            "1e-400",
            "1.7976931348623157e308",
            "0.00001e313",
            r#""a\u00e9\ud83d\ude00\n\/""#,
            " [ 1 , {\"a\" : null} ] ",
            "{\"caf\u{e9}\":1,\"cafe\":2}",
            r#"{"a":1,"b":2,"ab":3,"ba":4}"#,
            r#"{"strasse":1,"stra\u00dfe":2}"#,
            "[true,false,null,[],{}]",
        ] {
            assert!(accepts(text.as_bytes()), "{text}");
            assert!(crate::json::parse(text.as_bytes()).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_what_read_refuses() {
        for bad in [
            &b""[..],
            b" ",
            b"01",
            b"-",
            b"1.",
            b".5",
            b"1e",
            b"+1",
            b"1e309",
            b"-1e309",
            b"1.8e308",
            b"0x10",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"\t\"",
            b"\"abc",
            b"\"\xff\"",
            b"\"\xc3\"",
            b"tru",
            b"nul",
            b"truex",
            b"[1,]",
            b"{\"a\":1,}",
            b"{a:1}",
            b"[1 2]",
            b"{\"a\" 1}",
            b"{,}",
            b"[,]",
            b"{\"a\":1}x",
            b"{\"a\":1} {\"b\":2}",
            br#"{"a":1,"A":2}"#,
            br#"{"name":1,"n\u0061me":2}"#,
            br#"{"mask":1,"mas\u212a":2}"#,
            br#"{"x":{"a":1,"a":2}}"#,
            b"[1]]",
            b"{\"a\":1]",
            b"[1}",
        ] {
            assert!(!accepts(bad), "{:?}", String::from_utf8_lossy(bad));
            assert!(crate::json::parse(bad).is_err());
        }
        let mut many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(accepts(format!("{{{}}}", many.join(",")).as_bytes()));
        many.push("\"K7\":0".into());
        assert!(!accepts(format!("{{{}}}", many.join(",")).as_bytes()));
    }

    #[test]
    fn nests_as_deep_as_read() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(accepts(nested(127).as_bytes()));
        assert!(!accepts(nested(128).as_bytes()));
        let objects = format!("{}1{}", "{\"a\":".repeat(127), "}".repeat(127));
        assert!(accepts(objects.as_bytes()));
        let objects = format!("{}1{}", "{\"a\":".repeat(128), "}".repeat(128));
        assert!(!accepts(objects.as_bytes()));
    }

    #[test]
    fn tells_where_followed_values_sit() {
        let text = br#" {"a" : [1, {"b":"]}\""}, 2.50 ] ,"i\u0064":1.50,"c":{}} "#;
        let mut all = Everything::default();
        scan(text, &mut all).unwrap();
        let at = |s: &str| {
            let (key, range) = s.split_once('@').unwrap();
            let (a, b) = range.split_once("..").unwrap();
            let text = &text[a.parse::<usize>().unwrap()..b.parse::<usize>().unwrap()];
            format!("{key}={}", String::from_utf8_lossy(text))
        };
        let seen: Vec<String> = all.seen.iter().map(|s| at(s)).collect();
        assert_eq!(
            seen,
            [
                "[]=1",
                r#"b="]}\"""#,
                r#"[]={"b":"]}\""}"#,
                "[]=2.50",
                r#"a=[1, {"b":"]}\""}, 2.50 ]"#,
                "id=1.50",
                "c={}",
                r#"[]={"a" : [1, {"b":"]}\""}, 2.50 ] ,"i\u0064":1.50,"c":{}}"#,
            ]
        );
    }

    #[test]
    fn agrees_with_read_on_mutated_documents() {
        // A few thousand byte mutations of tricky documents: the fuzz target
        // `toolslist` does this at length.
        let seeds: [&[u8]; 6] = [
            br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","inputSchema":{"type":"object"}}]}}"#,
            br#"[{"a":1.5e3,"b":[true,false,null],"c":"\u00e9\ud83d\ude00\n"},{"A":-0}]"#,
            "{\"caf\u{e9}\":\"\u{212a}\",\"k\":[[],{}],\"x\":\"\\\"\"}".as_bytes(),
            br#"{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":16}"#,
            b" [ 1 , 2.50 , -3e-2 , \"x\" ] ",
            br#"{"mask":1,"mas\u212a":2}"#,
        ];
        let alphabet = b"{}[]:,\"\\u0aAeE.-+ \t\n\xc3\xa9\xff\x01tfn";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for text in seeds {
            assert_eq!(accepts(text), crate::json::parse(text).is_ok());
            for _ in 0..2000 {
                let mut t = text.to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % (t.len() + 1);
                    let b = alphabet[(next() as usize) % alphabet.len()];
                    match next() % 3 {
                        0 if at < t.len() => t[at] = b,
                        1 if at < t.len() => {
                            t.remove(at);
                        }
                        _ => t.insert(at, b),
                    }
                }
                assert_eq!(
                    accepts(&t),
                    crate::json::parse(&t).is_ok(),
                    "{:?}",
                    String::from_utf8_lossy(&t)
                );
            }
        }
    }
}
