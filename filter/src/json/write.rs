//! JSON text out: strings, numbers and whole values, written straight into a
//! `String`.
//!
//! Owns: how the filter spells JSON. Strings escape what JSON requires and
//! nothing else (quote, backslash, control characters; `\b \t \n \f \r` by
//! name, the rest as `\u00xx`). Numbers are spelled as ECMAScript spells a
//! double (`Number.prototype.toString`: `1`, `0.1`, `1e+21`, `1.5e-7`),
//! integer literals as they were. With these two rules, `canonical` writes
//! RFC 8785 (JCS) text, which any language's JCS library reproduces: the
//! digests of a policy and of a call's arguments are taken over it.
//!
//! Does not own: reading (`read`).

use super::{Json, Num};

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain = 0usize;
    loop {
        let (stop, _) = super::read::plain_run(bytes, plain);
        out.push_str(s.get(plain..stop).unwrap_or_default());
        let Some(&b) = bytes.get(stop) else {
            break;
        };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                for nibble in [b >> 4, b & 15] {
                    out.push(char::from(
                        HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
                    ));
                }
            }
        }
        plain = stop.saturating_add(1);
    }
    out.push('"');
}

/// `s` as a JSON string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    push_str(&mut out, s);
    out
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at = at.saturating_sub(1);
        if let Some(d) = digits.get_mut(at) {
            *d = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in digits.get(at..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// Appends the double `x` as ECMAScript spells it (RFC 8785 §3.2.2.3): the
/// shortest digits that read back to `x`, positional from 1e-6 up to 1e21,
/// exponential outside. Not finite (never read from JSON): `null`.
pub fn push_f64(out: &mut String, x: f64) {
    use std::fmt::Write as _;
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    // Integers below 2^53 are their own shortest spelling (both zeros: `0`),
    // and counts mostly are: no float formatting for them.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && x.abs() < EXACT {
        if x < 0.0 {
            out.push('-');
        }
        push_u64(out, x.abs() as u64);
        return;
    }
    // The shortest digits that read back to `x`: the correctly rounded
    // 1, 2, ... 17 significant digits (core's `{:.*e}`), the first that
    // reads back. Of the strings of that length it is the one closest to
    // `x`, as ECMAScript asks. (Core's shortest `{:e}` would do it in one
    // step but brings a second formatting algorithm, ~8 KB of .wasm, for
    // what is a rare path: counts and most numbers are integers.)
    let mut sci = String::with_capacity(32);
    for precision in 0..17 {
        sci.clear();
        let _ = write!(sci, "{:.*e}", precision, x.abs());
        if sci.parse::<f64>() == Ok(x.abs()) {
            break;
        }
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    // The value is 0.DIGITS × 10^point.
    let point = exp.saturating_add(1);
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if x < 0.0 {
        out.push('-');
    }
    let zeros = |out: &mut String, n: i32| {
        for _ in 0..n {
            out.push('0');
        }
    };
    if k <= point && point <= 21 {
        out.push_str(&digits);
        zeros(out, point.saturating_sub(k));
    } else if 0 < point && point <= 21 {
        let split = usize::try_from(point).unwrap_or(0);
        out.push_str(digits.get(..split).unwrap_or_default());
        out.push('.');
        out.push_str(digits.get(split..).unwrap_or_default());
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        zeros(out, point.saturating_neg());
        out.push_str(&digits);
    } else {
        out.push_str(digits.get(..1).unwrap_or_default());
        if k > 1 {
            out.push('.');
            out.push_str(digits.get(1..).unwrap_or_default());
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        push_u64(out, u64::from(exp.unsigned_abs()));
    }
}

/// Appends a number: an integer literal as it was, any other as its double.
pub fn push_num(out: &mut String, n: Num) {
    match n {
        Num::U(u) => push_u64(out, u),
        Num::I(i) => push_i64(out, i),
        Num::F(x) | Num::D(x, _) => push_f64(out, x),
    }
}

/// How `push_value` spells a document.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// Compact, members in document order, numbers as read.
    Document,
    /// RFC 8785: members sorted, every number as a double.
    Canonical,
}

/// Appends `value` as compact JSON, members in document order.
pub fn push_json(out: &mut String, value: &Json<'_>) {
    push_value(out, value, Form::Document);
}

/// `value` as RFC 8785 canonical JSON: compact, members sorted by their
/// keys' UTF-16 code units, numbers as doubles.
pub fn canonical(value: &Json<'_>) -> String {
    let mut out = String::new();
    push_value(&mut out, value, Form::Canonical);
    out
}

fn push_value(out: &mut String, value: &Json<'_>, form: Form) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Num(n) if form != Form::Document => push_f64(out, n.as_f64()),
        Json::Num(n) => push_num(out, *n),
        Json::Str(s) => push_str(out, s),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, item, form);
            }
            out.push(']');
        }
        Json::Obj(o) => {
            let mut members: Vec<&(std::borrow::Cow<'_, str>, Json<'_>)> = o.0.iter().collect();
            if form != Form::Document {
                crate::sort::sort_by(&mut members, |a, b| {
                    a.0.encode_utf16().lt(b.0.encode_utf16())
                });
            }
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, k);
                out.push(':');
                push_value(out, v, form);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn f(x: f64) -> String {
        let mut out = String::new();
        push_f64(&mut out, x);
        out
    }

    #[test]
    fn shortest_digits_agree_with_cores_shortest() {
        let mut seed = 11u64;
        for _ in 0..50_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = f64::from_bits(seed);
            if !x.is_finite() || (x.fract() == 0.0 && x.abs() < 9e15) {
                continue;
            }
            let shortest = format!("{:e}", x.abs());
            let (m, e) = shortest.split_once('e').unwrap();
            let digits: String = m.chars().filter(char::is_ascii_digit).collect();
            let ours = f(x);
            let ours_digits: String = ours
                .split('e')
                .next()
                .unwrap()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let ours_digits = ours_digits.trim_start_matches('0').trim_end_matches('0');
            let digits = digits.trim_end_matches('0');
            // As short as core's shortest; where two strings of that length
            // are equally close, ECMAScript takes the even one, core may not.
            assert_eq!(
                ours_digits.len(),
                digits.len(),
                "{x:e} ({e}) written {ours}"
            );
            if ours_digits != digits {
                let last = ours_digits.bytes().last().unwrap();
                assert!(last.is_multiple_of(2), "{x:e} ({e}) written {ours}");
            }
            assert_eq!(ours.parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn doubles_as_ecmascript_spells_them() {
        // RFC 8785 Appendix B and ECMAScript's Number::toString.
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.1, "0.1"),
            (19.99, "19.99"),
            (100.0, "100"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (5e-324, "5e-324"),
            (-5e-324, "-5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (9007199254740992.0, "9007199254740992"),
            (9007199254740994.0, "9007199254740994"),
            (333333333.3333333, "333333333.3333333"),
            (0.000001234, "0.000001234"),
            (1.2345e25, "1.2345e+25"),
            (f64::NAN, "null"),
        ] {
            assert_eq!(f(x), text, "{x:e}");
        }
    }

    #[test]
    fn doubles_read_back_exactly() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let x = f64::from_bits(seed);
            if x.is_finite() {
                assert_eq!(f(x).parse::<f64>().unwrap(), if x == 0.0 { 0.0 } else { x });
            }
        }
    }

    #[test]
    fn strings_escape_what_json_requires() {
        assert_eq!(quote("plain é \u{2028}"), "\"plain é \u{2028}\"");
        assert_eq!(
            quote("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}"),
            r#""a\"b\\c\n\r\t\b\f\u0001\u001f""#.replace("\\u001f\"", "\\u001f\u{7f}\"")
        );
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn values_compact_and_canonical() {
        let v = parse(br#"{"b":[1,-2,2.50,1E2,true,null],"a":"x\u0041","\u20ac":1,"\ud83d\ude00":2,"\ufb33":3,"z":{}}"#)
            .unwrap();
        let mut out = String::new();
        push_json(&mut out, &v);
        assert_eq!(
            out,
            "{\"b\":[1,-2,2.5,100,true,null],\"a\":\"xA\",\"€\":1,\"😀\":2,\"\u{fb33}\":3,\"z\":{}}"
        );
        // Sorted by UTF-16 code units (RFC 8785 §3.2.3): U+1F600 is D83D DE00,
        // so it comes after U+20AC and before U+FB33.
        assert_eq!(
            canonical(&v),
            "{\"a\":\"xA\",\"b\":[1,-2,2.5,100,true,null],\"z\":{},\"€\":1,\"😀\":2,\"\u{fb33}\":3}"
        );
    }
}
