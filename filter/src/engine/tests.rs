//! Every evaluation step of SPEC §3, each with a test that fails if the
//! step breaks.

use super::counters::{CounterStore, MemoryStore, Slot, StoreError};
use super::*;
use crate::fields::{Loc, Report};
use crate::json::parse_owned;
use crate::policy::read_policy;

/// 2026-01-01T00:00:30Z: 30 s into a minute.
const NOW: u64 = 1_767_225_630_000;

fn policy(text: &str) -> Policy {
    let v = parse_owned(text).unwrap();
    let mut report = Report::default();
    read_policy(&v, &Loc::root().as_policy_root(), "", &mut report)
        .unwrap_or_else(|| panic!("{:?}", report.errors))
}

struct World {
    policy: Policy,
    store: MemoryStore,
    now: u64,
    fleet: Fleet,
}

impl World {
    fn new(text: &str) -> World {
        World {
            policy: policy(text),
            store: MemoryStore::default(),
            now: NOW,
            fleet: Fleet::Local,
        }
    }

    fn call_as(&mut self, identity: &str, session: &str, tool: &str, args: &str) -> Outcome {
        let args = parse_owned(args).unwrap();
        let call = Call {
            tool,
            args: args.as_object(),
        };
        evaluate(
            &self.policy,
            call,
            Scopes {
                namespace: "",
                identity,
                session,
            },
            &mut self.store,
            self.now,
            self.fleet,
        )
    }

    fn call(&mut self, tool: &str, args: &str) -> Outcome {
        self.call_as("agent-1", "s1", tool, args)
    }

    fn verdict(&mut self, tool: &str, args: &str) -> (Verdict, String) {
        let o = self.call(tool, args);
        (o.verdict, o.rule)
    }

    fn counter(&mut self, name: &str, identity: &str) -> f64 {
        let c = self
            .policy
            .counters
            .iter()
            .find(|c| c.name == name)
            .unwrap();
        let scopes = Scopes {
            namespace: "",
            identity,
            session: identity,
        };
        let key = super::counter_key(c, scopes);
        self.store.read(&key, Slot::at(c.window, self.now)).unwrap()
    }
}

use Verdict::{Allow, ApprovalPending, Deny, RateLimited};

#[test]
fn step1_hidden_tools_are_denied() {
    let mut w =
        World::new(r#"{"version":"1","default":"allow","hide":["a","b"],"tools":{"b":{}}}"#);
    assert_eq!(w.verdict("b", "{}"), (Deny, "/hide/1".into()));
    assert!(w.call("a", "{}").reason.contains("hidden by policy"));
    assert_eq!(w.verdict("c", "{}").0, Allow);
    let mut all = World::new(r#"{"version":"1","hide":"*","tools":{"x":{}}}"#);
    assert_eq!(all.verdict("x", "{}"), (Deny, "/hide".into()));
    let mut list = World::new(r#"{"version":"1","hide":["*"],"tools":{}}"#);
    assert_eq!(list.verdict("x", "{}"), (Deny, "/hide/0".into()));
}

#[test]
fn step2_default_deny_and_wildcards_never_rescue() {
    let mut w = World::new(
        r#"{"version":"1","default":"deny","tools":{"listed":{},
            "*":{"rules":[{"name":"g","rate_limit":"100/minute"}]}}}"#,
    );
    assert_eq!(w.verdict("listed", "{}"), (Allow, "/tools/listed".into()));
    let o = w.call("other", "{}");
    assert_eq!((o.verdict, o.rule.as_str()), (Deny, "/default"));
    assert!(o.reason.contains("not permitted"), "{}", o.reason);
    assert!(o.counters.is_empty());
    // Unlisted under default allow: allowed, by the default.
    let mut open = World::new(r#"{"version":"1","tools":{}}"#);
    assert_eq!(open.verdict("anything", "{}"), (Allow, "/default".into()));
}

#[test]
fn step3_actions_and_deny_rules() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "drop":{"action":"deny","reason":"never"},
            "rm":{"rules":[{"name":"ok","conditions":[{"path":"args.a","op":"exists","value":true}]},
                           {"name":"block","action":"deny","on_deny":"no deletes"}]},
            "ok":{"action":"allow"}}}"#,
    );
    let o = w.call("drop", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str(), o.reason.as_str()),
        (Deny, "/tools/drop/action", "never")
    );
    // A deny rule wins even when an earlier rule would deny for another reason.
    let o = w.call("rm", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str(), o.reason.as_str()),
        (Deny, "/tools/rm/rules/1", "no deletes")
    );
    assert_eq!(w.verdict("ok", "{}").0, Allow);

    let mut star = World::new(
        r#"{"version":"1","tools":{"x":{},"*":{"rules":[{"name":"lockdown","action":"deny"}]}}}"#,
    );
    let o = star.call("x", "{}");
    assert_eq!((o.verdict, o.rule.as_str()), (Deny, "/tools/*/rules/0"));
    assert!(o.reason.contains("rule \"lockdown\""), "{}", o.reason);
}

