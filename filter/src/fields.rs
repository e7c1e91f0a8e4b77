//! Reading configuration field by field, with the location of every value.
//!
//! Owns: locations (a JSON path for error messages, `tools.x.rules[1].op`, and a
//! JSON pointer for decisions, `/tools/x/rules/1`), the error list, and a
//! reader that reports wrong types and unknown fields. Every error is kept, so a
//! user sees all of them at once. Unknown fields are errors because a typo must
//! never silently weaken a policy.
//!
//! Does not own: what any field means (see `policy` and `config`).
//!
//! Runs when configuration is read, never per request: its functions are
//! `#[inline(never)]`, because inlined at the hundreds of places that read a
//! field they were 16 KB of the `.wasm` (SPEC §8 budgets its size).

use crate::json::{Json, Num, Object};
use std::fmt;

/// Where a value sits in the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loc {
    segs: Vec<Seg>,
    /// Segments before this index belong to the enclosing configuration;
    /// decision pointers start at the policy itself.
    policy_start: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Loc {
    #[inline(never)]
    pub fn root() -> Loc {
        Loc::default()
    }

    #[inline(never)]
    pub fn key(&self, key: &str) -> Loc {
        let mut next = self.clone();
        next.segs.push(Seg::Key(key.to_owned()));
        next
    }

    #[inline(never)]
    pub fn index(&self, index: usize) -> Loc {
        let mut next = self.clone();
        next.segs.push(Seg::Index(index));
        next
    }

    /// Marks this location as the root of a policy document, so pointers
    /// below it are relative to the policy.
    #[inline(never)]
    pub fn as_policy_root(&self) -> Loc {
        Loc {
            segs: self.segs.clone(),
            policy_start: self.segs.len(),
        }
    }

    /// JSON path for humans: `policies.ops.tools.charge.rules[1].op`.
    #[inline(never)]
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in &self.segs {
            match seg {
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                Seg::Key(k) => {
                    let plain = !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_-*$".contains(&b));
                    if plain {
                        if !out.is_empty() {
                            out.push('.');
                        }
                        out.push_str(k);
                    } else {
                        out.push('[');
                        crate::json::write::push_str(&mut out, k);
                        out.push(']');
                    }
                }
            }
        }
        out
    }

    /// RFC 6901 pointer into the policy document: `/tools/charge/rules/1`.
    #[inline(never)]
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in self.segs.iter().skip(self.policy_start) {
            out.push('/');
            match seg {
                Seg::Index(i) => out.push_str(&i.to_string()),
                Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            }
        }
        out
    }
}

/// One configuration error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    #[inline(never)]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every error and warning found while reading a configuration.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

impl Report {
    #[inline(never)]
    pub fn error(&mut self, loc: &Loc, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: loc.path(),
            message: message.into(),
        });
    }

    #[inline(never)]
    pub fn warn(&mut self, loc: &Loc, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            path: loc.path(),
            message: message.into(),
        });
    }

    #[inline(never)]
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }
}

/// Reads the members of one object, remembering which were read so that
/// `finish` can report the rest as unknown.
pub struct Fields<'v, 'a> {
    obj: &'v Object<'a>,
    loc: Loc,
    known: Vec<&'static str>,
    all_known: bool,
}

impl<'v, 'a> Fields<'v, 'a> {
    /// `None` (with an error) when `value` is not an object.
    #[inline(never)]
    pub fn of(value: &'v Json<'a>, loc: &Loc, report: &mut Report) -> Option<Fields<'v, 'a>> {
        match value {
            Json::Obj(obj) => Some(Fields {
                obj,
                loc: loc.clone(),
                known: Vec::new(),
                all_known: false,
            }),
            other => {
                report.error(loc, format!("expected an object, got {}", other.kind()));
                None
            }
        }
    }

    #[inline(never)]
    pub fn loc(&self) -> &Loc {
        &self.loc
    }

    #[inline(never)]
    pub fn has(&self, key: &str) -> bool {
        self.obj.get(key).is_some()
    }

