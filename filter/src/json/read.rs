//! The strict reader: bytes to a borrowed `Json`, in one pass.
//!
//! Owns: exactly which documents are JSON here. It accepts what serde_json
//! accepts, minus what readers disagree on: duplicate keys (after escapes are
//! decoded, and under Go's case folding, see `fold`), invalid UTF-8, lone
//! surrogates, numbers beyond a double's range. Nesting is bounded like
//! serde_json's (127 levels). Strings without escapes borrow from the input;
//! numbers keep whether a double holds them exactly (`num`).
//!
//! Does not own: what a document means (`mcp`, `policy`).

use super::fold::duplicate_key;
use super::num::{Dec, Num};
use super::{Json, JsonError, Object};
use std::borrow::Cow;

/// Containers may nest this deep, as in serde_json.
const MAX_DEPTH: u32 = 127;

/// Reads one strict JSON document that fills `bytes` (whitespace aside).
pub fn parse(bytes: &[u8]) -> Result<Json<'_>, JsonError> {
    let mut reader = Reader {
        bytes,
        at: 0,
        depth: 0,
    };
    reader.skip_ws();
    let value = reader.value()?;
    reader.skip_ws();
    if reader.at < bytes.len() {
        return Err(reader.error("trailing characters"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> JsonError {
        JsonError(format!("{what} at byte {}", self.at.saturating_add(1)))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) {
        self.at = self.at.saturating_add(1);
    }

    fn skip_ws(&mut self) {
        let mut at = self.at;
        while matches!(self.bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at = at.saturating_add(1);
        }
        self.at = at;
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.bump();
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn value(&mut self) -> Result<Json<'a>, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Num),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn word(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        let end = self.at.saturating_add(word.len());
        if self.bytes.get(self.at..end) == Some(word.as_bytes()) {
            self.at = end;
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.bump();
        Ok(())
    }

    fn array(&mut self) -> Result<Json<'a>, JsonError> {
        self.enter()?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
        } else {
            loop {
                items.push(self.value()?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.bump();
                        self.skip_ws();
                    }
                    Some(b']') => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `]`")),
                }
            }
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(Json::Arr(items))
    }

    fn object(&mut self) -> Result<Json<'a>, JsonError> {
        self.enter()?;
        let mut members: Vec<(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(4);
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.error("key must be a string"));
                }
                let key = self.string()?;
                self.skip_ws();
                self.expect(b':', "expected `:`")?;
                self.skip_ws();
                let value = self.value()?;
                members.push((key, value));
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.bump();
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `}`")),
                }
            }
        }
        if let Some(dup) = duplicate_key(&members) {
            return Err(JsonError(format!(
                "duplicate object key {}",
                super::write::quote(dup)
            )));
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(Json::Obj(Object(members)))
    }

    /// A string, at its opening quote. Outside strings every byte is ASCII
    /// (anything else is a syntax error), so only string contents need a
    /// UTF-8 check, and only those that hold a byte above 0x7F.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.at.saturating_add(1);
        let (end, wide) = plain_run(self.bytes, start);
        self.at = end;
        // The common case: no escape, borrowed.
        match self.peek() {
            Some(b'"') => {
                let s = self.text(start, end, wide)?;
                self.bump();
                return Ok(Cow::Borrowed(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.error("control character in a string")),
            None => return Err(self.error("EOF while parsing a string")),
        }
        let mut out = String::from(self.text(start, end, wide)?);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.bump();
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.bump();
                    self.escape(&mut out)?;
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("EOF while parsing a string")),
            }
            let run = self.at;
            let (end, wide) = plain_run(self.bytes, run);
            self.at = end;
            out.push_str(self.text(run, end, wide)?);
        }
    }

    /// The bytes `start..end` of a string's contents as text.
    fn text(&self, start: usize, end: usize, wide: bool) -> Result<&'a str, JsonError> {
        let bytes = self.bytes.get(start..end).unwrap_or_default();
        if !wide {
            debug_assert!(bytes.is_ascii());
            // SAFETY: `plain_run` saw every byte of the run below 0x80, and
            // ASCII is valid UTF-8. (Checking again would double the cost of
            // reading a body, which is mostly string contents.)
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        std::str::from_utf8(bytes).map_err(|e| {
            JsonError(format!(
                "invalid UTF-8 at byte {}",
                start.saturating_add(e.valid_up_to()).saturating_add(1)
            ))
        })
    }

    /// One escape, after its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.bump();
                let first = self.hex4()?;
                let c = match first {
                    0xD800..=0xDBFF => {
                        if self.peek() != Some(b'\\')
                            || self.bytes.get(self.at.saturating_add(1)) != Some(&b'u')
                        {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.at = self.at.saturating_add(2);
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        let high = first.saturating_sub(0xD800);
                        let low = second.saturating_sub(0xDC00);
                        char::from_u32(0x10000u32.saturating_add((high << 10) | low))
                    }
                    0xDC00..=0xDFFF => None,
                    other => char::from_u32(other),
                };
                let c = c.ok_or_else(|| self.error("lone trailing surrogate in hex escape"))?;
                out.push(c);
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        self.bump();
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        match hex4(self.bytes, self.at) {
            Ok(v) => {
                self.at = self.at.saturating_add(4);
                Ok(v)
            }
            Err(bad) => {
                self.at = bad;
                Err(self.error("invalid escape"))
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        let mut at = start;
        while matches!(self.bytes.get(at), Some(b'0'..=b'9')) {
            at = at.saturating_add(1);
        }
        self.at = at;
        at.saturating_sub(start)
    }

    /// A number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Result<Num, JsonError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.bump();
        }
        let int_start = self.at;
        match self.peek() {
            Some(b'0') => self.bump(),
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        let int_end = self.at;
        let (mut frac_start, mut frac_end) = (self.at, self.at);
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.bump();
            frac_start = self.at;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            frac_end = self.at;
            float = true;
        }
        let mut exponent: i64 = 0;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.bump();
            let minus = match self.peek() {
                Some(b'-') => {
                    self.bump();
                    true
                }
                Some(b'+') => {
                    self.bump();
                    false
                }
                _ => false,
            };
            let exp_start = self.at;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            for &b in self.bytes.get(exp_start..self.at).unwrap_or_default() {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i64::from(b.wrapping_sub(b'0')));
            }
            if minus {
                exponent = exponent.saturating_neg();
            }
            float = true;
        }
        let int_digits = self.bytes.get(int_start..int_end).unwrap_or_default();
        if !float {
            if let Some(n) = integer(negative, int_digits) {
                return Ok(n);
            }
        }
        // Digits, a sign, a dot and an exponent: ASCII.
        let literal = std::str::from_utf8(self.bytes.get(start..self.at).unwrap_or_default())
            .unwrap_or_default();
        let double: f64 = literal.parse().map_err(|_| self.error("invalid number"))?;
        if !double.is_finite() {
            return Err(self.error("number out of range"));
        }
        let frac_digits = self.bytes.get(frac_start..frac_end).unwrap_or_default();
        let dec = decimal(negative, int_digits, frac_digits, exponent);
        Ok(match dec {
            Some(d) if d.is_double() => Num::F(double),
            dec => Num::D(double, dec),
        })
    }
}