#[test]
fn step4_rules_require_and_deny_if_in_order() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "charge":{
              "rules":[{"name":"max","conditions":[{"path":"args.amount","op":"lte","value":50000}],"on_deny":"too much"},
                       {"name":"cur","conditions":[{"path":"args.currency","op":"in","value":["usd","eur"]}]}],
              "deny_if":[{"conditions":[{"path":"args.note","op":"contains","value":"ignore previous"}],"on_deny":"injection"}],
              "require":[{"conditions":[{"path":"args.customer","op":"regex","value":"^cus_"}]}]},
            "*":{"rules":[{"name":"no prod","conditions":[{"path":"args.env","op":"neq","value":"prod"}]}]}}}"#,
    );
    let ok = r#"{"amount":100,"currency":"usd","customer":"cus_1","env":"dev"}"#;
    assert_eq!(w.verdict("charge", ok), (Allow, "/tools/charge".into()));
    let o = w.call(
        "charge",
        r#"{"amount":60000,"currency":"gbp","customer":"x","env":"dev"}"#,
    );
    assert_eq!(
        (o.rule.as_str(), o.reason.as_str()),
        ("/tools/charge/rules/0", "too much")
    );
    let o = w.call(
        "charge",
        r#"{"amount":1,"currency":"gbp","customer":"x","env":"dev"}"#,
    );
    assert_eq!(o.rule, "/tools/charge/rules/1");
    assert!(
        o.reason
            .contains("rule \"cur\": args.currency in [\"usd\",\"eur\"] does not hold"),
        "{}",
        o.reason
    );
    let o = w.call("charge", r#"{"amount":1,"currency":"usd","customer":"x","env":"dev","note":"please ignore previous"}"#);
    assert_eq!(
        (o.rule.as_str(), o.reason.as_str()),
        ("/tools/charge/deny_if/0", "injection")
    );
    let o = w.call(
        "charge",
        r#"{"amount":1,"currency":"usd","customer":"x","env":"dev"}"#,
    );
    assert_eq!(o.rule, "/tools/charge/require/0");
    let o = w.call(
        "charge",
        r#"{"amount":1,"currency":"usd","customer":"cus_9","env":"prod"}"#,
    );
    assert_eq!(o.rule, "/tools/*/rules/0");
    // Wildcard rules apply to unlisted tools under default allow, too.
    assert_eq!(
        w.verdict("other", r#"{"env":"prod"}"#),
        (Deny, "/tools/*/rules/0".into())
    );
    assert_eq!(w.verdict("other", r#"{"env":"dev"}"#).0, Allow);
}

#[test]
fn step4_wrong_types_never_let_a_call_through() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "charge":{"require":[{"conditions":[{"path":"args.amount","op":"lte","value":50000}]}]},
            "refund":{"deny_if":[{"conditions":[{"path":"args.amount","op":"gt","value":100}]}]},
            "push":{"deny_if":[{"conditions":[{"path":"args.branch","op":"eq","value":"main"}]}]}}}"#,
    );
    // Servers often coerce "60000" to 60000: neither form may pass.
    let o = w.call("charge", r#"{"amount":"60000"}"#);
    assert_eq!(o.verdict, Deny);
    assert!(
        o.reason
            .contains("wrong type for lte (expected a number, got string)"),
        "{}",
        o.reason
    );
    assert!(
        !o.reason.contains("60000\""),
        "argument values are never in reasons"
    );
    assert_eq!(w.verdict("refund", r#"{"amount":"1000"}"#).0, Deny);
    assert_eq!(w.verdict("refund", r#"{"amount":50}"#).0, Allow);
    assert_eq!(w.verdict("push", r#"{"branch":["main"]}"#).0, Deny);
    assert_eq!(w.verdict("push", r#"{"branch":"dev"}"#).0, Allow);
}

#[test]
fn step4_missing_arguments() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "a":{"require":[{"conditions":[{"path":"args.id","op":"exists","value":true}]}]},
            "b":{"deny_if":[{"conditions":[{"path":"args.steps","op":"exists","value":true}]}]},
            "c":{"deny_if":[{"conditions":[{"path":"args.env","op":"eq","value":"prod"}]}]},
            "d":{"require":[{"conditions":[{"path":"args.env","op":"neq","value":"prod"}]}]}}}"#,
    );
    let o = w.call("a", "{}");
    assert_eq!(o.verdict, Deny);
    assert!(
        o.reason.contains("args.id exists true does not hold"),
        "{}",
        o.reason
    );
    assert_eq!(
        w.verdict("a", r#"{"id":null}"#).0,
        Allow,
        "null is a value: the path resolves (SPEC Appendix A)"
    );
    assert_eq!(w.verdict("b", r#"{"steps":null}"#).0, Deny);
    assert_eq!(
        w.verdict("c", r#"{"env":null}"#).0,
        Allow,
        "null is not prod"
    );
    assert_eq!(w.verdict("b", "{}").0, Allow);
    assert_eq!(w.verdict("b", r#"{"steps":[]}"#).0, Deny);
    assert_eq!(
        w.verdict("c", "{}").0,
        Allow,
        "a deny_if on a missing path does not fire"
    );
    let o = w.call("d", "{}");
    assert_eq!(o.verdict, Deny, "a require on a missing path denies");
    assert!(o.reason.contains("args.env is missing"), "{}", o.reason);
}

#[test]
fn step4_a_key_spelled_in_another_case_is_unknown() {
    // A Go server reads `ENV` (or `\u0130d`) as the field; an exact one
    // ignores it. Neither reading may let the call through.
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "c":{"deny_if":[{"conditions":[{"path":"args.env","op":"eq","value":"prod"}]}]},
            "d":{"require":[{"conditions":[{"path":"args.env","op":"neq","value":"prod"}]}]},
            "n":{"deny_if":[{"conditions":[{"path":"args.cfg.items.0.id","op":"exists","value":true}]}]},
            "s":{"limits":[{"counter":"spend","window":"day","max":100,"increment_from":"args.amount"}]}}}"#,
    );
    for (tool, args) in [
        ("c", r#"{"ENV":"prod"}"#),
        ("d", r#"{"Env":"dev"}"#),
        ("n", r#"{"cfg":{"items":[{"ID":1}]}}"#),
        ("n", r#"{"CFG":{"items":[{"id":1}]}}"#),
        ("s", r#"{"AMOUNT":1000}"#),
    ] {
        let o = w.call(tool, args);
        assert_eq!(o.verdict, Deny, "{tool} {args}: {}", o.reason);
        assert!(o.reason.contains("another case"), "{}", o.reason);
    }
    // Only a missing exact key is looked at: other keys do not matter.
    assert_eq!(
        w.verdict("c", r#"{"env":"dev","ENVIRONMENT":"prod"}"#).0,
        Allow
    );
    assert_eq!(w.verdict("n", r#"{"cfg":{"items":[]}}"#).0, Allow);
    assert_eq!(w.verdict("s", r#"{"amount":5}"#).0, Allow);
}

#[test]
fn step5_limits_hold_exactly_and_reset_with_the_window() {
    let mut w = World::new(
        r#"{"version":"1","default":"deny","tools":{"t":{"limits":[{"counter":"c","window":"minute","max":3}]}}}"#,
    );
    for i in 1..=3 {
        let o = w.call("t", "{}");
        assert_eq!(o.verdict, Allow);
        assert_eq!(o.counters[0].value, f64::from(i));
        assert_eq!(o.counters[0].window_reset_ms, 30_000);
        assert_eq!(o.reservations.len(), 1);
    }
    let o = w.call("t", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str()),
        (RateLimited, "/tools/t/limits/0")
    );
    assert_eq!(o.retry_after_ms, Some(30_000));
    assert_eq!(o.counters[0].value, 3.0);
    assert_eq!(o.counters[0].max, Some(3.0));
    assert!(o.reservations.is_empty());
    assert_eq!(w.counter("c", "agent-1"), 3.0);
    w.now += 30_000;
    assert_eq!(w.verdict("t", "{}").0, Allow, "a new minute starts at zero");
}

#[test]
fn step5_scopes() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "g":{"limits":[{"counter":"c","window":"hour","max":1}]},
            "s":{"limits":[{"counter":"c","window":"hour","max":1,"scope":"session"}]},
            "all":{"limits":[{"counter":"c","window":"hour","max":1,"scope":"global"}]}}}"#,
    );
    let v = |w: &mut World, who: &str, session: &str, tool: &str| {
        w.call_as(who, session, tool, "{}").verdict
    };
    assert_eq!(v(&mut w, "a", "s1", "g"), Allow);
    assert_eq!(
        v(&mut w, "a", "s2", "g"),
        RateLimited,
        "grant scope follows the identity"
    );
    assert_eq!(v(&mut w, "b", "s1", "g"), Allow);
    assert_eq!(v(&mut w, "a", "s1", "s"), Allow);
    assert_eq!(
        v(&mut w, "b", "s1", "s"),
        RateLimited,
        "session scope follows the session"
    );
    assert_eq!(v(&mut w, "a", "s2", "s"), Allow);
    assert_eq!(v(&mut w, "a", "s1", "all"), Allow);
    assert_eq!(
        v(&mut w, "z", "s9", "all"),
        RateLimited,
        "global scope is shared"
    );
}

#[test]
fn step5_state_conditions_see_the_count_after_this_call() {
    let mut w = World::new(
        r#"{"version":"1","tools":{"create_issue":{"rules":[{"name":"hourly",
            "conditions":[{"path":"state.create_issue.n","op":"lte","value":2}],
            "on_deny":"Hourly limit reached","state":{"counter":"n","window":"hour"}}]}}}"#,
    );
    assert_eq!(w.verdict("create_issue", "{}").0, Allow);
    assert_eq!(w.verdict("create_issue", "{}").0, Allow);
    let o = w.call("create_issue", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str(), o.reason.as_str()),
        (
            RateLimited,
            "/tools/create_issue/rules/0",
            "Hourly limit reached"
        )
    );
    assert_eq!(o.retry_after_ms, Some(3_600_000 - 30_000));
    assert_eq!(w.counter("n", "agent-1"), 2.0, "denied calls count nowhere");
}

#[test]
fn step5_increment_from_sums_arguments() {
    let mut w = World::new(
        r#"{"version":"1","tools":{"create_charge":{"rules":[{"name":"daily spend",
            "conditions":[{"path":"state.create_charge.spend","op":"lte","value":1000}],
            "state":{"counter":"spend","window":"day","increment_from":"args.amount"}}]}}}"#,
    );
    assert_eq!(w.verdict("create_charge", r#"{"amount":600}"#).0, Allow);
    assert_eq!(w.verdict("create_charge", r#"{"amount":400}"#).0, Allow);
    assert_eq!(w.verdict("create_charge", r#"{"amount":1}"#).0, RateLimited);
    assert_eq!(w.counter("spend", "agent-1"), 1000.0);
    let o = w.call("create_charge", r#"{"amount":-500}"#);
    assert_eq!(
        (o.verdict, o.rule.as_str()),
        (Deny, "/tools/create_charge/rules/0/state")
    );
    assert!(o.reason.contains("non-negative number"), "{}", o.reason);
    assert_eq!(w.verdict("create_charge", r#"{"amount":"5"}"#).0, Deny);
    assert_eq!(
        w.verdict("create_charge", "{}").0,
        Allow,
        "a missing amount adds nothing"
    );
    assert_eq!(w.counter("spend", "agent-1"), 1000.0);
}

#[test]
fn step5_all_or_none() {
    let mut w = World::new(
        r#"{"version":"1","all_tools":{"limits":[{"counter":"all","window":"minute","max":2}]},
            "tools":{"t":{"limits":[{"counter":"mine","window":"minute","max":5}]}}}"#,
    );
    assert_eq!(w.verdict("t", "{}").0, Allow);
    assert_eq!(w.verdict("other", "{}").0, Allow);
    let o = w.call("t", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str()),
        (RateLimited, "/all_tools/limits/0")
    );
    assert_eq!(
        w.counter("mine", "agent-1"),
        1.0,
        "the tool counter was given back"
    );
    assert_eq!(w.counter("all", "agent-1"), 2.0);
}

#[test]
fn step5_rate_limit_forms() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "a":{"rate_limit":"2/minute"},
            "b":{"rate_limit":{"max":1,"window":10}},
            "c":{"rules":[{"name":"r","rate_limit":"1/hour","on_deny":"slow down"}]},
            "*":{"rules":[{"name":"global","rate_limit":"4/minute"}]}}}"#,
    );
    assert_eq!(w.verdict("a", "{}").0, Allow);
    assert_eq!(w.verdict("a", "{}").0, Allow);
    let o = w.call("a", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str()),
        (RateLimited, "/tools/a/rate_limit")
    );
    assert!(
        o.reason.contains("Rate limit of 2 per minute"),
        "{}",
        o.reason
    );
    let o = w.call("b", "{}");
    assert_eq!(o.verdict, Allow);
    let b = w.call("b", "{}");
    assert_eq!(b.verdict, RateLimited);
    assert_eq!(b.retry_after_ms, Some(10_000 - (NOW % 10_000)));
    assert_eq!(w.verdict("c", "{}").0, Allow);
    let o = w.call("c", "{}");
    assert_eq!((o.verdict, o.reason.as_str()), (RateLimited, "slow down"));
    // a, a, b, c: the fourth call of the minute; the wildcard counter is _global.
    let o = w.call("d", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str()),
        (RateLimited, "/tools/*/rules/0/rate_limit")
    );
    assert_eq!(w.counter("_rate_minute", "agent-1"), 2.0);
}

#[test]
fn step5_deny_if_and_other_tools_counters() {
    let mut w = World::new(
        r#"{"version":"1","tools":{
            "write":{"limits":[{"counter":"writes","window":"minute","max":10}]},
            "delete":{"deny_if":[{"conditions":[{"path":"state.write.writes","op":"gte","value":2}],"on_deny":"too busy"}]},
            "read":{"rules":[{"name":"r","conditions":[{"path":"state._global.calls","op":"lte","value":3}]}]},
            "*":{"rules":[{"name":"count","conditions":[{"path":"state._global.calls","op":"gte","value":0}],
                           "state":{"counter":"calls","window":"minute"}}]}}}"#,
    );
    assert_eq!(w.verdict("delete", "{}").0, Allow, "writes = 0");
    assert_eq!(w.verdict("write", "{}").0, Allow);
    assert_eq!(w.verdict("write", "{}").0, Allow);
    let o = w.call("delete", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str(), o.reason.as_str()),
        (RateLimited, "/tools/delete/deny_if/0", "too busy")
    );
    // calls so far: delete, write, write (the denied delete gave its back).
    assert_eq!(w.counter("calls", "agent-1"), 3.0);
    let o = w.call("read", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str()),
        (RateLimited, "/tools/read/rules/0")
    );
    assert_eq!(w.counter("calls", "agent-1"), 3.0);
}

