//! Reading a policy document, in either form, into the model.
//!
//! Both forms are read by one reader: a tool entry may carry Intercept `rules`,
//! PolicyLayer `require`/`deny_if`/`limits`, and the extensions (`action`,
//! `reason`, `rate_limit`), so a policy converted from one form and extended
//! with the other still reads. Cross-references (`state.` conditions, duplicate
//! counters) are checked once every tool has been read.

use super::condition::{read_condition, ArgPath, Subject};
use super::{
    Action, ActionKind, Backend, Check, CheckKind, Counter, Increment, Policy, Posture, Scope,
    Tool, Window,
};
use crate::fields::{expect_array, expect_num, expect_str, Fields, Loc, Report};
use crate::json::write::quote as quoted;
use crate::json::{Json, Num};
use crate::names::Names;

/// The namespace of counters defined by `"*"` rules and `all_tools`.
pub const GLOBAL: &str = "_global";

/// Reads and validates the policy at `loc`. `name` is the policy's name in
/// `policies` ("" for the single `policy`); it keeps counters of different
/// policies apart. Returns `None` when there were errors (all in `report`).
pub fn read_policy(value: &Json<'_>, loc: &Loc, name: &str, report: &mut Report) -> Option<Policy> {
    let errors_before = report.error_count();
    let mut reader = Reader {
        policy_name: name,
        counters: Vec::new(),
        counter_locs: Vec::new(),
        pending_state: Vec::new(),
        report,
    };
    let mut f = Fields::of(value, loc, reader.report)?;

    match f.take("version") {
        Some((Json::Str(v), _)) if v == "1" => {}
        Some((other, vloc)) => reader.report.error(
            &vloc,
            format!("version must be \"1\", got {}", other.to_text()),
        ),
        None => reader
            .report
            .error(loc, "missing field \"version\" (version must be \"1\")"),
    }
    f.string("description", reader.report);

    let default = match f.string("default", reader.report) {
        Some(("allow", _)) => Some(Posture::Allow),
        Some(("deny", _)) => Some(Posture::Deny),
        Some((other, dloc)) => {
            reader.report.error(
                &dloc,
                format!(
                    "default must be \"allow\" or \"deny\", got {}",
                    quoted(other)
                ),
            );
            None
        }
        None => None,
    };
    if !f.has("default") {
        reader.report.warn(
            loc,
            "\"default\" is not set, so tools the policy does not list are allowed; \
             set \"default\": \"deny\" for an allowlist or \"allow\" to say so",
        );
    }

    let (hide_all, hidden) = match f.take("hide") {
        Some((v, hloc)) => read_hide(v, &hloc, reader.report),
        None => (None, Names::default()),
    };

    let mut tools = Names::default();
    let mut wildcard = Tool {
        pointer: loc.key("tools").key("*").pointer(),
        ..Tool::default()
    };
    if let Some((tv, tloc)) = f.require("tools", reader.report) {
        if let Some(mut tf) = Fields::of(tv, &tloc, reader.report) {
            let entries: Vec<(String, &Json<'_>)> = match tv {
                Json::Obj(o) => o.0.iter().map(|(k, v)| (k.to_string(), v)).collect(),
                _ => Vec::new(),
            };
            for (tool_name, entry) in entries {
                let eloc = tloc.key(&tool_name);
                if tool_name.trim().is_empty() {
                    reader.report.error(&eloc, "tool name must not be empty");
                    continue;
                }
                if tool_name == "*" {
                    reader.read_tool(entry, &eloc, GLOBAL, &mut wildcard);
                } else {
                    let mut tool = Tool {
                        pointer: eloc.pointer(),
                        ..Tool::default()
                    };
                    reader.read_tool(entry, &eloc, &tool_name, &mut tool);
                    tools.insert(tool_name, tool);
                }
            }
            // Every tool name is a known field of `tools`.
            tf.mark_all_known();
            tf.finish(reader.report);
        }
    }

    if let Some((av, aloc)) = f.take("all_tools") {
        if let Some(mut af) = Fields::of(av, &aloc, reader.report) {
            if let Some((lv, lloc)) = af.take("limits") {
                reader.read_limits(lv, &lloc, GLOBAL, &mut wildcard);
            }
            if let Some((rv, rloc)) = af.take("rate_limit") {
                reader.read_rate_limit(rv, &rloc, GLOBAL, None, &mut wildcard);
            }
            af.finish(reader.report);
        }
    }
    f.finish(reader.report);

    reader.resolve_state(&mut tools, &mut wildcard);

    if reader.report.error_count() != errors_before {
        return None;
    }
    Some(Policy {
        default: default.unwrap_or(Posture::Allow),
        default_explicit: default.is_some(),
        hide_all,
        hidden,
        tools,
        wildcard,
        counters: reader.counters,
        sha256: crate::digest::json_sha256(value),
        can_approve: false,
    })
}

