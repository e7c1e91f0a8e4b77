//! What the built-in policies `ops` and `charges` must decide about a call,
//! worked out here from the README's rules on the reference reading of the
//! body, without the engine. Where the answer hangs on a detail this oracle
//! does not model (a number within rounding of a bound, a regular expression
//! on unusual text, counters shared by several calls of a batch) it says
//! `Unsure` and the target asserts nothing.

use serde_json::{Map, Value};

const REGEX_MAX: usize = mcp_policy::engine::conditions::REGEX_MAX_INPUT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Block,
    Allow,
    Unsure,
}

/// One condition, as the README defines it, plus `Unsure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    True,
    False,
    /// A value of the wrong type for the operator.
    Unknown,
    /// This oracle cannot tell.
    Unsure,
}

fn from(b: bool) -> T {
    if b {
        T::True
    } else {
        T::False
    }
}

/// A `require` item or rule: passes only when every condition is true.
fn require(conds: &[T]) -> Expect {
    if conds.iter().any(|c| matches!(c, T::False | T::Unknown)) {
        Expect::Block
    } else if conds.contains(&T::Unsure) {
        Expect::Unsure
    } else {
        Expect::Allow
    }
}

/// A `deny_if` item: fires unless one of its conditions is false.
fn deny_if(conds: &[T]) -> Expect {
    if conds.contains(&T::False) {
        Expect::Allow
    } else if conds.contains(&T::Unsure) {
        Expect::Unsure
    } else {
        Expect::Block
    }
}

/// Every check must pass: one block blocks; otherwise unsure if any is.
fn all(checks: &[Expect]) -> Expect {
    if checks.contains(&Expect::Block) {
        Expect::Block
    } else if checks.contains(&Expect::Unsure) {
        Expect::Unsure
    } else {
        Expect::Allow
    }
}

/// `args.<path>` as the README reads it: `Some(None)` when it does not
/// resolve, `Some(Some(v))` for a value (`null` included), and `None` when
/// it is missing only because a key on it is spelled in another case (Go's
/// folding), which makes every condition on it unknown.
type Arg<'v> = Option<Option<&'v Value>>;

fn at<'v>(args: Option<&'v Map<String, Value>>, path: &str) -> Arg<'v> {
    let Some(args) = args else {
        return Some(None);
    };
    let mut current: Option<&Value> = None; // None: the arguments object
    for seg in path.split('.') {
        let object = match current {
            None => args,
            Some(Value::Object(o)) => o,
            Some(Value::Array(a)) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(item) => {
                    current = Some(item);
                    continue;
                }
                None => return Some(None),
            },
            Some(_) => return Some(None),
        };
        match object.get(seg) {
            Some(v) => current = Some(v),
            None => {
                let fold = crate::reference::folded;
                let variant = object.keys().any(|k| fold(k) == fold(seg));
                return if variant { None } else { Some(None) };
            }
        }
    }
    Some(current)
}

#[derive(Clone, Copy)]
enum Bound {
    Int(i128),
    Float(f64),
}

/// Compares a number with a bound: `Some(order)`, or `None` when too close
/// to call with floating point.
fn order(v: &serde_json::Number, bound: Bound) -> Option<std::cmp::Ordering> {
    let exact = v
        .as_u64()
        .map(i128::from)
        .or_else(|| v.as_i64().map(i128::from))
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                .map(|f| f as i128)
        });
    match (exact, bound) {
        (Some(a), Bound::Int(b)) => Some(a.cmp(&b)),
        _ => {
            let a = v.as_f64()?;
            let b = match bound {
                Bound::Int(b) => b as f64,
                Bound::Float(b) => b,
            };
            if (a - b).abs() <= 1e-6 * b.abs().max(1.0) {
                None
            } else {
                a.partial_cmp(&b)
            }
        }
    }
}

fn num(v: Arg<'_>, bound: Bound, holds: fn(std::cmp::Ordering) -> bool) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    match v {
        None => T::False,
        Some(Value::Number(n)) => order(n, bound).map_or(T::Unsure, |o| from(holds(o))),
        Some(_) => T::Unknown,
    }
}

fn exists(v: Arg<'_>, expected: bool) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    from(v.is_some() == expected)
}

fn in_strings(v: Arg<'_>, list: &[&str]) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    match v {
        None | Some(Value::Null) => T::False,
        Some(Value::String(s)) => from(list.contains(&s.as_str())),
        Some(_) => T::Unknown,
    }
}