/// The four hex digits at `at` (of a `\u` escape) as a number; or where
/// the first byte that is not one is (`scan` checks escapes with it too).
#[inline(never)]
pub(super) fn hex4(bytes: &[u8], at: usize) -> Result<u32, usize> {
    let mut v = 0u32;
    let end = at.saturating_add(4);
    let mut i = at;
    while i < end {
        let d = bytes
            .get(i)
            .and_then(|&b| char::from(b).to_digit(16))
            .ok_or(i)?;
        v = (v << 4) | d;
        i = i.saturating_add(1);
    }
    Ok(v)
}

/// Where the plain run of string contents from `at` ends: the first quote,
/// backslash or control character (or the end of the input); and whether
/// the run holds a byte above 0x7F. Eight bytes at a time: a string's
/// contents are most of a body.
pub(crate) fn plain_run(bytes: &[u8], at: usize) -> (usize, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES.wrapping_mul(b'"' as u64);
    const BACKSLASHES: u64 = ONES.wrapping_mul(b'\\' as u64);
    const SPACES: u64 = ONES.wrapping_mul(0x20);
    let mut i = at;
    let mut wide = 0u64;
    // Flags (the high bit of a byte) for a quote, a backslash, a byte below
    // 0x20, eight bytes at a time. The lowest flag is always exact: a
    // borrow only ever disturbs the bytes above the one that caused it.
    while let Some(eight) = i
        .checked_add(8)
        .and_then(|end| bytes.get(i..end))
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        let w = u64::from_le_bytes(eight);
        let q = w ^ QUOTES;
        let b = w ^ BACKSLASHES;
        let flags =
            (q.wrapping_sub(ONES) & !q | b.wrapping_sub(ONES) & !b | w.wrapping_sub(SPACES) & !w)
                & HIGH;
        if flags != 0 {
            let first = flags.trailing_zeros() / 8;
            let before = 1u64.wrapping_shl(first.wrapping_mul(8)).wrapping_sub(1);
            let end = i.wrapping_add(first as usize);
            return (end, (wide | (w & HIGH & before)) != 0);
        }
        wide |= w & HIGH;
        i = i.wrapping_add(8);
    }
    // The last bytes, one at a time.
    while let Some(&c) = bytes.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        wide |= u64::from(c & 0x80);
        i = i.wrapping_add(1);
    }
    (i.min(bytes.len()).max(at.min(bytes.len())), wide != 0)
}

