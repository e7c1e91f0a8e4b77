//! Strict JSON values, borrowed from the bytes they were read from.
//!
//! Owns: reading JSON the way a policy enforcement point must, where two parsers
//! that disagree are a bypass. Duplicate object keys, invalid UTF-8, lone
//! surrogates, trailing data and numbers out of range are errors; nesting is
//! bounded by serde_json's recursion limit (128). Strings without escapes are
//! borrowed, so reading a body costs little more than scanning it.
//!
//! Does not own: what the JSON means (see `mcp` for JSON-RPC, `policy` for
//! configuration).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// One JSON value. Objects keep their members in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    Arr(Vec<Json<'a>>),
    Obj(Object<'a>),
}

/// A JSON number, kept exact when it is an integer.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    U(u64),
    I(i64),
    F(f64),
}

/// Object members in document order; keys are unique (checked when read).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a>(pub Vec<(Cow<'a, str>, Json<'a>)>);

/// Why bytes are not strict JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonError(pub String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads one strict JSON document that fills `bytes` (whitespace aside).
pub fn parse(bytes: &[u8]) -> Result<Json<'_>, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| JsonError(e.to_string()))
}

/// Reads strict JSON from text and detaches it from the text.
pub fn parse_owned(text: &str) -> Result<Json<'static>, JsonError> {
    parse(text.as_bytes()).map(Json::into_owned)
}

impl<'a> Json<'a> {
    /// The JSON type name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Num(_) => "number",
            Json::Str(_) => "string",
            Json::Arr(_) => "array",
            Json::Obj(_) => "object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Obj(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_num(&self) -> Option<Num> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// Member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// Detaches the value from the bytes it borrows from.
    pub fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Num(n) => Json::Num(n),
            Json::Str(s) => Json::Str(Cow::Owned(s.into_owned())),
            Json::Arr(items) => Json::Arr(items.into_iter().map(Json::into_owned).collect()),
            Json::Obj(o) => Json::Obj(o.into_owned()),
        }
    }

    /// Compact JSON text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl<'a> Object<'a> {
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_owned(self) -> Object<'static> {
        Object(
            self.0
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                .collect(),
        )
    }
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    /// Numeric order by value, exact for integers of any size JSON-RPC
    /// carries, so `5 == 5.0` and 2^53 + 1 is not 2^53. `None` only for NaN,
    /// which strict JSON cannot carry.
    pub fn cmp_value(self, other: Num) -> Option<Ordering> {
        match (self.as_i128(), other.as_i128()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => self.as_f64().partial_cmp(&other.as_f64()),
        }
    }

    /// The value as an integer when it is one exactly (a float with no
    /// fraction counts, within the range where that is exact).
    fn as_i128(self) -> Option<i128> {
        match self {
            Num::U(u) => Some(i128::from(u)),
            Num::I(i) => Some(i128::from(i)),
            Num::F(f) if f.fract() == 0.0 && f.abs() < 1e38 => Some(f as i128),
            Num::F(_) => None,
        }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.cmp_value(*other) == Some(Ordering::Equal)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::U(u) => write!(f, "{u}"),
            Num::I(i) => write!(f, "{i}"),
            // serde_json's float formatting is already in the module; core's
            // would add its own.
            Num::F(x) => f.write_str(&serde_json::to_string(x).unwrap_or_default()),
        }
    }
}

// ---- reading ----

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor(std::marker::PhantomData))
    }
}

struct JsonVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'a>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'a>, E> {
        Ok(Json::Num(Num::U(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'a>, E> {
        Ok(Json::Num(Num::I(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'a>, E> {
        if v.is_finite() {
            Ok(Json::Num(Num::F(v)))
        } else {
            Err(E::custom("number out of range"))
        }
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        let mut members: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        if let Some(dup) = duplicate_key(&members) {
            return Err(de::Error::custom(format_args!(
                "duplicate object key {dup:?}"
            )));
        }
        Ok(Json::Obj(Object(members)))
    }
}

/// The first key that occurs twice, compared after escapes are decoded
/// (`"n\u0061me"` is `"name"`) and under Go's case folding (`"Name"`,
/// `"NAME"` and `"name"` are one key, see [`fold`]): servers written in Go match JSON keys
/// to fields case-insensitively, so an object holding both `"amount"` and
/// `"AMOUNT"` would be judged on one and run with the other.
fn duplicate_key<'m>(members: &'m [(Cow<'_, str>, Json<'_>)]) -> Option<&'m str> {
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

/// An object key that borrows from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

// ---- writing ----

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Num(Num::U(u)) => s.serialize_u64(*u),
            Json::Num(Num::I(i)) => s.serialize_i64(*i),
            Json::Num(Num::F(f)) => s.serialize_f64(*f),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Obj(o) => o.serialize(s),
        }
    }
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_borrows() {
        let text = br#"{"a":[1,-2,2.5,true,null],"b":"plain","c":"esc\u0041"}"#;
        let v = parse(text).unwrap();
        assert!(matches!(
            v.get("b"),
            Some(Json::Str(Cow::Borrowed("plain")))
        ));
        assert_eq!(v.get("c").and_then(Json::as_str), Some("escA"));
        assert_eq!(
            v.to_text(),
            r#"{"a":[1,-2,2.5,true,null],"b":"plain","c":"escA"}"#
        );
    }

    #[test]
    fn refuses_what_parsers_disagree_on() {
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"name":1,"n\u0061me":2}"#,
            br#"{"a":1} {"b":2}"#,
            br#"{"a":1}x"#,
            b"{\"a\":\"\xff\"}",
            br#"{"a":"\ud800"}"#,
            br#"{"a":1e400}"#,
            br#"{"a":NaN}"#,
            br#"{"a":1,}"#,
            br#"'a'"#,
            b"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn duplicate_keys_in_large_objects() {
        let mut members: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(parse(format!("{{{}}}", members.join(",")).as_bytes()).is_ok());
        members.push("\"k42\":0".into());
        let err = parse(format!("{{{}}}", members.join(",")).as_bytes()).unwrap_err();
        assert!(err.0.contains("duplicate object key \"k42\""), "{err}");
    }

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

    #[test]
    fn numbers_compare_by_value() {
        let five = Num::U(5);
        assert_eq!(five, Num::F(5.0));
        assert_eq!(Num::I(-3), Num::F(-3.0));
        assert_ne!(Num::U(9_007_199_254_740_993), Num::U(9_007_199_254_740_992));
        assert_eq!(
            Num::U(9_007_199_254_740_993).cmp_value(Num::F(9_007_199_254_740_992.0)),
            Some(Ordering::Greater)
        );
        assert_eq!(Num::F(4.5).cmp_value(five), Some(Ordering::Less));
        assert_eq!(Num::I(-1).cmp_value(Num::U(u64::MAX)), Some(Ordering::Less));
    }
}