fn read_hide(v: &Json<'_>, loc: &Loc, report: &mut Report) -> (Option<String>, Names<String>) {
    let mut all = None;
    let mut names: Names<String> = Names::default();
    let entries: Vec<(&Json<'_>, Loc)> = match v {
        Json::Str(_) => vec![(v, loc.clone())],
        Json::Arr(items) => items
            .iter()
            .enumerate()
            .map(|(i, e)| (e, loc.index(i)))
            .collect(),
        other => {
            report.error(
                loc,
                format!(
                    "expected a list of tool names or \"*\", got {}",
                    other.kind()
                ),
            );
            Vec::new()
        }
    };
    for (entry, eloc) in entries {
        let Some(name) = expect_str(entry, &eloc, report) else {
            continue;
        };
        if name.trim().is_empty() {
            report.error(&eloc, "entry must not be empty");
        } else if name == "*" {
            if all.is_some() {
                report.error(&eloc, "duplicate entry \"*\"");
            }
            all = Some(eloc.pointer());
        } else if names.contains_key(name) {
            report.error(&eloc, format!("duplicate entry {}", quoted(name)));
        } else {
            names.insert(name.to_owned(), eloc.pointer());
        }
    }
    (all, names)
}

/// A `state.` condition waiting for every counter to be known.
struct PendingState {
    /// `None` for the wildcard tool.
    tool: Option<String>,
    check: usize,
    condition: usize,
    loc: Loc,
}

struct Reader<'r> {
    policy_name: &'r str,
    counters: Vec<Counter>,
    /// (namespace, counter) -> JSON path where it was defined.
    counter_locs: Vec<((String, String), String)>,
    pending_state: Vec<PendingState>,
    report: &'r mut Report,
}

