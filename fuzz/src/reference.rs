//! An independent reading of JSON, to hold `mcp_policy::json` against.
//!
//! serde_json's own `Value` (what most MCP servers written in Rust would
//! read; last duplicate wins) plus a duplicate-key check written here with a
//! hash set, per object, on decoded keys. The filter's reader must accept
//! exactly the documents this one reads without duplicates.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::collections::HashSet;
use std::fmt;

/// A document as a lenient server reads it, and whether some object in it
/// has a key twice.
#[derive(Debug)]
pub struct Reading {
    pub value: Value,
    /// Some object has a key twice (after escapes are decoded).
    pub duplicate_keys: bool,
    /// Some object has two keys equal under case folding (`name`, `NAME`),
    /// which Go's `encoding/json` reads as one field.
    pub folded_duplicate_keys: bool,
}

/// Whether `mcp_policy::json` treats keys equal under case folding as
/// duplicates (it does from the commit that documents it in json.rs).
pub fn filter_folds_keys() -> bool {
    static FOLDS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOLDS.get_or_init(|| mcp_policy::json::parse(br#"{"a":1,"A":2}"#).is_err())
}

impl Reading {
    /// Whether the strict reader must refuse this document for its keys.
    pub fn has_duplicates(&self) -> bool {
        self.duplicate_keys || (filter_folds_keys() && self.folded_duplicate_keys)
    }
}

/// A key as Go's `encoding/json` folds it to find a field, written here:
/// `unicode.ToUpper(unicode.ToLower(r))` per character, one-character
/// mappings only. Rust gives full mappings; where one has several
/// characters, U+0130's lower case starts with its simple one (`i`), and an
/// upper case of several characters leaves the character as it was.
pub fn folded(key: &str) -> String {
    key.chars()
        .map(|c| {
            let lower = c.to_lowercase().next().unwrap_or(c);
            let mut upper = lower.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => lower,
            }
        })
        .collect()
}

pub fn parse(bytes: &[u8]) -> Result<Reading, String> {
    serde_json::from_slice::<Checked>(bytes)
        .map(|c| Reading {
            value: c.0,
            duplicate_keys: c.1,
            folded_duplicate_keys: c.2,
        })
        .map_err(|e| e.to_string())
}

struct Checked(Value, bool, bool);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked(Value::Null, false, false))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Checked, E> {
        Ok(Checked(Value::Bool(v), false, false))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Checked, E> {
        Ok(Checked(Value::Number(v.into()), false, false))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Checked, E> {
        Ok(Checked(Value::Number(v.into()), false, false))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Checked, E> {
        Number::from_f64(v)
            .map(|n| Checked(Value::Number(n), false, false))
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Checked, E> {
        Ok(Checked(Value::String(v.to_owned()), false, false))
    }
    fn visit_string<E>(self, v: String) -> Result<Checked, E> {
        Ok(Checked(Value::String(v), false, false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        let mut items = Vec::new();
        let (mut dup, mut fdup) = (false, false);
        while let Some(Checked(v, d, f)) = seq.next_element()? {
            dup |= d;
            fdup |= f;
            items.push(v);
        }
        Ok(Checked(Value::Array(items), dup, fdup))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        let mut members = Map::new();
        let mut seen = HashSet::new();
        let mut seen_folded = HashSet::new();
        let (mut dup, mut fdup) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            let Checked(v, d, f) = map.next_value()?;
            dup |= d;
            fdup |= f;
            if !seen.insert(key.clone()) {
                dup = true;
            }
            if !seen_folded.insert(folded(&key)) {
                fdup = true;
            }
            members.insert(key, v);
        }
        Ok(Checked(Value::Object(members), dup, fdup))
    }
}

/// Whether the filter's value and the reference's are the same document
/// (numbers by value; objects as maps, so only without duplicates).
pub fn same(a: &mcp_policy::json::Json<'_>, b: &Value) -> bool {
    use mcp_policy::json::{Json, Num};
    match (a, b) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(x), Value::Bool(y)) => x == y,
        (Json::Num(n), Value::Number(m)) => match (*n, m.as_u64(), m.as_i64(), m.as_f64()) {
            (Num::U(x), Some(y), _, _) => x == y,
            (Num::I(x), _, Some(y), _) => x == y,
            (Num::F(x) | Num::D(x, _), None, None, Some(y)) => x.to_bits() == y.to_bits(),
            _ => false,
        },
        (Json::Str(x), Value::String(y)) => x == y,
        (Json::Arr(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Json::Obj(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.0
                    .iter()
                    .all(|(k, v)| y.get(k.as_ref()).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}