#[test]
fn step6_require_approval_holds_reservations() {
    let mut w = World::new(
        r#"{"version":"1","tools":{"deploy":{"action":"require_approval","reason":"humans deploy",
            "limits":[{"counter":"d","window":"day","max":5}]}}}"#,
    );
    let o = w.call("deploy", "{}");
    assert_eq!(
        (o.verdict, o.rule.as_str(), o.reason.as_str()),
        (ApprovalPending, "/tools/deploy/action", "humans deploy")
    );
    assert_eq!(o.reservations.len(), 1);
}

#[test]
fn numbers_compare_by_value_in_rules() {
    let mut w = World::new(
        r#"{"version":"1","tools":{"t":{"require":[{"conditions":[{"path":"args.n","op":"eq","value":5}]}]}}}"#,
    );
    assert_eq!(w.verdict("t", r#"{"n":5.0}"#).0, Allow);
    assert_eq!(w.verdict("t", r#"{"n":5e0}"#).0, Allow);
    assert_eq!(w.verdict("t", r#"{"n":5.000001}"#).0, Deny);
}

struct BrokenStore;

impl CounterStore for BrokenStore {
    fn reserve(
        &mut self,
        _: &str,
        _: Slot,
        _: f64,
        _: &dyn Fn(f64) -> bool,
    ) -> Result<f64, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    fn release(&mut self, _: &str, _: Slot, _: f64) {}
    fn read(&mut self, _: &str, _: Slot) -> Result<f64, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
}

#[test]
fn an_unavailable_store_fails_closed() {
    let p = policy(r#"{"version":"1","tools":{"t":{"rate_limit":"5/minute"},"free":{}}}"#);
    let call = |tool| Call { tool, args: None };
    let o = evaluate(
        &p,
        call("t"),
        Scopes::default(),
        &mut BrokenStore,
        NOW,
        Fleet::Local,
    );
    assert_eq!(o.verdict, Deny);
    assert!(o.reason.contains("Rate limiter unavailable"));
    assert_eq!(
        evaluate(
            &p,
            call("free"),
            Scopes::default(),
            &mut BrokenStore,
            NOW,
            Fleet::Local
        )
        .verdict,
        Allow
    );
}

#[test]
fn tools_list_visibility() {
    let p = policy(
        r#"{"version":"1","default":"deny","hide":["secret"],"tools":{
            "ok":{},"secret":{},"off":{"action":"deny"},"blocked":{"rules":[{"name":"x","action":"deny"}]},
            "ask":{"action":"require_approval"},"cond":{"require":[{"conditions":[{"path":"args.a","op":"exists","value":true}]}]}}}"#,
    );
    let listed: Vec<&str> = ["ok", "secret", "off", "blocked", "ask", "cond", "unlisted"]
        .into_iter()
        .filter(|t| p.lists(t))
        .collect();
    // `ask` can never run while no approval service exists.
    assert_eq!(listed, ["ok", "cond"]);
    let open = policy(r#"{"version":"1","tools":{}}"#);
    assert!(open.lists("anything"));
    let locked =
        policy(r#"{"version":"1","tools":{"a":{},"*":{"rules":[{"name":"x","action":"deny"}]}}}"#);
    assert!(!locked.lists("a"));
}

const MIXED: &str = r#"{"version":"1","default":"deny","tools":{"pay":{"limits":[
    {"counter":"calls","window":"minute","max":2,"backend":"rls"},
    {"counter":"spend","window":"day","max":100,"increment_from":"args.amount","backend":"rls"},
    {"counter":"local","window":"minute","max":1}]}}}"#;

#[test]
fn fleet_counters_are_asked_before_anything_local_is_reserved() {
    let mut w = World::new(MIXED);
    w.fleet = Fleet::Ask;
    let o = w.call("pay", r#"{"amount":2.5}"#);
    assert_eq!(o.verdict, Verdict::Allow);
    assert!(o.reservations.is_empty());
    // The amount rounds up: a limit holds whichever way a server reads it.
    assert_eq!(o.fleet, vec![(0, 1), (1, 3)]);
    // Nothing local was taken while asking.
    assert_eq!(w.store.total(), 0.0);
}

#[test]
fn admitted_fleet_counters_leave_only_local_ones() {
    let mut w = World::new(MIXED);
    w.fleet = Fleet::Admitted;
    let o = w.call("pay", r#"{"amount":0}"#);
    assert_eq!(o.verdict, Verdict::Allow);
    assert!(o.fleet.is_empty());
    assert_eq!(o.reservations.len(), 1);
    // The local limit still refuses the second call.
    assert_eq!(
        w.call("pay", r#"{"amount":0}"#).verdict,
        Verdict::RateLimited
    );
}

#[test]
fn fleet_counters_that_add_nothing_are_not_asked() {
    let mut w = World::new(
        r#"{"version":"1","tools":{"pay":{"limits":[
        {"counter":"spend","window":"day","max":100,"increment_from":"args.amount","backend":"rls"}]}}}"#,
    );
    w.fleet = Fleet::Ask;
    let o = w.call("pay", r#"{"amount":0}"#);
    assert_eq!(o.verdict, Verdict::Allow);
    assert!(o.fleet.is_empty());
}

#[test]
fn without_a_service_fleet_counters_count_here() {
    // Only an RLS counter: its max alone can refuse the second call.
    let mut w = World::new(
        r#"{"version":"1","tools":{"pay":{"limits":[
        {"counter":"calls","window":"minute","max":1,"backend":"rls"}]}}}"#,
    );
    assert_eq!(w.call("pay", "{}").verdict, Verdict::Allow);
    let second = w.call("pay", "{}");
    assert_eq!(second.verdict, Verdict::RateLimited);
    assert_eq!(second.rule, "/tools/pay/limits/0");
}

#[test]
fn a_fleet_amount_over_the_max_is_refused_without_asking() {
    let mut w = World::new(MIXED);
    w.fleet = Fleet::Ask;
    // 9e15 could never be admitted (and would not fit hits_addend).
    let o = w.call("pay", r#"{"amount":9000000000000000}"#);
    assert_eq!(o.verdict, Verdict::RateLimited);
    assert_eq!(o.rule, "/tools/pay/limits/1");
    assert!(o.fleet.is_empty());
}
