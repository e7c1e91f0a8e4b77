//! The operators, applied to a value from the call.
//!
//! Owns: the meaning of each operator and the type rule. A condition is true,
//! false, or `Unknown` when the value present has the wrong type for the
//! operator (a string where `lte` wants a number, an object for `regex`, a
//! value of a type no element of an `in` list has). `Unknown` never lets a
//! call through: a `require` item or rule passes only on `True`, and a
//! `deny_if` item fires unless some condition is `False`. So an agent cannot
//! slip `"amount": "999999"` past `lte 50000` (which many servers would coerce
//! to a number), whichever way the policy was written.
//!
//! A condition is judged in every reading a server may make of the request
//! (`each_reading`): a string on the path that a Python server decodes as
//! JSON is read both as the string and as what it decodes to, and a number
//! is compared both as its nearest double and exactly (`json::Num`). When
//! the readings disagree, the condition is `Unknown`.
//!
//! A path that does not resolve is missing: every condition on it is false
//! except `exists: false`. A path missing only because a key on it differs
//! in case (`AMOUNT` for `amount`) is `Unknown`. `null` is a value (SPEC
//! Appendix A: missing means the path does not resolve): it exists, equals
//! only `null`, is in a list only with `null`, and is the wrong type for
//! the numeric operators, `regex` and `contains`.

use crate::json::{self, Json, Num, Object};
use crate::policy::{ArgPath, Test};

/// The longest string a `regex` condition is applied to (bytes); a longer
/// value makes the condition unknown, which denies (README, "Conditions").
/// A pattern with assertions inside it runs as an NFA, whose cost per byte
/// grows with the pattern: the bound keeps that in check.
pub const REGEX_MAX_INPUT: usize = 4096;

/// Three-valued result of a condition (Kleene logic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// The value has the wrong type for the operator.
    Unknown,
}

impl Truth {
    pub fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Unknown,
        }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

/// One way a server may read the value at a path.
#[derive(Debug, Clone, Copy)]
pub enum Reading<'r> {
    /// The path does not resolve.
    Missing,
    Value(&'r Json<'r>),
    /// No reading can be known: a key on the path is spelled in another
    /// case, or a string on it is JSON only Python's lenient reader takes.
    Unknown(Unknowable),
}

/// Why a reading cannot be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknowable {
    /// `AMOUNT` where the path says `amount`: a Go server reads it as the
    /// field, an exact-matching one ignores it.
    SpelledDifferently,
    /// A string that Python decodes as JSON and the strict reader refuses.
    Undecodable,
    /// More decoded strings on the path than the filter follows.
    TooDeep,
}

/// How many strings on one path are decoded before readings count as unknown.
const MAX_DECODED: u32 = 8;

/// Calls `f` with every reading of `path` in the arguments. A string on the
/// path that a server may decode as JSON (`json::decode_string`) gives two
/// readings: the string, and what it decodes to. So a condition on
/// `args.a.b` sees both `a = "{\"b\": 1}"` (where `b` is missing) and
/// `a = {"b": 1}` (where it is 1), as a Python server would run it.
pub fn each_reading(args: Option<&Object<'_>>, path: &ArgPath, f: &mut dyn FnMut(Reading<'_>)) {
    let mut segments = path.segments.iter();
    let (Some(args), Some(first)) = (args, segments.next()) else {
        f(Reading::Missing);
        return;
    };
    let rest: Vec<&str> = segments.map(String::as_str).collect();
    let mut budget = MAX_DECODED;
    match args.get(first) {
        Some(v) => walk(v, &rest, &mut budget, f),
        None if args.keys().any(|k| json::same_key(k, first)) => {
            f(Reading::Unknown(Unknowable::SpelledDifferently))
        }
        None => f(Reading::Missing),
    }
}