fn not_in_strings(v: Arg<'_>, list: &[&str]) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    match (v, in_strings(Some(v), list)) {
        (None, _) => T::False,
        (_, T::True) => T::False,
        (_, T::False) => T::True,
        (_, other) => other,
    }
}

fn contains(v: Arg<'_>, needle: &str) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    match v {
        None => T::False,
        Some(Value::String(s)) => from(s.contains(needle)),
        Some(Value::Array(items)) => from(items.iter().any(|i| i.as_str() == Some(needle))),
        Some(_) => T::Unknown,
    }
}

fn neq_string(v: Arg<'_>, s: &str) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    match v {
        None => T::False,
        Some(Value::Null) => T::True,
        Some(Value::String(x)) => from(x != s),
        Some(_) => T::Unknown,
    }
}

/// `(?i)drop\s+table`, for ASCII text; `Unsure` beyond it. Strings longer
/// than the filter's regex input limit are not matched (unknown).
fn drop_table(v: Arg<'_>) -> T {
    let Some(v) = v else {
        return T::Unknown;
    };
    match v {
        None => T::False,
        Some(Value::String(s)) if s.len() > mcp_policy::engine::conditions::REGEX_MAX_INPUT => T::Unknown,
        Some(Value::String(s)) if s.is_ascii() && !s.contains(['\x0b', '\x0c']) => {
            let lower = s.to_ascii_lowercase();
            let b = lower.as_bytes();
            let found = lower.match_indices("drop").any(|(i, _)| {
                let rest = &b[i + 4..];
                let spaces = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
                spaces > 0 && rest[spaces..].starts_with(b"table")
            });
            from(found)
        }
        Some(Value::String(_)) => T::Unsure,
        Some(_) => T::Unknown,
    }
}

/// Deep equality, numbers by value; `None` when a number is too close.
fn deep_eq(a: &Value, b: &Value) -> Option<bool> {
    Some(match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let y = y.as_f64()?;
            match order(x, Bound::Float(y)) {
                Some(o) => o.is_eq(),
                None if x.as_f64() == Some(y) => true,
                None => return None,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let mut same = true;
            for (p, q) in x.iter().zip(y) {
                same &= deep_eq(p, q)?;
            }
            same
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let mut same = true;
            for (k, p) in x {
                match y.get(k) {
                    Some(q) => same &= deep_eq(p, q)?,
                    None => return Some(false),
                }
            }
            same
        }
        (x, y) => x == y,
    })
}

/// What the `ops` policy (`fuzz/policies/ops.json`) decides about one call,
/// counters aside.
pub fn ops(tool: &str, args: Option<&Map<String, Value>>) -> Expect {
    let a = |p: &str| at(args, p);
    match tool {
        "secret_tool" | "delete" | "deploy" => Expect::Block,
        "pay" => all(&[
            require(&[
                num(a("amount"), Bound::Int(50000), |o| o.is_le()),
                num(a("amount"), Bound::Int(0), |o| o.is_ge()),
            ]),
            require(&[in_strings(a("currency"), &["usd", "eur"])]),
            deny_if(&[drop_table(a("memo"))]),
            deny_if(&[
                not_in_strings(a("to"), &["acct_1", "acct_2"]),
                num(a("amount"), Bound::Int(1000), |o| o.is_gt()),
            ]),
        ]),
        "search" => {
            let kind = match a("filter.kind") {
                None => T::Unknown,
                Some(None | Some(Value::Null)) => T::False,
                Some(Some(v @ Value::Object(_))) => {
                    let want = serde_json::json!({"a": [1, 2.5, "x"]});
                    deep_eq(v, &want).map_or(T::Unsure, from)
                }
                Some(Some(_)) => T::Unknown,
            };
            let level_neq = match a("filter.level") {
                None => T::Unknown,
                Some(None) => T::False,
                Some(Some(Value::Null)) => T::True,
                Some(Some(Value::Number(n))) => {
                    order(n, Bound::Int(3)).map_or(T::Unsure, |o| from(!o.is_eq()))
                }
                Some(Some(_)) => T::Unknown,
            };
            all(&[
                require(&[
                    exists(a("query"), true),
                    num(a("limit"), Bound::Int(100), |o| o.is_lt()),
                ]),
                deny_if(&[contains(a("tags"), "admin")]),
                deny_if(&[contains(a("query"), "password")]),
                deny_if(&[kind]),
                deny_if(&[level_neq, exists(a("filter.level"), true)]),
            ])
        }
        "read" => {
            let proc = match a("path") {
                Some(None) => T::False,
                Some(Some(Value::String(s))) if s.len() <= REGEX_MAX => from(s.starts_with("/proc/")),
                None | Some(Some(_)) => T::Unknown,
            };
            all(&[
                require(&[
                    neq_string(a("path"), "/etc/shadow"),
                    num(a("items.0.id"), Bound::Int(-9_007_199_254_740_993), |o| {
                        o.is_ge()
                    }),
                ]),
                deny_if(&[exists(a("missing"), false), proc]),
            ])
        }
        _ => Expect::Block,
    }
}