    /// The member `key` and its location, if present.
    #[inline(never)]
    pub fn take(&mut self, key: &'static str) -> Option<(&'v Json<'a>, Loc)> {
        self.known.push(key);
        self.obj.get(key).map(|v| (v, self.loc.key(key)))
    }

    /// Like `take`, with an error when the member is absent.
    #[inline(never)]
    pub fn require(
        &mut self,
        key: &'static str,
        report: &mut Report,
    ) -> Option<(&'v Json<'a>, Loc)> {
        let found = self.take(key);
        if found.is_none() {
            report.error(&self.loc, format!("missing field \"{key}\""));
        }
        found
    }

    #[inline(never)]
    pub fn string(&mut self, key: &'static str, report: &mut Report) -> Option<(&'v str, Loc)> {
        let (v, loc) = self.take(key)?;
        expect_str(v, &loc, report).map(|s| (s, loc))
    }

    #[inline(never)]
    pub fn boolean(&mut self, key: &'static str, report: &mut Report) -> Option<bool> {
        let (v, loc) = self.take(key)?;
        match v {
            Json::Bool(b) => Some(*b),
            other => {
                report.error(&loc, format!("expected a boolean, got {}", other.kind()));
                None
            }
        }
    }

    /// For maps whose keys are names (tools, policies, grants): no member is
    /// unknown.
    #[inline(never)]
    pub fn mark_all_known(&mut self) {
        self.all_known = true;
    }

    /// Reports every member no `take` asked for.
    #[inline(never)]
    pub fn finish(self, report: &mut Report) {
        if self.all_known {
            return;
        }
        for key in self.obj.keys() {
            if !self.known.contains(&key) {
                let mut expected = self.known.clone();
                expected.dedup();
                report.error(
                    &self.loc.key(key),
                    format!(
                        "unknown field \"{key}\" (expected one of: {})",
                        expected.join(", ")
                    ),
                );
            }
        }
    }
}

#[inline(never)]
pub fn expect_str<'v>(v: &'v Json<'_>, loc: &Loc, report: &mut Report) -> Option<&'v str> {
    match v {
        Json::Str(s) => Some(s),
        other => {
            report.error(loc, format!("expected a string, got {}", other.kind()));
            None
        }
    }
}

#[inline(never)]
pub fn expect_num(v: &Json<'_>, loc: &Loc, report: &mut Report) -> Option<Num> {
    match v {
        Json::Num(n) => Some(*n),
        other => {
            report.error(loc, format!("expected a number, got {}", other.kind()));
            None
        }
    }
}

#[inline(never)]
pub fn expect_array<'v, 'a>(
    v: &'v Json<'a>,
    loc: &Loc,
    report: &mut Report,
) -> Option<&'v [Json<'a>]> {
    match v {
        Json::Arr(items) => Some(items),
        other => {
            report.error(loc, format!("expected an array, got {}", other.kind()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_pointers() {
        let loc = Loc::root().key("policies").key("ops").as_policy_root();
        let rule = loc
            .key("tools")
            .key("a/b~c")
            .key("rules")
            .index(1)
            .key("op");
        assert_eq!(rule.path(), "policies.ops.tools[\"a/b~c\"].rules[1].op");
        assert_eq!(rule.pointer(), "/tools/a~1b~0c/rules/1/op");
        assert_eq!(Loc::root().key("tools").key("*").path(), "tools.*");
    }

    #[test]
    fn unknown_fields_are_reported_with_what_was_expected() {
        let v = crate::json::parse(br#"{"name":"x","condtions":[]}"#).unwrap();
        let mut report = Report::default();
        let mut f = Fields::of(&v, &Loc::root().key("r"), &mut report).unwrap();
        assert_eq!(f.string("name", &mut report).map(|(s, _)| s), Some("x"));
        f.take("conditions");
        f.finish(&mut report);
        assert_eq!(
            report.errors[0].to_string(),
            "r.condtions: unknown field \"condtions\" (expected one of: name, conditions)"
        );
    }
}
