//! Object keys as Go's `encoding/json` matches them to struct fields.
//!
//! Owns: folding a key the way Go does (`ToUpper(ToLower(r))`, simple
//! mappings) and finding keys that are one key to a Go server. Servers
//! written in Go match member names case-insensitively, so an object holding
//! both `"amount"` and `"AMOUNT"` would be judged on one and run with the
//! other: the reader refuses it as a duplicate.
//!
//! Does not own: reading the keys (`read`).

use super::Json;
use std::borrow::Cow;

/// The first key that occurs twice, compared after escapes are decoded
/// (`"n\u0061me"` is `"name"`) and under Go's case folding (`"Name"`,
/// `"NAME"` and `"name"` are one key, see [`fold`]): servers written in Go match JSON keys
/// to fields case-insensitively, so an object holding both `"amount"` and
/// `"AMOUNT"` would be judged on one and run with the other.
pub(super) fn duplicate_key<'m>(members: &'m [(Cow<'_, str>, Json<'_>)]) -> Option<&'m str> {
    if members.len() <= 16 {
        for (i, (k, _)) in members.iter().enumerate() {
            if members
                .iter()
                .skip(i.saturating_add(1))
                .any(|(other, _)| same_key(other, k))
            {
                return Some(k);
            }
        }
        return None;
    }
    // Large objects: sort the folded keys instead of comparing every pair,
    // so a body of many keys cannot make reading quadratic.
    let mut folded: Vec<(String, usize)> = members
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (fold(k).collect(), i))
        .collect();
    crate::sort::sort(&mut folded);
    folded
        .windows(2)
        .find(|w| w.first().map(|a| &a.0) == w.get(1).map(|b| &b.0))
        .and_then(|w| w.get(1))
        .and_then(|(_, i)| members.get(*i))
        .map(|(k, _)| k.as_ref())
}

/// A key's characters folded as Go's `encoding/json` folds them when it
/// matches a key to a struct field: `unicode.ToUpper(unicode.ToLower(r))`,
/// with Unicode's one-character (simple) mappings. So `ſ` (long s) is `s`,
/// the Kelvin sign is `k`, and both dotless `ı` and dotted `İ` are `i`.
///
/// Computed as the lower case ([`LOWER`]), then [`SHARED_UPPER`] for the
/// few lower-case letters that share their upper case with another: the
/// same classes, without linking core's case tables (26 KB of `.wasm`). Unit
/// tests check every character against `to_lowercase` and `to_uppercase`.
fn fold(key: &str) -> impl Iterator<Item = char> + '_ {
    key.chars().map(fold_char)
}

fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let lower = lower(c);
    match SHARED_UPPER.binary_search_by_key(&lower, |&(from, _)| from) {
        Ok(i) => SHARED_UPPER.get(i).map_or(lower, |&(_, to)| to),
        Err(_) => lower,
    }
}

/// Unicode's simple lower-case mapping of `c`. U+0130 (İ) is the only
/// character whose full lower case is two characters (i and a combining
/// dot); its simple lower case is `i`.
fn lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let code = u32::from(c);
    let at = LOWER.partition_point(|&(start, ..)| start <= code);
    let Some(&(start, count, step, delta)) = at.checked_sub(1).and_then(|i| LOWER.get(i)) else {
        return c;
    };
    let offset = code.saturating_sub(start);
    // Steps are 1 or 2: the offset must land on one of the run's characters.
    let on_run = match step {
        1 => offset < u32::from(count),
        _ => offset & 1 == 0 && offset >> 1 < u32::from(count),
    };
    if !on_run {
        return c;
    }
    code.checked_add_signed(delta)
        .and_then(char::from_u32)
        .unwrap_or(c)
}

