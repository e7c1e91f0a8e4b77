//! Strict JSON values, borrowed from the bytes they were read from.
//!
//! Owns: the JSON value type and writing it back. Reading is strict (`read`):
//! where two parsers could disagree, the document is refused. `scan` checks
//! the same way without building the value (tool lists in responses). Numbers know
//! how every reader sees them (`num`); keys are compared as Go folds them
//! (`fold`); strings a server may decode as JSON are recognised (`decoded`).
//!
//! Does not own: what the JSON means (see `mcp` for JSON-RPC, `policy` for
//! configuration).

#[cfg(feature = "serde")]
mod de;
mod decoded;
mod fold;
mod num;
mod read;
pub mod scan;
pub mod spans;
pub mod write;

pub use decoded::{decode_string, Decoded};
pub use fold::same_key;
pub use num::{Dec, Num};
pub use read::parse;

/// How many bytes from the start of `s` need no escape in a JSON string
/// (no quote, backslash or control character), eight at a time.
pub fn plain_len(s: &[u8]) -> usize {
    read::plain_run(s, 0).0
}

/// From `at`, where the first quote, backslash or control character is
/// (`s.len()` if none), and whether a byte above 0x7F came before it.
pub fn plain_run_from(s: &[u8], at: usize) -> (usize, bool) {
    read::plain_run(s, at)
}

use std::borrow::Cow;
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

    /// Compact JSON text, members in document order (`write`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        write::push_json(&mut out, self);
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

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
    fn numbers_compare_by_value() {
        let five = Num::U(5);
        assert_eq!(five, Num::F(5.0));
        assert_eq!(Num::I(-3), Num::F(-3.0));
        assert_ne!(Num::U(9_007_199_254_740_993), Num::U(9_007_199_254_740_992));
        // One double, two integers: readers disagree, so no order.
        assert_eq!(
            Num::U(9_007_199_254_740_993).cmp_value(Num::F(9_007_199_254_740_992.0)),
            None
        );
        assert_eq!(Num::F(4.5).cmp_value(five), Some(Ordering::Less));
        assert_eq!(Num::I(-1).cmp_value(Num::U(u64::MAX)), Some(Ordering::Less));
    }
}