/// An integer literal that fits 64 bits, as serde_json reads it (`-0` is
/// the double -0.0).
fn integer(negative: bool, digits: &[u8]) -> Option<Num> {
    let mut v: u64 = 0;
    for &b in digits {
        v = v
            .checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    if !negative {
        return Some(Num::U(v));
    }
    if v == 0 {
        return Some(Num::F(-0.0));
    }
    let neg = 0i128.checked_sub(i128::from(v))?;
    i64::try_from(neg).ok().map(Num::I)
}

/// The exact decimal of a literal, when its significant digits fit 64 bits.
fn decimal(negative: bool, int: &[u8], frac: &[u8], exponent: i64) -> Option<Dec> {
    let mut digits: u64 = 0;
    // Zeros are held back until a non-zero digit follows, so trailing
    // zeros never overflow `digits`.
    let mut zeros: u32 = 0;
    for &b in int.iter().chain(frac) {
        let d = u64::from(b.wrapping_sub(b'0'));
        if d == 0 {
            zeros = zeros.saturating_add(1);
            continue;
        }
        digits = if digits == 0 {
            d
        } else {
            digits
                .checked_mul(10u64.checked_pow(zeros.checked_add(1)?)?)?
                .checked_add(d)?
        };
        zeros = 0;
    }
    if digits == 0 {
        return Some(Dec::new(false, 0, 0));
    }
    let frac_len = i64::try_from(frac.len()).ok()?;
    let exp = exponent
        .checked_add(i64::from(zeros))?
        .checked_sub(frac_len)?;
    Some(Dec::new(negative, digits, i32::try_from(exp).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        for (text, expected) in [
            ("0", "0"),
            ("-0", "0"),
            ("1e2", "100"),
            ("1E+2", "100"),
            ("-12.50", "-12.5"),
            ("18446744073709551615", "18446744073709551615"),
            ("18446744073709551616", "18446744073709552000"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("1e-400", "0"),
            ("1e21", "1e+21"),
            (r#""a\u00e9\ud83d\ude00\n""#, "\"a\u{e9}\u{1f600}\\n\""),
            (" [ 1 , {\"a\" : null} ] ", "[1,{\"a\":null}]"),
        ] {
            let v = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(v.to_text(), expected, "{text}");
        }
    }

    #[test]
    fn refuses_malformed_numbers_and_strings() {
        for bad in [
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "1e309",
            "-1e309",
            "0x10",
            "1.e5",
            "--1",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\t\"",
            "\"abc",
            "tru",
            "nul",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "[1 2]",
            "{\"a\" 1}",
            "{,}",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_runs_end_where_a_byte_at_a_time_says() {
        let naive = |b: &[u8], at: usize| {
            let run = &b[at..];
            let end = run
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(run.len());
            (at + end, run[..end].iter().any(|&c| c >= 0x80))
        };
        let alphabet = [
            b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff, 0x00, b'x',
        ];
        let mut seed = 7u64;
        for len in 0..40 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let pick = (seed >> 33) as usize;
                        // Mostly plain bytes, so runs get long.
                        if pick.is_multiple_of(5) {
                            alphabet[pick % alphabet.len()]
                        } else {
                            b'a'
                        }
                    })
                    .collect();
                for at in 0..=len {
                    assert_eq!(
                        plain_run(&bytes, at),
                        naive(&bytes, at),
                        "{bytes:?} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn nests_as_deep_as_serde_json() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(nested(127).as_bytes()).is_ok());
        assert!(parse(nested(128).as_bytes()).is_err());
        let objects = format!("{}1{}", "{\"a\":".repeat(127), "}".repeat(127));
        assert!(parse(objects.as_bytes()).is_ok());
    }

    #[test]
    fn decimals_of_literals() {
        assert_eq!(
            decimal(false, b"19", b"99", 0),
            Some(Dec::new(false, 1999, -2))
        );
        assert_eq!(decimal(false, b"100", b"", 0), Some(Dec::new(false, 1, 2)));
        assert_eq!(decimal(true, b"0", b"0010", 3), Some(Dec::new(true, 1, 0)));
        assert_eq!(decimal(false, b"0", b"000", 0), Some(Dec::new(false, 0, 0)));
        assert_eq!(decimal(false, b"99999999999999999999", b"", 0), None);
        assert_eq!(
            decimal(false, b"0", b"00000000000000000000000001", 0),
            Some(Dec::new(false, 1, -26))
        );
        assert_eq!(
            decimal(false, b"10000000000000000000000000", b"", 0),
            Some(Dec::new(false, 1, 25))
        );
    }
}