/// Every character whose lower case is another character, as runs:
/// `(first, count, step, delta)` maps `first + k * step` to itself plus
/// `delta` for `k < count`. Made from core's `to_lowercase` by the test
/// `lower_case_table_is_cores` (which prints it anew when Unicode changes).
#[rustfmt::skip]
const LOWER: [(u32, u8, u8, i32); 185] = [
    (0x0041, 26, 1, 32), (0x00C0, 23, 1, 32), (0x00D8, 7, 1, 32),
    (0x0100, 24, 2, 1), (0x0132, 3, 2, 1), (0x0139, 8, 2, 1),
    (0x014A, 23, 2, 1), (0x0178, 1, 1, -121), (0x0179, 3, 2, 1),
    (0x0181, 1, 1, 210), (0x0182, 2, 2, 1), (0x0186, 1, 1, 206),
    (0x0187, 1, 1, 1), (0x0189, 2, 1, 205), (0x018B, 1, 1, 1),
    (0x018E, 1, 1, 79), (0x018F, 1, 1, 202), (0x0190, 1, 1, 203),
    (0x0191, 1, 1, 1), (0x0193, 1, 1, 205), (0x0194, 1, 1, 207),
    (0x0196, 1, 1, 211), (0x0197, 1, 1, 209), (0x0198, 1, 1, 1),
    (0x019C, 1, 1, 211), (0x019D, 1, 1, 213), (0x019F, 1, 1, 214),
    (0x01A0, 3, 2, 1), (0x01A6, 1, 1, 218), (0x01A7, 1, 1, 1),
    (0x01A9, 1, 1, 218), (0x01AC, 1, 1, 1), (0x01AE, 1, 1, 218),
    (0x01AF, 1, 1, 1), (0x01B1, 2, 1, 217), (0x01B3, 2, 2, 1),
    (0x01B7, 1, 1, 219), (0x01B8, 1, 1, 1), (0x01BC, 1, 1, 1),
    (0x01C4, 1, 1, 2), (0x01C5, 1, 1, 1), (0x01C7, 1, 1, 2),
    (0x01C8, 1, 1, 1), (0x01CA, 1, 1, 2), (0x01CB, 9, 2, 1),
    (0x01DE, 9, 2, 1), (0x01F1, 1, 1, 2), (0x01F2, 2, 2, 1),
    (0x01F6, 1, 1, -97), (0x01F7, 1, 1, -56), (0x01F8, 20, 2, 1),
    (0x0220, 1, 1, -130), (0x0222, 9, 2, 1), (0x023A, 1, 1, 10795),
    (0x023B, 1, 1, 1), (0x023D, 1, 1, -163), (0x023E, 1, 1, 10792),
    (0x0241, 1, 1, 1), (0x0243, 1, 1, -195), (0x0244, 1, 1, 69),
    (0x0245, 1, 1, 71), (0x0246, 5, 2, 1), (0x0370, 2, 2, 1),
    (0x0376, 1, 1, 1), (0x037F, 1, 1, 116), (0x0386, 1, 1, 38),
    (0x0388, 3, 1, 37), (0x038C, 1, 1, 64), (0x038E, 2, 1, 63),
    (0x0391, 17, 1, 32), (0x03A3, 9, 1, 32), (0x03CF, 1, 1, 8),
    (0x03D8, 12, 2, 1), (0x03F4, 1, 1, -60), (0x03F7, 1, 1, 1),
    (0x03F9, 1, 1, -7), (0x03FA, 1, 1, 1), (0x03FD, 3, 1, -130),
    (0x0400, 16, 1, 80), (0x0410, 32, 1, 32), (0x0460, 17, 2, 1),
    (0x048A, 27, 2, 1), (0x04C0, 1, 1, 15), (0x04C1, 7, 2, 1),
    (0x04D0, 48, 2, 1), (0x0531, 38, 1, 48), (0x10A0, 38, 1, 7264),
    (0x10C7, 1, 1, 7264), (0x10CD, 1, 1, 7264), (0x13A0, 80, 1, 38864),
    (0x13F0, 6, 1, 8), (0x1C89, 1, 1, 1), (0x1C90, 43, 1, -3008),
    (0x1CBD, 3, 1, -3008), (0x1E00, 75, 2, 1), (0x1E9E, 1, 1, -7615),
    (0x1EA0, 48, 2, 1), (0x1F08, 8, 1, -8), (0x1F18, 6, 1, -8),
    (0x1F28, 8, 1, -8), (0x1F38, 8, 1, -8), (0x1F48, 6, 1, -8),
    (0x1F59, 4, 2, -8), (0x1F68, 8, 1, -8), (0x1F88, 8, 1, -8),
    (0x1F98, 8, 1, -8), (0x1FA8, 8, 1, -8), (0x1FB8, 2, 1, -8),
    (0x1FBA, 2, 1, -74), (0x1FBC, 1, 1, -9), (0x1FC8, 4, 1, -86),
    (0x1FCC, 1, 1, -9), (0x1FD8, 2, 1, -8), (0x1FDA, 2, 1, -100),
    (0x1FE8, 2, 1, -8), (0x1FEA, 2, 1, -112), (0x1FEC, 1, 1, -7),
    (0x1FF8, 2, 1, -128), (0x1FFA, 2, 1, -126), (0x1FFC, 1, 1, -9),
    (0x2126, 1, 1, -7517), (0x212A, 1, 1, -8383), (0x212B, 1, 1, -8262),
    (0x2132, 1, 1, 28), (0x2160, 16, 1, 16), (0x2183, 1, 1, 1),
    (0x24B6, 26, 1, 26), (0x2C00, 48, 1, 48), (0x2C60, 1, 1, 1),
    (0x2C62, 1, 1, -10743), (0x2C63, 1, 1, -3814), (0x2C64, 1, 1, -10727),
    (0x2C67, 3, 2, 1), (0x2C6D, 1, 1, -10780), (0x2C6E, 1, 1, -10749),
    (0x2C6F, 1, 1, -10783), (0x2C70, 1, 1, -10782), (0x2C72, 1, 1, 1),
    (0x2C75, 1, 1, 1), (0x2C7E, 2, 1, -10815), (0x2C80, 50, 2, 1),
    (0x2CEB, 2, 2, 1), (0x2CF2, 1, 1, 1), (0xA640, 23, 2, 1),
    (0xA680, 14, 2, 1), (0xA722, 7, 2, 1), (0xA732, 31, 2, 1),
    (0xA779, 2, 2, 1), (0xA77D, 1, 1, -35332), (0xA77E, 5, 2, 1),
    (0xA78B, 1, 1, 1), (0xA78D, 1, 1, -42280), (0xA790, 2, 2, 1),
    (0xA796, 10, 2, 1), (0xA7AA, 1, 1, -42308), (0xA7AB, 1, 1, -42319),
    (0xA7AC, 1, 1, -42315), (0xA7AD, 1, 1, -42305), (0xA7AE, 1, 1, -42308),
    (0xA7B0, 1, 1, -42258), (0xA7B1, 1, 1, -42282), (0xA7B2, 1, 1, -42261),
    (0xA7B3, 1, 1, 928), (0xA7B4, 8, 2, 1), (0xA7C4, 1, 1, -48),
    (0xA7C5, 1, 1, -42307), (0xA7C6, 1, 1, -35384), (0xA7C7, 2, 2, 1),
    (0xA7CB, 1, 1, -42343), (0xA7CC, 8, 2, 1), (0xA7DC, 1, 1, -42561),
    (0xA7F5, 1, 1, 1), (0xFF21, 26, 1, 32), (0x10400, 40, 1, 40),
    (0x104B0, 36, 1, 40), (0x10570, 11, 1, 39), (0x1057C, 15, 1, 39),
    (0x1058C, 7, 1, 39), (0x10594, 2, 1, 39), (0x10C80, 51, 1, 64),
    (0x10D50, 22, 1, 32), (0x118A0, 32, 1, 32), (0x16E40, 32, 1, 32),
    (0x16EA0, 25, 1, 27), (0x1E900, 34, 1, 34),
];