fn walk(value: &Json<'_>, rest: &[&str], budget: &mut u32, f: &mut dyn FnMut(Reading<'_>)) {
    if let Json::Str(s) = value {
        match json::decode_string(s) {
            json::Decoded::No => {}
            json::Decoded::Unreadable => f(Reading::Unknown(Unknowable::Undecodable)),
            json::Decoded::Value(decoded) => {
                if *budget == 0 {
                    f(Reading::Unknown(Unknowable::TooDeep));
                } else {
                    *budget = budget.saturating_sub(1);
                    walk(&decoded, rest, budget, f);
                }
            }
        }
    }
    let Some((segment, rest)) = rest.split_first() else {
        f(Reading::Value(value));
        return;
    };
    match value {
        Json::Obj(o) => match o.get(segment) {
            Some(v) => walk(v, rest, budget, f),
            None if o.keys().any(|k| json::same_key(k, segment)) => {
                f(Reading::Unknown(Unknowable::SpelledDifferently))
            }
            None => f(Reading::Missing),
        },
        Json::Arr(items) => match segment.parse::<usize>().ok().and_then(|i| items.get(i)) {
            Some(v) => walk(v, rest, budget, f),
            None => f(Reading::Missing),
        },
        _ => f(Reading::Missing),
    }
}

/// A condition on an argument path, over every reading: the readings'
/// common answer, or `Unknown` when they differ (or one cannot be known).
pub fn judge_path(args: Option<&Object<'_>>, path: &ArgPath, test: &Test) -> Truth {
    let mut answer: Option<Truth> = None;
    each_reading(args, path, &mut |reading| {
        let t = match reading {
            Reading::Missing => apply(test, None),
            Reading::Value(v) => apply(test, Some(v)),
            Reading::Unknown(_) => Truth::Unknown,
        };
        answer = Some(match answer {
            None => t,
            Some(seen) if seen == t => t,
            Some(_) => Truth::Unknown,
        });
    });
    answer.unwrap_or(Truth::Unknown)
}

