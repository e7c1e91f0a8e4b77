//! Conditions as written (`{path, op, value}`), checked and compiled.
//!
//! Owns: the eleven operators and the value each one needs, argument paths,
//! and the compile-time errors of Appendix A. Evaluating a condition against a
//! call is the engine's job (`engine::conditions`).

use crate::fields::{expect_str, Fields, Loc, Report};
use crate::json::write::quote as quoted;
use crate::json::{Json, Num};

/// `args.<dot.path>`: where in the tool arguments a value sits. A segment that
/// is a number also indexes arrays (`args.items.0.name`).
#[derive(Debug, Clone, PartialEq)]
pub struct ArgPath {
    pub segments: Vec<String>,
    /// The path as written, for messages.
    pub text: String,
}

impl ArgPath {
    /// Parses `args.a.b`; `None` unless it starts with `args.` and has no
    /// empty segment.
    pub fn parse(text: &str) -> Option<ArgPath> {
        let rest = text.strip_prefix("args.")?;
        let segments: Vec<String> = rest.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return None;
        }
        Some(ArgPath {
            segments,
            text: text.to_owned(),
        })
    }
}

/// What a condition reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Arg(ArgPath),
    /// A counter of the policy, by index, as it stands after this call.
    Counter(usize),
    /// `state.<namespace>.<counter>` before it is resolved to a counter.
    /// Never left in a validated policy.
    State(String),
}