/// Lower-case letters whose upper case is also another letter's, mapped to
/// that letter (sorted by the first): `ı` and `i` are both `I`, `ς` and `σ`
/// both `Σ`. From Unicode's simple case mappings.
const SHARED_UPPER: [(char, char); 23] = [
    ('\u{b5}', '\u{3bc}'),    // micro sign -> mu
    ('\u{131}', 'i'),         // dotless i
    ('\u{17f}', 's'),         // long s
    ('\u{345}', '\u{3b9}'),   // combining ypogegrammeni -> iota
    ('\u{3c2}', '\u{3c3}'),   // final sigma -> sigma
    ('\u{3d0}', '\u{3b2}'),   // beta symbol
    ('\u{3d1}', '\u{3b8}'),   // theta symbol
    ('\u{3d5}', '\u{3c6}'),   // phi symbol
    ('\u{3d6}', '\u{3c0}'),   // pi symbol
    ('\u{3f0}', '\u{3ba}'),   // kappa symbol
    ('\u{3f1}', '\u{3c1}'),   // rho symbol
    ('\u{3f5}', '\u{3b5}'),   // lunate epsilon
    ('\u{1c80}', '\u{432}'),  // Cyrillic rounded ve
    ('\u{1c81}', '\u{434}'),  // long-legged de
    ('\u{1c82}', '\u{43e}'),  // narrow o
    ('\u{1c83}', '\u{441}'),  // wide es
    ('\u{1c84}', '\u{442}'),  // tall te
    ('\u{1c85}', '\u{442}'),  // three-legged te
    ('\u{1c86}', '\u{44a}'),  // tall hard sign
    ('\u{1c87}', '\u{463}'),  // tall yat
    ('\u{1c88}', '\u{a64b}'), // unblended uk -> monograph uk
    ('\u{1e9b}', '\u{1e61}'), // long s with dot above
    ('\u{1fbe}', '\u{3b9}'),  // prosgegrammeni -> iota
];