/// What the `charges` policy (`fuzz/policies/charges.json`) decides about
/// one call, counters aside.
pub fn charges(tool: &str, args: Option<&Map<String, Value>>) -> Expect {
    let a = |p: &str| at(args, p);
    match tool {
        "drop_db" | "delete_customer" => Expect::Block,
        "*" => Expect::Unsure,
        "create_charge" => {
            let amount = a("amount");
            let increment = match amount {
                Some(None) => Expect::Allow,
                Some(Some(Value::Number(n))) => match order(n, Bound::Int(0)) {
                    Some(o) if o.is_lt() => Expect::Block,
                    Some(_) => Expect::Allow,
                    None => Expect::Unsure,
                },
                None | Some(Some(_)) => Expect::Block,
            };
            all(&[
                require(&[num(amount, Bound::Int(50000), |o| o.is_le())]),
                increment,
            ])
        }
        "query" => {
            let sql = match a("sql") {
                Some(None) => T::False,
                Some(Some(Value::String(_))) => T::Unsure,
                None | Some(Some(_)) => T::Unknown,
            };
            all(&[
                require(&[sql]),
                require(&[not_in_strings(a("table"), &["users", "secrets"])]),
                require(&[
                    num(
                        a("page_size"),
                        Bound::Int(18_446_744_073_709_551_615),
                        |o| o.is_le(),
                    ),
                    num(a("page_size"), Bound::Float(-1.5), |o| o.is_gt()),
                ]),
            ])
        }
        "send_email" => {
            let to = match a("to") {
                Some(None) => T::False,
                Some(Some(Value::String(s))) if s.len() <= REGEX_MAX => {
                    from(s.ends_with("@example.com"))
                }
                None | Some(Some(_)) => T::Unknown,
            };
            require(&[to, exists(a("cc"), false)])
        }
        _ => Expect::Allow,
    }
}

/// Whether a value holds a string (at any depth) that a server may decode
/// as JSON: its first significant character opens an object or array, or
/// starts `null`.
fn may_decode(v: &Value) -> bool {
    match v {
        Value::String(s) => matches!(
            s.trim_start_matches([' ', '\t', '\n', '\r']).bytes().next(),
            Some(b'{' | b'[' | b'n')
        ),
        Value::Array(items) => items.iter().any(may_decode),
        Value::Object(o) => o.values().any(may_decode),
        _ => false,
    }
}

/// The expected verdict of a whole body: each `tools/call` through
/// `policy`; other messages are allowed. An element is only expected to be
/// allowed when its tool is called once in the body (counters are shared).
pub fn body(value: &Value, policy: fn(&str, Option<&Map<String, Value>>) -> Expect) -> Expect {
    let messages: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let calls: Vec<(&str, Option<&Map<String, Value>>)> = messages
        .iter()
        .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
        .map(|m| {
            let params = &m["params"];
            (
                params["name"].as_str().unwrap_or(""),
                params.get("arguments").and_then(Value::as_object),
            )
        })
        .collect();
    let each: Vec<Expect> = calls
        .iter()
        .map(|(tool, args)| match policy(tool, *args) {
            // A string that a server may decode as JSON is judged in two
            // readings (README, "Strings a server decodes as JSON"), which
            // this oracle does not model.
            _ if args.is_some_and(|a| a.values().any(may_decode)) => Expect::Unsure,
            Expect::Allow if calls.iter().filter(|(t, _)| t == tool).count() > 1 => Expect::Unsure,
            e => e,
        })
        .collect();
    all(&each)
}
