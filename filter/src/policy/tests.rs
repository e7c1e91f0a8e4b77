//! Validation: every error of Appendix A and Intercept's table, each reported
//! with its JSON path, all of them at once.

use super::*;
use crate::fields::{Loc, Report};
use crate::json::parse_owned;

fn errors(text: &str) -> Vec<String> {
    let v = parse_owned(text).unwrap();
    let mut report = Report::default();
    let policy = read_policy(&v, &Loc::root().as_policy_root(), "", &mut report);
    assert_eq!(
        policy.is_none(),
        !report.errors.is_empty(),
        "a policy is returned exactly when it is valid"
    );
    report.errors.iter().map(ToString::to_string).collect()
}

fn assert_error(text: &str, expected: &str) {
    let found = errors(text);
    assert!(
        found
            .iter()
            .any(|e| e == expected || e.starts_with(expected)),
        "expected {expected:?}\n in {found:#?}\n for {text}"
    );
}

/// A policy with one tool whose body is `tool`.
fn with_tool(tool: &str) -> String {
    format!(r#"{{"version":"1","default":"deny","tools":{{"t":{tool}}}}}"#)
}

fn with_rule(rule: &str) -> String {
    with_tool(&format!(r#"{{"rules":[{rule}]}}"#))
}

#[test]
fn top_level_errors() {
    assert_error(
        r#"{"version":"2","tools":{}}"#,
        r#"version: version must be "1", got "2""#,
    );
    assert_error(
        r#"{"version":1,"tools":{}}"#,
        r#"version: version must be "1", got 1"#,
    );
    assert_error(r#"{"tools":{}}"#, r#"missing field "version""#);
    assert_error(r#"{"version":"1"}"#, r#"missing field "tools""#);
    assert_error(
        r#"{"version":"1","default":"block","tools":{}}"#,
        r#"default: default must be "allow" or "deny", got "block""#,
    );
    assert_error(
        r#"{"version":"1","hide":["a",""],"tools":{}}"#,
        "hide[1]: entry must not be empty",
    );
    assert_error(
        r#"{"version":"1","hide":["a","  "],"tools":{}}"#,
        "hide[1]: entry must not be empty",
    );
    assert_error(
        r#"{"version":"1","hide":["a","b","a"],"tools":{}}"#,
        r#"hide[2]: duplicate entry "a""#,
    );
    assert_error(
        r#"{"version":"1","hide":[3],"tools":{}}"#,
        "hide[0]: expected a string, got number",
    );
    assert_error(
        r#"{"version":"1","tools":{},"defualt":"deny"}"#,
        r#"defualt: unknown field "defualt""#,
    );
    assert_error(
        r#"{"version":"1","tools":{"":{}}}"#,
        r#"tools[""]: tool name must not be empty"#,
    );
    assert_error(
        r#"{"version":"1","tools":[]}"#,
        "tools: expected an object, got array",
    );
    assert_error(
        r#"{"version":"1","tools":{"t":{"rules":[]}},"all_tools":{"limitz":[]}}"#,
        r#"all_tools.limitz: unknown field"#,
    );
}

#[test]
fn rule_errors() {
    assert_error(
        &with_rule(r#"{"conditions":[{"path":"args.a","op":"eq","value":1}]}"#),
        "tools.t.rules[0]: rule must have a name",
    );
    assert_error(
        &with_rule(r#"{"name":"","action":"deny"}"#),
        "tools.t.rules[0]: rule must have a name",
    );
    assert_error(
        &with_rule(r#"{"name":"r","action":"block"}"#),
        r#"tools.t.rules[0].action: action must be "evaluate" or "deny", got "block""#,
    );
    assert_error(
        &with_rule(
            r#"{"name":"r","action":"deny","conditions":[{"path":"args.a","op":"eq","value":1}]}"#,
        ),
        "tools.t.rules[0]: deny rules must not have conditions",
    );
    assert_error(
        &with_rule(r#"{"name":"r"}"#),
        "tools.t.rules[0]: evaluate rules must have at least one condition",
    );
    assert_error(
        &with_rule(r#"{"name":"r","action":"evaluate","conditions":[]}"#),
        "tools.t.rules[0]: evaluate rules must have at least one condition",
    );
    assert_error(
        &with_rule(r#"{"name":"r","condtions":[]}"#),
        r#"tools.t.rules[0].condtions: unknown field "condtions""#,
    );
}

#[test]
fn condition_errors_inside_rules_and_items() {
    let rule = |cond: &str| {
        with_rule(&format!(
            r#"{{"name":"r","conditions":[{{"path":"args.a","op":"eq","value":1}},{cond}]}}"#
        ))
    };
    assert_error(
        &rule(r#"{"path":"amount","op":"eq","value":1}"#),
        r#"tools.t.rules[0].conditions[1].path: path must start with "args." or "state.", got "amount""#,
    );
    assert_error(
        &rule(r#"{"path":"args.a","op":"gtt","value":1}"#),
        r#"tools.t.rules[0].conditions[1].op: unknown operator "gtt""#,
    );
    assert_error(
        &rule(r#"{"path":"args.a","op":"in","value":"usd"}"#),
        r#"tools.t.rules[0].conditions[1].value: operator "in" requires a list value"#,
    );
    assert_error(
        &rule(r#"{"path":"args.a","op":"not_in","value":{}}"#),
        r#"tools.t.rules[0].conditions[1].value: operator "not_in" requires a list value"#,
    );
    for op in ["lt", "lte", "gt", "gte"] {
        assert_error(
            &rule(&format!(r#"{{"path":"args.a","op":"{op}","value":"5"}}"#)),
            &format!(
                r#"tools.t.rules[0].conditions[1].value: operator "{op}" requires a numeric value"#
            ),
        );
    }
    assert_error(
        &rule(r#"{"path":"args.a","op":"exists","value":1}"#),
        r#"tools.t.rules[0].conditions[1].value: operator "exists" requires a boolean value"#,
    );
    assert_error(
        &rule(r#"{"path":"args.a","op":"regex","value":["x"]}"#),
        "tools.t.rules[0].conditions[1].value: regex value must be a string",
    );
    assert_error(
        &rule(r#"{"path":"args.a","op":"regex","value":"a("}"#),
        r#"tools.t.rules[0].conditions[1].value: invalid regex "a(""#,
    );
    let item =
        |key: &str, cond: &str| with_tool(&format!(r#"{{"{key}":[{{"conditions":[{cond}]}}]}}"#));
    assert_error(
        &item("require", r#"{"path":"args.a","op":"gtt","value":1}"#),
        r#"tools.t.require[0].conditions[0].op: unknown operator "gtt""#,
    );
    assert_error(
        &item("deny_if", r#"{"path":"x.a","op":"eq","value":1}"#),
        r#"tools.t.deny_if[0].conditions[0].path: path must start with"#,
    );
    assert_error(
        &with_tool(r#"{"deny_if":[{"conditions":[]}]}"#),
        "tools.t.deny_if[0].conditions: must have at least one condition",
    );
    assert_error(
        &with_tool(r#"{"require":[{"on_deny":"x"}]}"#),
        r#"tools.t.require[0]: missing field "conditions""#,
    );
}

#[test]
fn counter_errors() {
    let state = |s: &str| {
        with_rule(&format!(
            r#"{{"name":"r","conditions":[{{"path":"args.a","op":"exists","value":true}}],"state":{s}}}"#
        ))
    };
    assert_error(
        &state(r#"{"counter":"","window":"hour"}"#),
        "tools.t.rules[0].state.counter: counter must not be empty",
    );
    assert_error(
        &state(r#"{"counter":"c","window":"week"}"#),
        r#"tools.t.rules[0].state.window: window must be "minute", "hour", or "day""#,
    );
    assert_error(
        &state(r#"{"counter":"c","window":"hour","increment_from":"amount"}"#),
        r#"tools.t.rules[0].state.increment_from: increment_from must start with "args.", got "amount""#,
    );
    assert_error(
        &state(r#"{"counter":"c","window":"hour","increment":0}"#),
        "tools.t.rules[0].state.increment: increment must be a positive number",
    );
    assert_error(
        &state(r#"{"counter":"c","window":"hour","scope":"team"}"#),
        r#"tools.t.rules[0].state.scope: unknown scope "team""#,
    );
    assert_error(
        &state(r#"{"counter":"c","window":"hour","max":3}"#),
        r#"tools.t.rules[0].state.max: unknown field"#,
    );

    let limit = |l: &str| with_tool(&format!(r#"{{"limits":[{l}]}}"#));
    assert_error(
        &limit(r#"{"counter":"c","window":"minute","max":0}"#),
        "tools.t.limits[0].max: max must be at least 1, got 0",
    );
    assert_error(
        &limit(r#"{"counter":"c","window":"minute","max":-2}"#),
        "tools.t.limits[0].max: max must be at least 1",
    );
    assert_error(
        &limit(r#"{"counter":"c","window":"minute"}"#),
        r#"tools.t.limits[0]: missing field "max""#,
    );
    assert_error(
        &limit(r#"{"counter":"c","window":"minute","max":5,"scope":"user"}"#),
        r#"tools.t.limits[0].scope: unknown scope "user""#,
    );
    assert_error(
        &limit(r#"{"counter":"c","window":0,"max":5}"#),
        "tools.t.limits[0].window: window must be",
    );
    assert_error(
        &limit(
            r#"{"counter":"c","window":"minute","max":5,"increment":1,"increment_from":"args.a"}"#,
        ),
        "tools.t.limits[0]: use increment or increment_from, not both",
    );
}

#[test]
fn state_references_must_name_a_defined_counter() {
    let text = r#"{"version":"1","tools":{
        "a":{"rules":[{"name":"r","conditions":[{"path":"state.a.missing","op":"lte","value":1}]}]},
        "b":{"rules":[{"name":"r","conditions":[{"path":"state._global.calls","op":"lte","value":1}]}]}}}"#;
    assert_error(text, "tools.a.rules[0].conditions[0].path: condition references state.a.missing but no matching state block found");
    assert_error(text, "tools.b.rules[0].conditions[0].path: condition references state._global.calls but no matching state block found");
    // Defined on another tool, on "*", or with a dotted tool name: fine.
    let ok = r#"{"version":"1","tools":{
        "a":{"rules":[{"name":"r","conditions":[{"path":"state.b.c","op":"lte","value":1},{"path":"state._global.g","op":"lte","value":5},{"path":"state.x.y.z","op":"lte","value":5}]}]},
        "b":{"limits":[{"counter":"c","window":"minute","max":9}]},
        "x.y":{"limits":[{"counter":"z","window":"minute","max":9}]},
        "*":{"rules":[{"name":"g","conditions":[{"path":"state._global.g","op":"lte","value":5}],"state":{"counter":"g","window":"minute"}}]}}}"#;
    assert_eq!(errors(ok), Vec::<String>::new());
}

#[test]
fn rate_limit_errors() {
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"0/hour"}"#),
        r#"tools.t.rules[0].rate_limit: rate_limit count must be a positive integer, got "0""#,
    );
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"x/hour"}"#),
        r#"tools.t.rules[0].rate_limit: rate_limit count must be a positive integer, got "x""#,
    );
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"1.5/hour"}"#),
        "tools.t.rules[0].rate_limit: rate_limit count must be a positive integer",
    );
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"5/week"}"#),
        r#"tools.t.rules[0].rate_limit: rate_limit window must be "minute", "hour", or "day", got "week""#,
    );
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"5"}"#),
        "tools.t.rules[0].rate_limit: rate_limit must look like",
    );
    assert_error(
        &with_rule(
            r#"{"name":"r","rate_limit":"5/hour","conditions":[{"path":"args.a","op":"exists","value":true}]}"#,
        ),
        "tools.t.rules[0]: rate_limit cannot be combined with conditions or state",
    );
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"5/hour","state":{"counter":"c","window":"hour"}}"#),
        "tools.t.rules[0]: rate_limit cannot be combined with conditions or state",
    );
    assert_error(
        &with_rule(r#"{"name":"r","rate_limit":"5/hour","action":"deny"}"#),
        r#"tools.t.rules[0]: rate_limit cannot be used with action "deny""#,
    );
    assert_error(
        &with_tool(r#"{"rate_limit":{"max":0,"window":60}}"#),
        "tools.t.rate_limit.max: rate_limit count must be a positive integer, got 0",
    );
    assert_error(
        &with_tool(r#"{"rate_limit":{"max":2.5,"window":60}}"#),
        "tools.t.rate_limit.max: rate_limit count must be a positive integer",
    );
    assert_error(
        &with_tool(r#"{"rate_limit":{"max":2,"window":"fortnight"}}"#),
        "tools.t.rate_limit.window: rate_limit window must be",
    );
    assert_error(
        &with_tool(r#"{"rate_limit":7}"#),
        "tools.t.rate_limit: rate_limit must be a string",
    );
}

#[test]
fn duplicate_counters_on_one_tool() {
    let cond = r#""conditions":[{"path":"args.a","op":"exists","value":true}]"#;
    assert_error(
        &with_rule(&format!(
            r#"{{"name":"a",{cond},"state":{{"counter":"c","window":"hour"}}}},{{"name":"b",{cond},"state":{{"counter":"c","window":"day"}}}}"#
        )),
        r#"tools.t.rules[1].state: duplicate counter "c" (also defined at tools.t.rules[0].state)"#,
    );
    // Rate limits name their own counters: two of one window are two
    // counters (a per-session and a global limit, say), not a duplicate.
    for text in [
        with_rule(
            r#"{"name":"a","rate_limit":"5/hour"},{"name":"b","rate_limit":{"max":9,"window":"hour","scope":"global"}}"#,
        ),
        with_tool(r#"{"rate_limit":"5/hour","rules":[{"name":"b","rate_limit":"9/hour"}]}"#),
    ] {
        let v = parse_owned(&text).unwrap();
        let mut report = Report::default();
        let policy = read_policy(&v, &Loc::root().as_policy_root(), "", &mut report)
            .unwrap_or_else(|| panic!("{:?}", report.errors));
        let names: Vec<&str> = policy.counters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["_rate_hour", "_rate_hour_2"], "{text}");
    }
    // The same name on two tools is two counters.
    let two = r#"{"version":"1","tools":{"a":{"limits":[{"counter":"c","window":"minute","max":1}]},"b":{"limits":[{"counter":"c","window":"minute","max":1}]}}}"#;
    assert_eq!(errors(two), Vec::<String>::new());
}

#[test]
fn tool_level_errors() {
    assert_error(
        &with_tool(r#"{"action":"block"}"#),
        r#"tools.t.action: action must be "allow", "deny" or "require_approval", got "block""#,
    );
    assert_error(
        &with_tool(r#"{"rulez":[]}"#),
        r#"tools.t.rulez: unknown field "rulez""#,
    );
    assert_error(
        &with_tool(r#"{"rules":{}}"#),
        "tools.t.rules: expected an array, got object",
    );
    assert_error(
        &with_tool(r#"[]"#),
        "tools.t: expected an object, got array",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let text = r#"{"version":"2","default":"maybe","hide":["",""],"tools":{
        "a":{"rules":[{"conditions":[{"path":"x","op":"gtt","value":1}]}]},
        "b":{"limits":[{"counter":"","window":"week","max":0}]}},"extra":1}"#;
    let found = errors(text);
    for expected in [
        "version: version must be",
        "default: default must be",
        "hide[0]: entry must not be empty",
        "hide[1]: entry must not be empty",
        "tools.a.rules[0]: rule must have a name",
        "tools.a.rules[0].conditions[0].path: path must start with",
        "tools.a.rules[0].conditions[0].op: unknown operator",
        "tools.b.limits[0].counter: counter must not be empty",
        "tools.b.limits[0].window: window must be",
        "tools.b.limits[0].max: max must be at least 1",
        "extra: unknown field",
    ] {
        assert!(
            found.iter().any(|e| e.starts_with(expected)),
            "missing {expected:?} in {found:#?}"
        );
    }
}

#[test]
fn both_forms_desugar_into_one_model() {
    let pl = r#"{"version":"1","default":"deny","tools":{"t":{"require":[{"conditions":[{"path":"args.n","op":"lte","value":5}],"on_deny":"no"}],
        "limits":[{"counter":"c","window":"minute","max":3}]}}}"#;
    let ic = r#"{"version":"1","default":"deny","tools":{"t":{"rules":[{"name":"n","conditions":[{"path":"args.n","op":"lte","value":5}],"on_deny":"no"},
        {"name":"limit","rate_limit":"3/minute"}]}}}"#;
    for text in [pl, ic] {
        let v = parse_owned(text).unwrap();
        let mut report = Report::default();
        let p = read_policy(&v, &Loc::root().as_policy_root(), "", &mut report).unwrap();
        let t = p.tools.get("t").unwrap();
        assert_eq!(t.checks.len(), 1);
        assert_eq!(t.checks[0].kind, CheckKind::Require);
        assert_eq!(t.counters.len(), 1);
        assert_eq!(p.counters[0].max.map(Num::as_f64), Some(3.0));
        assert_eq!(p.counters[0].window, Window::Minute);
        assert_eq!(p.counters[0].scope, Scope::Grant);
    }
}

#[test]
fn absent_default_is_a_warning_not_an_error() {
    let v = parse_owned(r#"{"version":"1","tools":{}}"#).unwrap();
    let mut report = Report::default();
    let p = read_policy(&v, &Loc::root().as_policy_root(), "", &mut report).unwrap();
    assert_eq!(p.default, Posture::Allow);
    assert!(!p.default_explicit);
    assert!(report.warnings[0]
        .message
        .contains("\"default\" is not set"));
}

#[test]
fn rls_backend_errors() {
    assert_error(
        &with_tool(r#"{"limits":[{"counter":"c","window":"minute","max":3,"backend":"redis"}]}"#),
        r#"tools.t.limits[0].backend: unknown backend "redis""#,
    );
    assert_error(
        &with_tool(
            r#"{"limits":[{"counter":"c","window":"minute","max":3,"increment":0.5,"backend":"rls"}]}"#,
        ),
        "tools.t.limits[0]: an RLS counter adds a whole number",
    );
    assert_error(
        &with_tool(r#"{"limits":[{"counter":"c","window":"minute","max":2.5,"backend":"rls"}]}"#),
        "tools.t.limits[0]: an RLS counter's max must be a whole number",
    );
    assert_error(
        &with_tool(
            r#"{"limits":[{"counter":"c","window":"minute","max":4294967296,"backend":"rls"}]}"#,
        ),
        "tools.t.limits[0]: an RLS counter's max must be a whole number up to 4294967295",
    );
    assert_error(
        &with_rule(r#"{"name":"r","state":{"counter":"c","window":"minute","backend":"rls"}}"#),
        "tools.t.rules[0].state: a state counter cannot use backend \"rls\"",
    );
    // The service never reports a value: no condition may read one.
    assert_error(
        &with_tool(
            r#"{"limits":[{"counter":"c","window":"minute","max":3,"backend":"rls"}],
               "require":[{"conditions":[{"path":"state.t.c","op":"lt","value":2}]}]}"#,
        ),
        "tools.t.require[0].conditions[0].path: condition reads state.t.c, which the Rate Limit Service counts",
    );
    let ok = errors(&with_tool(
        r#"{"limits":[{"counter":"c","window":"minute","max":3,"backend":"rls"}],
           "rate_limit":{"max":5,"window":60,"backend":"rls"}}"#,
    ));
    assert!(ok.is_empty(), "{ok:?}");
}