/// The value at `path` as written in the request, without decoding strings
/// (for messages); `None` when it does not resolve.
pub fn resolve<'v, 'a>(args: Option<&'v Object<'a>>, path: &ArgPath) -> Option<&'v Json<'a>> {
    let mut segments = path.segments.iter();
    let first = segments.next()?;
    let mut value = args?.get(first)?;
    for seg in segments {
        value = match value {
            Json::Obj(o) => o.get(seg)?,
            Json::Arr(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Applies `test` to a resolved value (`None` = missing).
pub fn apply(test: &Test, value: Option<&Json<'_>>) -> Truth {
    let Some(value) = value else {
        return Truth::from_bool(matches!(test, Test::Exists(false)));
    };
    match test {
        Test::Exists(expected) => Truth::from_bool(*expected),
        Test::Eq(expected) => compare(value, expected),
        Test::Neq(expected) => compare(value, expected).not(),
        Test::In(list) => member(value, list),
        Test::NotIn(list) => member(value, list).not(),
        Test::Lt(n) => numeric(value, *n, |o| o.is_lt()),
        Test::Lte(n) => numeric(value, *n, |o| o.is_le()),
        Test::Gt(n) => numeric(value, *n, |o| o.is_gt()),
        Test::Gte(n) => numeric(value, *n, |o| o.is_ge()),
        Test::Regex(re) => match value {
            // A regex costs time per byte of input and the caller picks the
            // input: longer strings are not matched, and count as unknown.
            Json::Str(s) if s.len() > REGEX_MAX_INPUT => Truth::Unknown,
            Json::Str(s) => Truth::from_bool(re.is_match(s)),
            _ => Truth::Unknown,
        },
        Test::Contains(expected) => match (value, expected) {
            (Json::Str(s), Json::Str(needle)) => Truth::from_bool(s.contains(needle.as_ref())),
            (Json::Arr(items), _) => any_equal(expected, items),
            _ => Truth::Unknown,
        },
    }
}

/// What the value should have been, when `apply` says `Unknown`.
pub fn expected_type(test: &Test) -> &'static str {
    match test {
        Test::Lt(_) | Test::Lte(_) | Test::Gt(_) | Test::Gte(_) => "a number",
        Test::Regex(_) => "a string of at most 4096 bytes",
        Test::Contains(Json::Str(_)) => "a string or a list",
        Test::Contains(_) => "a list",
        Test::In(_) | Test::NotIn(_) => "a value of the type of the list's elements",
        Test::Eq(v) | Test::Neq(v) => match v {
            Json::Null | Json::Bool(_) => "a boolean",
            Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Arr(_) => "a list",
            Json::Obj(_) => "an object",
        },
        Test::Exists(_) => "any value",
    }
}

/// A comparison in both readings of the numbers (nearest double, exact):
/// their common answer, or `Unknown`.
fn numeric(value: &Json<'_>, bound: Num, holds: fn(std::cmp::Ordering) -> bool) -> Truth {
    let Json::Num(n) = value else {
        return Truth::Unknown;
    };
    match n.cmp_readings(bound) {
        Some((double, Some(exact))) if holds(double) == holds(exact) => {
            Truth::from_bool(holds(double))
        }
        _ => Truth::Unknown,
    }
}

/// `eq`: equal values are `True`; values of different JSON types are
/// `Unknown`, except `null`, which equals only `null` (never `Unknown`).
fn compare(value: &Json<'_>, expected: &Json<'_>) -> Truth {
    if matches!(expected, Json::Null) || matches!(value, Json::Null) {
        return Truth::from_bool(matches!((value, expected), (Json::Null, Json::Null)));
    }
    if same_type(value, expected) {
        equality(value, expected)
    } else {
        Truth::Unknown
    }
}

/// `in`: `True` when an element equals the value, `Unknown` when no element
/// even has the value's type, or when readers may disagree about one.
fn member(value: &Json<'_>, list: &[Json<'_>]) -> Truth {
    match any_equal(value, list) {
        Truth::False
            if !(list.is_empty()
                || matches!(value, Json::Null)
                || list.iter().any(|item| same_type(value, item))) =>
        {
            Truth::Unknown
        }
        t => t,
    }
}

/// Whether some item equals `value`: `True` if one surely does, `Unknown`
/// if none surely does and readers may disagree about one.
fn any_equal(value: &Json<'_>, items: &[Json<'_>]) -> Truth {
    let mut answer = Truth::False;
    for item in items {
        match equality(value, item) {
            Truth::True => return Truth::True,
            Truth::Unknown => answer = Truth::Unknown,
            Truth::False => {}
        }
    }
    answer
}

fn same_type(a: &Json<'_>, b: &Json<'_>) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Deep equality as every reader sees it: numbers by value in both their
/// readings (`json::Num::cmp_value`), objects regardless of member order;
/// `Unknown` when readers may disagree.
pub fn equality(a: &Json<'_>, b: &Json<'_>) -> Truth {
    match (a, b) {
        (Json::Num(x), Json::Num(y)) => match x.cmp_value(*y) {
            Some(std::cmp::Ordering::Equal) => Truth::True,
            Some(_) => Truth::False,
            None => Truth::Unknown,
        },
        (Json::Arr(x), Json::Arr(y)) => {
            if x.len() != y.len() {
                return Truth::False;
            }
            x.iter()
                .zip(y)
                .fold(Truth::True, |t, (p, q)| t.and(equality(p, q)))
        }
        (Json::Obj(x), Json::Obj(y)) => {
            if x.len() != y.len() {
                return Truth::False;
            }
            x.0.iter().fold(Truth::True, |t, (k, v)| {
                t.and(y.get(k).map_or(Truth::False, |w| equality(v, w)))
            })
        }
        (a, b) => Truth::from_bool(equal(a, b)),
    }
}

/// Deep equality: numbers by value, objects regardless of member order.
pub fn equal(a: &Json<'_>, b: &Json<'_>) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Num(x), Json::Num(y)) => x == y,
        (Json::Str(x), Json::Str(y)) => x == y,
        (Json::Arr(x), Json::Arr(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Json::Obj(x), Json::Obj(y)) => {
            x.len() == y.len()
                && x.0
                    .iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_owned;
    use Truth::{False as F, True as T, Unknown as U};

    fn test(op: &str, value: &str) -> Test {
        let text = format!(r#"{{"path":"args.v","op":"{op}","value":{value}}}"#);
        let v = parse_owned(&text).unwrap();
        let mut report = crate::fields::Report::default();
        crate::policy::read_condition(&v, &crate::fields::Loc::root(), &mut report)
            .unwrap()
            .test
    }

    fn run(op: &str, value: &str, actual: Option<&str>) -> Truth {
        let actual = actual.map(|a| parse_owned(a).unwrap());
        apply(&test(op, value), actual.as_ref())
    }

    #[test]
    fn every_operator() {
        let cases: &[(&str, &str, Option<&str>, Truth)] = &[
            ("eq", "5", Some("5.0"), T),
            ("eq", "5", Some("5"), T),
            ("eq", "5", Some("6"), F),
            ("eq", "5", Some("\"5\""), U),
            ("eq", "\"main\"", Some("\"main\""), T),
            ("eq", "\"main\"", Some("\"dev\""), F),
            ("eq", "\"main\"", Some("[\"main\"]"), U),
            ("eq", "true", Some("true"), T),
            ("eq", "{\"a\":[1,2]}", Some("{\"a\":[1.0,2]}"), T),
            ("eq", "null", Some("1"), F),
            ("neq", "\"draft\"", Some("\"final\""), T),
            ("neq", "\"draft\"", Some("\"draft\""), F),
            ("neq", "\"draft\"", Some("7"), U),
            ("in", "[\"usd\",\"eur\"]", Some("\"usd\""), T),
            ("in", "[\"usd\",\"eur\"]", Some("\"gbp\""), F),
            ("in", "[\"usd\",\"eur\"]", Some("5"), U),
            ("in", "[1,2,3]", Some("2.0"), T),
            ("in", "[]", Some("1"), F),
            ("not_in", "[\"admin\"]", Some("\"user\""), T),
            ("not_in", "[\"admin\"]", Some("\"admin\""), F),
            ("not_in", "[\"admin\"]", Some("[\"admin\"]"), U),
            ("lt", "100", Some("99.5"), T),
            ("lt", "100", Some("100"), F),
            ("lte", "100", Some("100.0"), T),
            ("lte", "50000", Some("\"60000\""), U),
            // One double, two integers: JavaScript and Python disagree.
            ("lte", "9007199254740992", Some("9007199254740993"), U),
            ("lte", "9007199254740994", Some("9007199254740993"), T),
            ("gte", "9007199254740993", Some("9007199254740992"), U),
            // Equal as doubles, greater exactly: gte holds in both readings.
            ("gte", "9007199254740992", Some("9007199254740993"), T),
            ("lt", "9007199254740992", Some("9007199254740993"), F),
            ("in", "[9007199254740992]", Some("9007199254740993"), U),
            ("not_in", "[9007199254740993]", Some("9007199254740992"), U),
            (
                "contains",
                "9007199254740993",
                Some("[9007199254740992]"),
                U,
            ),
            ("lte", "9007199254740996", Some("9007199254740993"), T),
            ("eq", "0.1", Some("0.10"), T),
            ("eq", "0.1", Some("0.10000000000000001"), U),
            ("lte", "19.99", Some("19.99"), T),
            ("gt", "0", Some("-1"), F),
            ("gt", "0", Some("1e-9"), T),
            ("gte", "1", Some("1"), T),
            ("gte", "1", Some("true"), U),
            ("regex", "\"^feat/\"", Some("\"feat/x\""), T),
            ("regex", "\"^feat/\"", Some("\"fix/x\""), F),
            ("regex", "\"^feat/\"", Some("5"), U),
            (
                "regex",
                "\".*\"",
                Some(&format!("\"{}\"", "a".repeat(REGEX_MAX_INPUT + 1))),
                U,
            ),
            (
                "regex",
                "\".*\"",
                Some(&format!("\"{}\"", "a".repeat(REGEX_MAX_INPUT))),
                T,
            ),
            ("contains", "\"test\"", Some("\"a test run\""), T),
            ("contains", "\"test\"", Some("\"prod\""), F),
            ("contains", "\"x\"", Some("[\"a\",\"x\"]"), T),
            ("contains", "\"x\"", Some("[\"a\",5]"), F),
            ("contains", "5", Some("[5.0]"), T),
            ("contains", "\"x\"", Some("{\"x\":1}"), U),
            ("contains", "5", Some("\"a5\""), U),
            ("exists", "true", Some("1"), T),
            ("exists", "false", Some("1"), F),
        ];
        for (op, value, actual, expected) in cases {
            assert_eq!(
                run(op, value, *actual),
                *expected,
                "{op} {value} on {actual:?}"
            );
        }
    }

    #[test]
    fn missing_is_false_except_exists_false() {
        for (op, value) in [
            ("eq", "1"),
            ("neq", "1"),
            ("in", "[1]"),
            ("not_in", "[1]"),
            ("lt", "1"),
            ("lte", "1"),
            ("gt", "1"),
            ("gte", "1"),
            ("regex", "\".*\""),
            ("contains", "\"\""),
            ("exists", "true"),
        ] {
            assert_eq!(run(op, value, None), F, "{op}");
        }
        assert_eq!(run("exists", "false", None), T);
    }

    #[test]
    fn null_is_a_value() {
        let null = Some("null");
        for (op, value, expected) in [
            ("exists", "true", T),
            ("exists", "false", F),
            ("eq", "null", T),
            ("eq", "1", F),
            ("eq", "\"prod\"", F),
            ("neq", "\"prod\"", T),
            ("neq", "null", F),
            ("in", "[1]", F),
            ("in", "[1,null]", T),
            ("not_in", "[\"a\"]", T),
            ("lt", "1", U),
            ("gte", "1", U),
            ("regex", "\".*\"", U),
            ("contains", "\"\"", U),
        ] {
            assert_eq!(run(op, value, null), expected, "{op} {value} on null");
        }
        assert_eq!(run("eq", "null", Some("0")), F);
    }

    #[test]
    fn paths_descend_objects_and_arrays() {
        let args = parse_owned(r#"{"a":{"b":[{"c":1}]},"n":null}"#).unwrap();
        let args = args.as_object();
        let at = |p: &str| resolve(args, &ArgPath::parse(p).unwrap()).map(Json::to_text);
        assert_eq!(at("args.a.b.0.c").as_deref(), Some("1"));
        assert_eq!(at("args.a.b.1.c"), None);
        assert_eq!(at("args.a.b.x"), None);
        assert_eq!(at("args.a.b.0.c.d"), None);
        assert_eq!(at("args.n").as_deref(), Some("null"));
        assert_eq!(resolve(None, &ArgPath::parse("args.a").unwrap()), None);
    }

    #[test]
    fn strings_servers_decode_are_judged_in_both_readings() {
        let args = parse_owned(
            r#"{"a":"{\"b\":1}","s":"plain","n":"null","l":"[\"x\"]","bad":"{\"b\":NaN}",
                "both":"{\"b\":2}","AMOUNT":5,"deep":"{\"c\":\"{\\\"d\\\":1}\"}"}"#,
        )
        .unwrap();
        let args = args.as_object();
        let judge = |p: &str, op: &str, value: &str| {
            judge_path(args, &ArgPath::parse(p).unwrap(), &test(op, value))
        };
        // Missing to a TypeScript server, 1 to a Python one.
        assert_eq!(judge("args.a.b", "exists", "true"), U);
        assert_eq!(judge("args.a.b", "exists", "false"), U);
        assert_eq!(judge("args.a.b", "eq", "1"), U);
        assert_eq!(judge("args.a", "exists", "true"), T);
        assert_eq!(judge("args.s", "eq", "\"plain\""), T);
        // A list and its text both contain "x".
        assert_eq!(judge("args.l", "contains", "\"x\""), T);
        assert_eq!(judge("args.n", "eq", "null"), U);
        assert_eq!(judge("args.bad.b", "exists", "true"), U);
        assert_eq!(judge("args.amount", "exists", "true"), U);
        assert_eq!(judge("args.deep.c.d", "exists", "true"), U);
        assert_eq!(judge("args.missing", "exists", "false"), T);
    }

    #[test]
    fn kleene_and() {
        assert_eq!(T.and(T), T);
        assert_eq!(T.and(U), U);
        assert_eq!(U.and(F), F);
        assert_eq!(F.and(U), F);
    }
}