#[cfg(test)]
fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// Whether two keys are one key to a Go server: equal after [`fold`].
pub fn same_key(a: &str, b: &str) -> bool {
    a == b || (!(a.is_ascii() && b.is_ascii() && a.len() != b.len()) && fold(a).eq(fold(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn keys_equal_under_case_folding_are_duplicates() {
        for bad in [
            r#"{"name":"a","NAME":"b"}"#,
            r#"{"amount":1,"Amount":2}"#,
            r#"{"mask":1,"mas\u212a":2}"#,
            r#"{"pass":1,"pa\u017fs":2}"#,
            r#"{"caf\u00e9":1,"CAF\u00c9":2}"#,
            // Go: ToUpper(ToLower(r)) makes dotless ı and dotted İ an I.
            r#"{"limit":1,"l\u0131mit":2}"#,
            r#"{"id":1,"\u0130d":2}"#,
            r#"{"stra\u00dfe":1,"STRA\u1e9eE":2}"#,
            r#"{"\u1fb3":1,"\u1fbc":2}"#,
        ] {
            let err = parse(bad.as_bytes()).unwrap_err();
            assert!(err.0.contains("duplicate object key"), "{bad}: {err}");
        }
        let mut many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        many.push("\"K7\":0".into());
        assert!(parse(format!("{{{}}}", many.join(",")).as_bytes()).is_err());
        assert!(parse(br#"{"a":1,"b":2,"ab":3,"ba":4}"#).is_ok());
        // Different to Go too: ß is not SS, i with a dot above is two keys.
        assert!(parse(br#"{"strasse":1,"stra\u00dfe":2}"#).is_ok());
        assert!(parse(br#"{"i":1,"i\u0307":2}"#).is_ok());
        assert!(same_key("L\u{131}MIT", "limit") && same_key("\u{130}D", "id"));
    }

    /// `fold` puts two characters together exactly when Go's
    /// `ToUpper(ToLower(r))` does (simple mappings), for every character.
    #[test]
    fn fold_matches_go_for_every_character() {
        let go = |c: char| {
            let lower = single(c.to_lowercase()).unwrap_or('i');
            single(lower.to_uppercase()).unwrap_or(lower)
        };
        let mut by_go: std::collections::HashMap<char, char> = Default::default();
        let mut by_fold: std::collections::HashMap<char, char> = Default::default();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let (g, f) = (go(c), fold_char(c));
            // One fold per Go class and one Go class per fold: the same classes.
            assert_eq!(
                *by_go.entry(g).or_insert(f),
                f,
                "{c:?} (U+{:04X})",
                c as u32
            );
            assert_eq!(
                *by_fold.entry(f).or_insert(g),
                g,
                "{c:?} (U+{:04X})",
                c as u32
            );
        }
        assert!(SHARED_UPPER.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// `LOWER` is core's simple lower case, run-length coded.
    #[test]
    fn lower_case_table_is_cores() {
        let mut runs: Vec<(u32, u32, u32, i64)> = Vec::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let Some(l) = single(c.to_lowercase()).filter(|&l| l != c) else {
                continue;
            };
            let (c, d) = (c as u32, i64::from(l as u32) - i64::from(c as u32));
            if let Some(last) = runs.last_mut() {
                let (s, n, step, delta) = *last;
                if delta == d && c == s + n * step {
                    last.1 += 1;
                    continue;
                }
                if n == 1 && delta == d && c - s == 2 {
                    *last = (s, 2, 2, d);
                    continue;
                }
            }
            runs.push((c, 1, 1, d));
        }
        let ours: Vec<(u32, u32, u32, i64)> = LOWER
            .iter()
            .map(|&(s, n, step, d)| (s, n.into(), step.into(), d.into()))
            .collect();
        if ours != runs {
            let mut table = String::new();
            for (i, (s, n, step, d)) in runs.iter().enumerate() {
                table.push_str(if i % 3 == 0 { "\n    " } else { " " });
                table.push_str(&format!("(0x{s:04X}, {n}, {step}, {d}),"));
            }
            panic!(
                "core's Unicode tables changed; replace LOWER with:\n\
                 const LOWER: [(u32, u8, u8, i32); {}] = [{table}\n];",
                runs.len()
            );
        }
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(
                lower(c),
                single(c.to_lowercase()).unwrap_or('i'),
                "U+{:04X}",
                c as u32
            );
        }
    }
}
