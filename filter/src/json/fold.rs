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
    folded.sort();
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
/// Computed as the lower case, then [`SHARED_UPPER`] for the few lower-case
/// letters that share their upper case with another: the same classes,
/// without linking the upper-case tables (14 KB of `.wasm`). A unit test
/// checks every character against `to_uppercase`.
fn fold(key: &str) -> impl Iterator<Item = char> + '_ {
    key.chars().map(fold_char)
}

fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    // U+0130 (İ) is the only character whose lower case is two characters
    // (i and a combining dot); its simple lower case is `i`.
    let lower = single(c.to_lowercase()).unwrap_or('i');
    match SHARED_UPPER.binary_search_by_key(&lower, |&(from, _)| from) {
        Ok(i) => SHARED_UPPER.get(i).map_or(lower, |&(_, to)| to),
        Err(_) => lower,
    }
}

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
}