/// An operator with its compiled value.
#[derive(Debug, Clone)]
pub enum Test {
    Eq(Json<'static>),
    Neq(Json<'static>),
    In(Vec<Json<'static>>),
    NotIn(Vec<Json<'static>>),
    Lt(Num),
    Lte(Num),
    Gt(Num),
    Gte(Num),
    Regex(Box<crate::regex::Regex>),
    Contains(Json<'static>),
    Exists(bool),
}

impl Test {
    pub fn op(&self) -> &'static str {
        match self {
            Test::Eq(_) => "eq",
            Test::Neq(_) => "neq",
            Test::In(_) => "in",
            Test::NotIn(_) => "not_in",
            Test::Lt(_) => "lt",
            Test::Lte(_) => "lte",
            Test::Gt(_) => "gt",
            Test::Gte(_) => "gte",
            Test::Regex(_) => "regex",
            Test::Contains(_) => "contains",
            Test::Exists(_) => "exists",
        }
    }

    /// The condition's value as JSON text, for messages.
    pub fn value_text(&self) -> String {
        match self {
            Test::Eq(v) | Test::Neq(v) | Test::Contains(v) => v.to_text(),
            Test::In(list) | Test::NotIn(list) => Json::Arr(list.clone()).to_text(),
            Test::Lt(n) | Test::Lte(n) | Test::Gt(n) | Test::Gte(n) => n.to_string(),
            Test::Regex(r) => Json::Str(r.as_str().to_owned().into()).to_text(),
            Test::Exists(b) => b.to_string(),
        }
    }
}

/// One `{path, op, value}`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub subject: Subject,
    pub test: Test,
    /// The path as written.
    pub path: String,
    pub pointer: String,
}

pub const OPERATORS: &str = "eq, neq, in, not_in, lt, lte, gt, gte, regex, contains, exists";

/// Reads one condition; `None` (with errors reported) when it is invalid.
pub fn read_condition(value: &Json<'_>, loc: &Loc, report: &mut Report) -> Option<Condition> {
    let errors_before = report.error_count();
    let mut f = Fields::of(value, loc, report)?;
    let path = f.require("path", report);
    let op = f.require("op", report);
    let val = f.require("value", report);
    f.finish(report);

    let subject = path.and_then(|(p, ploc)| {
        let text = expect_str(p, &ploc, report)?;
        if let Some(arg) = ArgPath::parse(text) {
            Some((Subject::Arg(arg), text.to_owned()))
        } else if let Some(state) = text.strip_prefix("state.") {
            Some((Subject::State(state.to_owned()), text.to_owned()))
        } else {
            report.error(
                &ploc,
                format!(
                    "path must start with \"args.\" or \"state.\", got {}",
                    quoted(text)
                ),
            );
            None
        }
    });

    let test = match (op, val) {
        (Some((op, oploc)), Some((val, vloc))) => {
            let op = expect_str(op, &oploc, report)?;
            read_test(op, val, &oploc, &vloc, report)
        }
        _ => None,
    };

    if report.error_count() != errors_before {
        return None;
    }
    let (subject, path) = subject?;
    Some(Condition {
        subject,
        test: test?,
        path,
        pointer: loc.pointer(),
    })
}

fn read_test(
    op: &str,
    value: &Json<'_>,
    oploc: &Loc,
    vloc: &Loc,
    report: &mut Report,
) -> Option<Test> {
    let owned = || value.clone().into_owned();
    let list = |report: &mut Report| match value {
        Json::Arr(items) => Some(
            items
                .iter()
                .cloned()
                .map(Json::into_owned)
                .collect::<Vec<_>>(),
        ),
        _ => {
            report.error(vloc, format!("operator \"{op}\" requires a list value"));
            None
        }
    };
    let number = |report: &mut Report| match value {
        Json::Num(n) => Some(*n),
        _ => {
            report.error(vloc, format!("operator \"{op}\" requires a numeric value"));
            None
        }
    };
    match op {
        "eq" => Some(Test::Eq(owned())),
        "neq" => Some(Test::Neq(owned())),
        "contains" => Some(Test::Contains(owned())),
        "in" => list(report).map(Test::In),
        "not_in" => list(report).map(Test::NotIn),
        "lt" => number(report).map(Test::Lt),
        "lte" => number(report).map(Test::Lte),
        "gt" => number(report).map(Test::Gt),
        "gte" => number(report).map(Test::Gte),
        "exists" => match value {
            Json::Bool(b) => Some(Test::Exists(*b)),
            _ => {
                report.error(vloc, "operator \"exists\" requires a boolean value");
                None
            }
        },
        "regex" => match value {
            Json::Str(pattern) => match crate::regex::Regex::new(pattern) {
                Ok(re) => Some(Test::Regex(Box::new(re))),
                Err(e) => {
                    let first_line = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    report.error(
                        vloc,
                        format!("invalid regex {}: {first_line}", quoted(pattern)),
                    );
                    None
                }
            },
            _ => {
                report.error(vloc, "regex value must be a string");
                None
            }
        },
        other => {
            report.error(
                oploc,
                format!(
                    "unknown operator {} (expected one of: {OPERATORS})",
                    quoted(other)
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Option<Condition>, Vec<String>) {
        let v = crate::json::parse(text.as_bytes()).unwrap();
        let mut report = Report::default();
        let c = read_condition(&v, &Loc::root().key("c"), &mut report);
        (c, report.errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn valid_conditions_compile() {
        for text in [
            r#"{"path":"args.a","op":"eq","value":{"x":[1]}}"#,
            r#"{"path":"args.a.b.0","op":"in","value":["x",1]}"#,
            r#"{"path":"args.a","op":"lte","value":5.5}"#,
            r#"{"path":"args.a","op":"regex","value":"^feat/[a-z]+$"}"#,
            r#"{"path":"args.a","op":"exists","value":false}"#,
            r#"{"path":"state.t.c","op":"lte","value":10}"#,
        ] {
            let (c, errors) = read(text);
            assert!(c.is_some() && errors.is_empty(), "{text}: {errors:?}");
        }
    }

    #[test]
    fn every_condition_error_has_its_path() {
        let cases = [
            (
                r#"{"path":"arg.a","op":"eq","value":1}"#,
                "c.path: path must start with \"args.\" or \"state.\", got \"arg.a\"",
            ),
            (
                r#"{"path":"args.","op":"eq","value":1}"#,
                "c.path: path must start with",
            ),
            (
                r#"{"path":"args.a..b","op":"eq","value":1}"#,
                "c.path: path must start with",
            ),
            (
                r#"{"path":"args.a","op":"gtt","value":1}"#,
                "c.op: unknown operator \"gtt\"",
            ),
            (
                r#"{"path":"args.a","op":"in","value":"x"}"#,
                "c.value: operator \"in\" requires a list value",
            ),
            (
                r#"{"path":"args.a","op":"not_in","value":1}"#,
                "c.value: operator \"not_in\" requires a list value",
            ),
            (
                r#"{"path":"args.a","op":"lt","value":"5"}"#,
                "c.value: operator \"lt\" requires a numeric value",
            ),
            (
                r#"{"path":"args.a","op":"gte","value":null}"#,
                "c.value: operator \"gte\" requires a numeric value",
            ),
            (
                r#"{"path":"args.a","op":"exists","value":"yes"}"#,
                "c.value: operator \"exists\" requires a boolean value",
            ),
            (
                r#"{"path":"args.a","op":"regex","value":5}"#,
                "c.value: regex value must be a string",
            ),
            (
                r#"{"path":"args.a","op":"regex","value":"(unclosed"}"#,
                "c.value: invalid regex \"(unclosed\"",
            ),
            (
                r#"{"path":"args.a","op":"eq"}"#,
                "c: missing field \"value\"",
            ),
            (
                r#"{"path":"args.a","op":"eq","value":1,"vaule":2}"#,
                "c.vaule: unknown field",
            ),
            (
                r#"{"path":5,"op":"eq","value":1}"#,
                "c.path: expected a string, got number",
            ),
        ];
        for (text, expected) in cases {
            let (c, errors) = read(text);
            assert!(c.is_none(), "{text}");
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "{text}: {errors:?}"
            );
        }
    }
}