impl Reader<'_> {
    fn read_tool(&mut self, value: &Json<'_>, loc: &Loc, namespace: &str, tool: &mut Tool) {
        let Some(mut f) = Fields::of(value, loc, self.report) else {
            return;
        };
        f.string("description", self.report);
        let reason = f.string("reason", self.report).map(|(s, _)| s.to_owned());
        if let Some((action, aloc)) = f.string("action", self.report) {
            let kind = match action {
                "allow" => Some(ActionKind::Allow),
                "deny" => Some(ActionKind::Deny),
                "require_approval" => Some(ActionKind::RequireApproval),
                other => {
                    self.report.error(
                        &aloc,
                        format!(
                            "action must be \"allow\", \"deny\" or \"require_approval\", got {}",
                            quoted(other)
                        ),
                    );
                    None
                }
            };
            if let Some(kind) = kind {
                tool.action = Some(Action {
                    kind,
                    reason,
                    pointer: aloc.pointer(),
                });
            }
        }
        if let Some((rv, rloc)) = f.take("rules") {
            if let Some(rules) = expect_array(rv, &rloc, self.report) {
                for (i, rule) in rules.iter().enumerate() {
                    self.read_rule(rule, &rloc.index(i), namespace, tool);
                }
            }
        }
        for (key, kind) in [
            ("deny_if", CheckKind::DenyIf),
            ("require", CheckKind::Require),
        ] {
            if let Some((iv, iloc)) = f.take(key) {
                if let Some(items) = expect_array(iv, &iloc, self.report) {
                    for (i, item) in items.iter().enumerate() {
                        self.read_item(item, &iloc.index(i), kind, namespace, tool);
                    }
                }
            }
        }
        if let Some((lv, lloc)) = f.take("limits") {
            self.read_limits(lv, &lloc, namespace, tool);
        }
        if let Some((rv, rloc)) = f.take("rate_limit") {
            self.read_rate_limit(rv, &rloc, namespace, None, tool);
        }
        f.finish(self.report);
    }

    /// An Intercept rule.
    fn read_rule(&mut self, value: &Json<'_>, loc: &Loc, namespace: &str, tool: &mut Tool) {
        let Some(mut f) = Fields::of(value, loc, self.report) else {
            return;
        };
        f.string("description", self.report);
        let name = f.string("name", self.report).map(|(s, _)| s.to_owned());
        if name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            self.report.error(loc, "rule must have a name");
        }
        let action = match f.string("action", self.report) {
            None | Some(("evaluate", _)) => Some(CheckKind::Require),
            Some(("deny", _)) => Some(CheckKind::Deny),
            Some((other, aloc)) => {
                self.report.error(
                    &aloc,
                    format!(
                        "action must be \"evaluate\" or \"deny\", got {}",
                        quoted(other)
                    ),
                );
                None
            }
        };
        let message = f.string("on_deny", self.report).map(|(s, _)| s.to_owned());
        let conditions = f.take("conditions");
        let state = f.take("state");
        let rate_limit = f.take("rate_limit");
        f.finish(self.report);

        if let Some((rv, rloc)) = rate_limit {
            if conditions.is_some() || state.is_some() {
                self.report.error(
                    loc,
                    "rate_limit cannot be combined with conditions or state; use separate rules or the full syntax instead",
                );
            }
            if action == Some(CheckKind::Deny) {
                self.report
                    .error(loc, "rate_limit cannot be used with action \"deny\"");
            }
            self.read_rate_limit(rv, &rloc, namespace, message, tool);
            return;
        }

        let condition_count = match &conditions {
            Some((Json::Arr(items), _)) => items.len(),
            _ => 0,
        };
        match action {
            Some(CheckKind::Deny) if conditions.is_some() => {
                self.report
                    .error(loc, "deny rules must not have conditions");
            }
            Some(CheckKind::Require) if condition_count == 0 => {
                self.report
                    .error(loc, "evaluate rules must have at least one condition");
            }
            _ => {}
        }
        if let Some((sv, sloc)) = state {
            self.read_counter(
                sv,
                &sloc,
                namespace,
                CounterForm::State,
                message.clone(),
                tool,
            );
        }
        let Some(kind) = action else { return };
        let check_index = tool.checks.len();
        let conditions = match conditions {
            Some((cv, cloc)) => self.read_conditions(cv, &cloc, namespace, check_index),
            None => Vec::new(),
        };
        tool.checks.push(Check {
            kind,
            name,
            conditions,
            message,
            pointer: loc.pointer(),
        });
    }

    /// A PolicyLayer `require` or `deny_if` item.
    fn read_item(
        &mut self,
        value: &Json<'_>,
        loc: &Loc,
        kind: CheckKind,
        namespace: &str,
        tool: &mut Tool,
    ) {
        let Some(mut f) = Fields::of(value, loc, self.report) else {
            return;
        };
        let name = f.string("name", self.report).map(|(s, _)| s.to_owned());
        let message = f.string("on_deny", self.report).map(|(s, _)| s.to_owned());
        let conditions = f.require("conditions", self.report);
        f.finish(self.report);
        let check_index = tool.checks.len();
        let conditions = match conditions {
            Some((cv, cloc)) => {
                let list = self.read_conditions(cv, &cloc, namespace, check_index);
                if matches!(cv, Json::Arr(items) if items.is_empty()) {
                    self.report.error(&cloc, "must have at least one condition");
                }
                list
            }
            None => Vec::new(),
        };
        tool.checks.push(Check {
            kind,
            name,
            conditions,
            message,
            pointer: loc.pointer(),
        });
    }

    fn read_conditions(
        &mut self,
        value: &Json<'_>,
        loc: &Loc,
        namespace: &str,
        check_index: usize,
    ) -> Vec<super::Condition> {
        let Some(items) = expect_array(value, loc, self.report) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let cloc = loc.index(i);
            if let Some(c) = read_condition(item, &cloc, self.report) {
                if matches!(c.subject, Subject::State(_)) {
                    self.pending_state.push(PendingState {
                        tool: (namespace != GLOBAL).then(|| namespace.to_owned()),
                        check: check_index,
                        condition: out.len(),
                        loc: cloc.key("path"),
                    });
                }
                out.push(c);
            }
        }
        out
    }

    fn read_limits(&mut self, value: &Json<'_>, loc: &Loc, namespace: &str, tool: &mut Tool) {
        let Some(items) = expect_array(value, loc, self.report) else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            self.read_counter(
                item,
                &loc.index(i),
                namespace,
                CounterForm::Limit,
                None,
                tool,
            );
        }
    }

    /// `rate_limit`: `"N/minute"` or `{max, window, scope}`.
    fn read_rate_limit(
        &mut self,
        value: &Json<'_>,
        loc: &Loc,
        namespace: &str,
        message: Option<String>,
        tool: &mut Tool,
    ) {
        let mut backend = Backend::Local;
        let (max, window, scope) = match value {
            Json::Str(text) => {
                let Some((count, window)) = text.split_once('/') else {
                    self.report.error(
                        loc,
                        format!(
                            "rate_limit must look like \"10/minute\" (N/minute|hour|day), got {}",
                            quoted(text)
                        ),
                    );
                    return;
                };
                // Digits only: not " 5", "+5" or "5.0", which Rust or
                // another reader might each take differently.
                let digits = !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit());
                let count = match count.parse::<u64>() {
                    Ok(n) if n >= 1 && digits => Some(n),
                    _ => {
                        self.report.error(
                            loc,
                            format!(
                                "rate_limit count must be a positive integer, got {}",
                                quoted(count)
                            ),
                        );
                        None
                    }
                };
                let window = match window {
                    "minute" => Some(Window::Minute),
                    "hour" => Some(Window::Hour),
                    "day" => Some(Window::Day),
                    other => {
                        self.report.error(
                            loc,
                            format!(
                                "rate_limit window must be \"minute\", \"hour\", or \"day\", got {}",
                                quoted(other)
                            ),
                        );
                        None
                    }
                };
                match (count, window) {
                    (Some(c), Some(w)) => (c, w, Scope::Grant),
                    _ => return,
                }
            }
            Json::Obj(_) => {
                let Some(mut f) = Fields::of(value, loc, self.report) else {
                    return;
                };
                let max = f.require("max", self.report).and_then(|(v, mloc)| match v {
                    Json::Num(Num::U(n)) if *n >= 1 => Some(*n),
                    Json::Num(Num::F(x)) if *x >= 1.0 && x.fract() == 0.0 && *x < 1e18 => {
                        Some(*x as u64)
                    }
                    other => {
                        self.report.error(
                            &mloc,
                            format!(
                                "rate_limit count must be a positive integer, got {}",
                                other.to_text()
                            ),
                        );
                        None
                    }
                });
                let window = f
                    .require("window", self.report)
                    .and_then(|(v, wloc)| read_window(v, &wloc, "rate_limit window", self.report));
                let scope = self.read_scope(&mut f);
                backend = self.read_backend(&mut f);
                f.finish(self.report);
                match (max, window) {
                    (Some(m), Some(w)) => (m, w, scope),
                    _ => return,
                }
            }
            other => {
                self.report.error(
                    loc,
                    format!(
                        "rate_limit must be a string like \"10/minute\" or an object, got {}",
                        other.kind()
                    ),
                );
                return;
            }
        };
        // `_rate_<window>`, numbered from the second on: one tool may well
        // have a per-session and a global limit of the same window.
        let base = format!("_rate_{}", window.label());
        let taken = |name: &str| {
            self.counter_locs
                .iter()
                .any(|((ns, n), _)| ns == namespace && n == name)
        };
        let mut name = base.clone();
        let mut n: u32 = 1;
        while taken(&name) {
            n = n.saturating_add(1);
            name = format!("{base}_{n}");
        }
        let counter = Counter {
            name,
            namespace: namespace.to_owned(),
            window,
            scope,
            increment: Increment::By(Num::U(1)),
            max: Some(Num::U(max)),
            message: Some(message.unwrap_or_else(|| {
                format!(
                    "Rate limit of {max} per {} reached. Try again later.",
                    window.label()
                )
            })),
            pointer: loc.pointer(),
            path: loc.path(),
            key_prefix: String::new(),
            backend,
        };
        self.add_counter(counter, loc, tool);
    }

    /// `backend`: `"local"` (the default) or `"rls"` (SPEC §7.1).
    fn read_backend(&mut self, f: &mut Fields<'_, '_>) -> Backend {
        match f.string("backend", self.report) {
            None | Some(("local", _)) => Backend::Local,
            Some(("rls", _)) => Backend::Rls,
            Some((other, bloc)) => {
                self.report.error(
                    &bloc,
                    format!(
                        "unknown backend {} (expected \"local\" or \"rls\")",
                        quoted(other)
                    ),
                );
                Backend::Local
            }
        }
    }

    fn read_scope(&mut self, f: &mut Fields<'_, '_>) -> Scope {
        match f.string("scope", self.report) {
            None | Some(("grant", _)) => Scope::Grant,
            Some(("session", _)) => Scope::Session,
            Some(("global", _)) => Scope::Global,
            Some((other, sloc)) => {
                self.report.error(
                    &sloc,
                    format!(
                        "unknown scope {} (expected \"grant\", \"session\" or \"global\")",
                        quoted(other)
                    ),
                );
                Scope::Grant
            }
        }
    }

    /// A PolicyLayer limit or an Intercept `state` block.
    fn read_counter(
        &mut self,
        value: &Json<'_>,
        loc: &Loc,
        namespace: &str,
        form: CounterForm,
        message: Option<String>,
        tool: &mut Tool,
    ) {
        let Some(mut f) = Fields::of(value, loc, self.report) else {
            return;
        };
        let errors_before = self.report.error_count();
        let name = match f.require("counter", self.report) {
            Some((v, cloc)) => match expect_str(v, &cloc, self.report) {
                Some(s) if !s.trim().is_empty() => Some(s.to_owned()),
                Some(_) => {
                    self.report.error(&cloc, "counter must not be empty");
                    None
                }
                None => None,
            },
            None => None,
        };
        let window = f
            .require("window", self.report)
            .and_then(|(v, wloc)| read_window(v, &wloc, "window", self.report));
        let max = match form {
            CounterForm::Limit => f.require("max", self.report).and_then(|(v, mloc)| {
                let n = expect_num(v, &mloc, self.report)?;
                if n.as_f64() < 1.0 {
                    self.report
                        .error(&mloc, format!("max must be at least 1, got {n}"));
                    return None;
                }
                Some(n)
            }),
            CounterForm::State => None,
        };
        let scope = self.read_scope(&mut f);
        let backend = self.read_backend(&mut f);
        let increment = f.take("increment");
        let increment_from = f.string("increment_from", self.report);
        let message = match form {
            CounterForm::Limit => f.string("on_deny", self.report).map(|(s, _)| s.to_owned()),
            CounterForm::State => message,
        };
        f.finish(self.report);

        let increment = match (increment, increment_from) {
            (Some(_), Some(_)) => {
                self.report
                    .error(loc, "use increment or increment_from, not both");
                None
            }
            (Some((v, iloc)), None) => match expect_num(v, &iloc, self.report) {
                Some(n) if n.as_f64() > 0.0 => Some(Increment::By(n)),
                Some(n) => {
                    self.report.error(
                        &iloc,
                        format!("increment must be a positive number, got {n}"),
                    );
                    None
                }
                None => None,
            },
            (None, Some((text, iloc))) => match ArgPath::parse(text) {
                Some(path) => Some(Increment::From(path)),
                None => {
                    self.report.error(
                        &iloc,
                        format!(
                            "increment_from must start with \"args.\", got {}",
                            quoted(text)
                        ),
                    );
                    None
                }
            },
            (None, None) => Some(Increment::By(Num::U(1))),
        };
        if self.report.error_count() != errors_before {
            return;
        }
        let (Some(name), Some(window), Some(increment)) = (name, window, increment) else {
            return;
        };
        if backend == Backend::Rls && !rls_countable(&increment, max, loc, self.report) {
            return;
        }
        let counter = Counter {
            name,
            namespace: namespace.to_owned(),
            window,
            scope,
            increment,
            max,
            message,
            pointer: loc.pointer(),
            path: loc.path(),
            key_prefix: String::new(),
            backend,
        };
        self.add_counter(counter, loc, tool);
    }

    fn add_counter(&mut self, mut counter: Counter, loc: &Loc, tool: &mut Tool) {
        let id = (counter.namespace.clone(), counter.name.clone());
        if let Some((_, first)) = self.counter_locs.iter().find(|(k, _)| *k == id) {
            self.report.error(
                loc,
                format!(
                    "duplicate counter {} (also defined at {first})",
                    quoted(&counter.name)
                ),
            );
            return;
        }
        self.counter_locs.push((id, loc.path()));
        // The window is part of the key: two definitions of one counter
        // with other windows (two configurations sharing a namespace, a
        // reload that changes it) must never read each other's record as
        // an older window and wipe it.
        counter.key_prefix = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}",
            self.policy_name,
            counter.namespace,
            counter.name,
            counter.scope.label(),
            counter.window.length_ms()
        );
        tool.counters.push(self.counters.len());
        self.counters.push(counter);
    }

    /// Points every `state.<namespace>.<counter>` condition at its counter.
    fn resolve_state(&mut self, tools: &mut Names<Tool>, wildcard: &mut Tool) {
        for pending in std::mem::take(&mut self.pending_state) {
            let tool = match &pending.tool {
                Some(name) => tools.get_mut(name),
                None => Some(&mut *wildcard),
            };
            let Some(condition) = tool
                .and_then(|t| t.checks.get_mut(pending.check))
                .and_then(|c| c.conditions.get_mut(pending.condition))
            else {
                continue;
            };
            let Subject::State(reference) = &condition.subject else {
                continue;
            };
            // Tool names may contain dots, so try every split of
            // `<namespace>.<counter>` against the counters that exist.
            let found = reference
                .match_indices('.')
                .map(|(i, _)| {
                    (
                        reference.get(..i).unwrap_or(""),
                        reference.get(i.saturating_add(1)..).unwrap_or(""),
                    )
                })
                .find_map(|(ns, name)| {
                    self.counters
                        .iter()
                        .position(|c| c.namespace == ns && c.name == name)
                });
            match found {
                Some(index)
                    if self
                        .counters
                        .get(index)
                        .is_some_and(|c| c.backend == Backend::Rls) =>
                {
                    self.report.error(
                        &pending.loc,
                        format!(
                            "condition reads state.{reference}, which the Rate Limit Service counts (backend \"rls\"): the service does not report a counter's value, so only its max can bound it"
                        ),
                    );
                }
                Some(index) => condition.subject = Subject::Counter(index),
                None => self.report.error(
                    &pending.loc,
                    format!(
                        "condition references state.{reference} but no matching state block found"
                    ),
                ),
            }
        }
    }
}

/// What the Rate Limit Service can count: a whole `hits_addend` per call
/// and a whole `max`. A `state` block has no max (the conditions that read
/// it bound it, and the service never reports a value), so it cannot be
/// one of its counters.
fn rls_countable(increment: &Increment, max: Option<Num>, loc: &Loc, report: &mut Report) -> bool {
    let whole = |n: f64, top: f64| n.fract() == 0.0 && n <= top;
    let mut ok = true;
    if let Increment::By(n) = increment {
        if !whole(n.as_f64(), f64::from(u32::MAX)) {
            report.error(
                loc,
                format!("an RLS counter adds a whole number up to 4294967295 per call, not {n}"),
            );
            ok = false;
        }
    }
    match max {
        Some(m) if !whole(m.as_f64(), f64::from(u32::MAX)) => {
            report.error(
                loc,
                format!("an RLS counter's max must be a whole number up to 4294967295 (the protocol's hits_addend), not {m}"),
            );
            ok = false;
        }
        Some(_) => {}
        None => {
            report.error(
                loc,
                "a state counter cannot use backend \"rls\": the Rate Limit Service does not report counter values to conditions; use a limit or rate_limit with a max",
            );
            ok = false;
        }
    }
    ok
}

#[derive(Clone, Copy, PartialEq)]
enum CounterForm {
    Limit,
    State,
}

fn read_window(v: &Json<'_>, loc: &Loc, what: &str, report: &mut Report) -> Option<Window> {
    match v {
        Json::Str(s) => match s.as_ref() {
            "minute" => Some(Window::Minute),
            "hour" => Some(Window::Hour),
            "day" => Some(Window::Day),
            other => {
                report.error(
                    loc,
                    format!(
                        "{what} must be \"minute\", \"hour\", or \"day\" (or a number of seconds), got {}",
                        quoted(other)
                    ),
                );
                None
            }
        },
        Json::Num(Num::U(s)) if *s >= 1 => Some(Window::Seconds(*s)),
        other => {
            report.error(
                loc,
                format!(
                    "{what} must be \"minute\", \"hour\", or \"day\" (or a whole number of seconds), got {}",
                    other.to_text()
                ),
            );
            None
        }
    }
}
