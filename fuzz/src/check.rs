//! The properties the targets assert. Each failure panics with the name of
//! the property, so libFuzzer keeps the input as a crash.

use crate::policies::Parsed;
use crate::reference;
use mcp_policy::config::{Caller, Config, DenyAs};
use mcp_policy::decision::{codes, Decision, Verdict};
use mcp_policy::engine::conditions::equal;
use mcp_policy::engine::counters::{CounterStore, MemoryStore, Slot};
use mcp_policy::engine::{evaluate, Call, Scopes};
use mcp_policy::json::{self, Json};
use mcp_policy::judge::{judge, refused, Context, Judgement};
use mcp_policy::mcp::{self, Body, Kind, Refusal};
use mcp_policy::policy::Subject;
use mcp_policy::respond::{self, Reply, Style};
use mcp_policy::stream::fake::Facts;
use serde_json::Value;
use std::borrow::Cow;

/// Whether the finding `name` is known and its property switched off, by
/// `MCP_POLICY_FUZZ_KNOWN=name,name` (to keep fuzzing past a finding that
/// is not fixed yet; see fuzz/README.md for the names).
pub fn known(name: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("MCP_POLICY_FUZZ_KNOWN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .iter()
        .any(|k| k == name)
}

// ---------------------------------------------------------------- JSON, MCP

/// Every property of `json::parse`, `mcp::parse`, `could_be_json` and
/// `is_jsonrpc_shaped` on `bytes`; returns what `mcp::parse` returned.
pub fn parsers(bytes: &[u8]) -> Result<Body<'_>, Refusal> {
    let strict = json::parse(bytes);
    let lenient = reference::parse(bytes);

    // The filter reads exactly what a lenient reader reads without
    // duplicate keys: two parsers that disagree are a bypass.
    let lenient_clean = lenient.as_ref().is_ok_and(|r| !r.has_duplicates());
    assert_eq!(
        strict.is_ok(),
        lenient_clean,
        "json::parse and the reference disagree: strict {:?}, reference {:?}",
        strict.as_ref().err(),
        lenient
            .as_ref()
            .map(|r| (r.duplicate_keys, r.folded_duplicate_keys))
    );

    if let (Ok(value), Ok(reading)) = (&strict, &lenient) {
        assert!(
            reference::same(value, &reading.value),
            "json::parse read another document than the reference"
        );
        // Written back, the value reads the same, and writes the same.
        let text = value.to_text();
        let again = json::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("to_text is not strict JSON ({e}): {text}"));
        if !known("float-roundtrip") {
            assert!(
                same_doubles(value, &again),
                "to_text changed the value: {text}"
            );
            assert_eq!(again.to_text(), text, "to_text is not stable");
        }
        if matches!(value, Json::Obj(_) | Json::Arr(_)) {
            assert!(
                mcp::could_be_json(bytes),
                "could_be_json says no to a JSON object or array"
            );
        }
        // Off the MCP paths only JSON-RPC-shaped JSON is judged: whatever a
        // server could run as a call must be shaped so, also when it spells
        // the members in another case (Go servers match them so).
        let could_be_call = messages_of(&reading.value).iter().any(|m| {
            m.as_object().is_some_and(|o| {
                o.iter().any(|(k, v)| {
                    k == "jsonrpc"
                        || (k.eq_ignore_ascii_case("method") && v.as_str() == Some("tools/call"))
                })
            })
        });
        if could_be_call && !known("case-variant-members") {
            assert!(
                mcp::is_jsonrpc_shaped(value),
                "a document a server could run as a call is not JSON-RPC-shaped"
            );
        }
    }

    let parsed = mcp::parse(bytes);
    match &parsed {
        Ok(body) => {
            let value = strict
                .as_ref()
                .expect("mcp::parse accepted what json::parse refuses");
            assert!(mcp::is_jsonrpc_shaped(value), "JSON-RPC not shaped so");
            assert!(mcp::could_be_json(bytes), "JSON-RPC that cannot be JSON");
            let reading = lenient.as_ref().expect("reference reads it");
            body_matches_reference(body, &reading.value);
        }
        Err(refusal) => {
            assert!(
                [
                    codes::PARSE_ERROR,
                    codes::INVALID_REQUEST,
                    codes::INVALID_PARAMS
                ]
                .contains(&refusal.code),
                "refusal with an unexpected code {}",
                refusal.code
            );
            assert_eq!(
                refusal.code == codes::PARSE_ERROR,
                strict.is_err(),
                "a parse error iff the body is not strict JSON: {refusal:?}"
            );
            assert!(!refusal.message.is_empty(), "refusal without a message");
            if let Some(id) = &refusal.id {
                assert!(
                    matches!(id, Json::Str(_) | Json::Num(_)),
                    "refusal echoes an id that is not a string or number"
                );
            }
        }
    }
    parsed
}

/// The messages of a document: the array's elements, or the document.
/// Equal documents, numbers compared by their nearest double: what writing
/// a value back (`to_text`) keeps. The exact decimal of a literal no double
/// holds is not kept: written back, `0.10000000000000001` is `0.1`.
fn same_doubles(a: &Json<'_>, b: &Json<'_>) -> bool {
    match (a, b) {
        (Json::Num(x), Json::Num(y)) => x.as_f64() == y.as_f64(),
        (Json::Arr(x), Json::Arr(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_doubles(p, q))
        }
        (Json::Obj(x), Json::Obj(y)) => {
            x.len() == y.len()
                && x.0
                    .iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_doubles(v, w)))
        }
        _ => equal(a, b),
    }
}

pub fn messages_of(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// What the filter understood of each message is what a server reads.
fn body_matches_reference(body: &Body<'_>, value: &Value) {
    let messages = messages_of(value);
    assert_eq!(body.is_batch(), value.is_array(), "batch or not");
    assert!(!body.messages().is_empty(), "an empty batch was accepted");
    assert_eq!(body.messages().len(), messages.len(), "message count");
    for (m, v) in body.messages().iter().zip(messages) {
        let method = v.get("method").and_then(Value::as_str);
        match &m.kind {
            Kind::ToolCall(call) => {
                assert_eq!(method, Some("tools/call"), "a tools/call that is not");
                let params = &v["params"];
                assert_eq!(
                    params.get("name").and_then(Value::as_str),
                    Some(call.name.as_ref()),
                    "the tool name the server reads"
                );
                assert!(!call.name.is_empty(), "empty tool name accepted");
                let id = m.id.as_ref().expect("a tools/call without an id");
                assert!(matches!(id, Json::Str(_) | Json::Num(_)), "id type");
                match (params.get("arguments"), &call.arguments) {
                    (None | Some(Value::Null), None) => {}
                    (Some(Value::Object(a)), Some(b)) => {
                        assert!(
                            reference::same(&Json::Obj(b.clone()), &Value::Object(a.clone())),
                            "the arguments the server reads"
                        );
                    }
                    (a, b) => panic!("arguments differ: server {a:?}, filter {b:?}"),
                }
            }
            Kind::Other { method: m2, .. } => {
                assert_ne!(
                    method,
                    Some("tools/call"),
                    "a tools/call read as another method"
                );
                assert_eq!(method, Some(m2.as_ref()), "method");
            }
            Kind::Response => {
                assert!(v.get("method").is_none(), "a request read as a response");
                assert!(
                    v.get("result").is_some() != v.get("error").is_some(),
                    "a response needs exactly one of result and error"
                );
            }
        }
    }
}

// ---------------------------------------------------------------- config

/// Every property of `Config::parse` on `bytes`.
pub fn config(bytes: &[u8]) -> Option<Config> {
    let first = Config::parse(bytes);
    let second = Config::parse(bytes);
    match (&first, &second) {
        (Err(a), Err(b)) => assert_eq!(a, b, "Config::parse reports errors differently twice"),
        (Ok(a), Ok(b)) => {
            let digests = |c: &Config| -> Vec<String> {
                c.policies.iter().map(|(_, p)| p.sha256.clone()).collect()
            };
            assert_eq!(digests(a), digests(b), "policy digests differ between runs");
            assert_eq!(a.warnings, b.warnings, "warnings differ between runs");
        }
        _ => panic!("Config::parse is not deterministic"),
    }
    match &first {
        Err(errors) => {
            assert!(!errors.is_empty(), "Config::parse refused with no error");
            for e in errors {
                assert!(!e.message.trim().is_empty(), "an error without a message");
            }
        }
        Ok(c) => valid_config(bytes, c),
    }
    bare_policy_is_wrapped_policy(bytes, &first);
    first.ok()
}

fn valid_config(bytes: &[u8], c: &Config) {
    assert!(
        json::parse(bytes).is_ok(),
        "a configuration that is not strict JSON was accepted"
    );
    assert!(
        (1..=64 << 20).contains(&c.mcp.max_body_bytes),
        "max_body_bytes out of range"
    );
    assert!(
        c.mcp.paths.iter().all(|p| p.starts_with('/')),
        "mcp path without /"
    );
    let n = c.policies.len();
    if !c.uses_grants {
        assert_eq!(n, 1, "a single-policy configuration with {n} policies");
    }
    for g in &c.grants {
        assert!(
            g.policy.is_none_or(|i| i < n),
            "grant {} names no policy",
            g.name
        );
    }
    assert!(
        c.unmatched.is_none_or(|i| i < n),
        "unmatched names no policy"
    );
    for (_, p) in &c.policies {
        assert!(
            p.sha256.len() == 64 && p.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
            "policy digest is not hex sha256"
        );
        // Written against the public surface only (`keys` and `get`), which
        // works whether tools sit in a map or a sorted list.
        let tools = p
            .tools
            .keys()
            .filter_map(|k| p.tools.get(k))
            .chain(std::iter::once(&p.wildcard));
        for t in tools {
            for &i in &t.counters {
                assert!(i < p.counters.len(), "tool counter index out of range");
            }
            for check in &t.checks {
                for cond in &check.conditions {
                    match &cond.subject {
                        Subject::Counter(i) => assert!(*i < p.counters.len(), "condition counter"),
                        Subject::State(s) => {
                            panic!("unresolved state condition {s:?} in a valid policy")
                        }
                        Subject::Arg(_) => {}
                    }
                }
            }
        }
        // Tools the policy never lists are always denied, before counters.
        let mut names: Vec<&str> = p.tools.keys().collect();
        names.extend(p.hidden.keys());
        names.push("zz_unlisted_tool");
        for name in names {
            let empty = json::Object::default();
            for args in [None, Some(&empty)] {
                let mut store = MemoryStore::default();
                let call = Call { tool: name, args };
                let scopes = Scopes {
                    namespace: "",
                    identity: "agent",
                    session: "s",
                };
                let o = evaluate(
                    p,
                    call,
                    scopes,
                    &mut store,
                    crate::NOW_MS,
                    mcp_policy::engine::Fleet::Local,
                );
                // Without an approval service, ApprovalPending ends as a
                // denial (judge); tools/list leaves such tools out.
                if !p.lists(name) && o.verdict != Verdict::ApprovalPending {
                    assert_eq!(
                        o.verdict,
                        Verdict::Deny,
                        "tool {name:?} is not listed, but a call was {:?} by {}",
                        o.verdict,
                        o.rule
                    );
                }
            }
        }
    }
    // Naming a caller never fails, and names a policy that exists.
    for who in ["", "agent-a", "agent-b", "agent-x", "sub:1234"] {
        let facts = Facts {
            headers: vec![
                ("x-agent-id".into(), who.into()),
                ("authorization".into(), format!("Bearer {who}")),
            ],
            properties: Vec::new(),
        };
        let caller = c.caller(&facts);
        assert!(
            caller.policy.is_none_or(|i| i < n),
            "caller names no policy"
        );
    }
}

/// A bare policy and `{"policy": <it>}` are the same configuration: both
/// valid, or both invalid with the same errors under `policy`.
fn bare_policy_is_wrapped_policy(
    bytes: &[u8],
    bare: &Result<Config, Vec<mcp_policy::fields::ConfigError>>,
) {
    let Ok(reading) = reference::parse(bytes) else {
        return;
    };
    let v = &reading.value;
    let is_bare = v.is_object()
        && v.get("version").is_some()
        && v.get("tools").is_some()
        && v.get("policy").is_none()
        && v.get("policies").is_none();
    if !is_bare || reading.has_duplicates() {
        return;
    }
    let mut wrapped = b"{\"policy\":".to_vec();
    wrapped.extend_from_slice(bytes);
    wrapped.push(b'}');
    let wrapped = Config::parse(&wrapped);
    match (bare, &wrapped) {
        (Ok(a), Ok(b)) => assert_eq!(
            a.policies[0].1.sha256, b.policies[0].1.sha256,
            "bare and wrapped policy digests differ"
        ),
        (Err(a), Err(b)) => {
            assert_eq!(
                a.len(),
                b.len(),
                "bare and wrapped report different errors: {a:?} / {b:?}"
            );
            for (x, y) in a.iter().zip(b) {
                // Messages may name other paths ("also defined at ..."),
                // which move under `policy` too.
                let unwrapped = y.message.replace(" policy.", " ").replace(" policy[", " [");
                assert_eq!(x.message, unwrapped, "bare and wrapped error messages");
                let expected = if x.path.is_empty() {
                    "policy".to_owned()
                } else if x.path.starts_with('[') {
                    format!("policy{}", x.path)
                } else {
                    format!("policy.{}", x.path)
                };
                assert_eq!(y.path, expected, "wrapped error path");
            }
        }
        (a, b) => panic!(
            "bare policy {} but wrapped {}",
            if a.is_ok() { "valid" } else { "invalid" },
            if b.is_ok() { "valid" } else { "invalid" }
        ),
    }
}

// ---------------------------------------------------------------- judging

/// One request judged again and again under one configuration and caller.
pub struct Scenario<'p> {
    pub parsed: &'p Parsed,
    pub facts: Facts,
    pub session: Option<String>,
    pub request_id: Option<String>,
    pub protocol_version: Option<String>,
    pub now_ms: u64,
    /// How many times the same body is judged, on the same counters.
    pub runs: usize,
}

/// What one judgement gave.
pub struct Outcome {
    pub decision: Decision,
    pub judgement_held: usize,
    pub text: String,
}

impl Scenario<'_> {
    pub fn caller(&self) -> Caller {
        self.parsed.config.caller(&self.facts)
    }

    fn context<'c>(&'c self, caller: &'c Caller) -> Context<'c> {
        Context {
            caller,
            namespace: "",
            session: self.session.as_deref(),
            request_id: self.request_id.as_deref(),
            now_ms: self.now_ms,
        }
    }

    /// Judges `body` `runs` times on fresh counters, checking every
    /// decision, reply and counter change.
    pub fn play(&self, body: &[u8]) -> Vec<Outcome> {
        let config = &self.parsed.config;
        let caller = self.caller();
        let ctx = self.context(&caller);
        let parsed = match mcp::parse(body) {
            Ok(p) => p,
            Err(refusal) => {
                let d = refused(&refusal, ctx);
                assert_eq!(
                    d.decision,
                    Verdict::Invalid,
                    "a refusal that is not invalid"
                );
                self.decision_and_replies(&d, None, body);
                return vec![Outcome {
                    text: d.to_json(),
                    decision: d,
                    judgement_held: 0,
                }];
            }
        };
        let mut store = MemoryStore::default();
        let keys = counter_keys(config, &caller, self.session.as_deref(), self.now_ms);
        let mut out = Vec::new();
        for _ in 0..self.runs.max(1) {
            let before = read_all(&mut store, &keys);
            let j = judge(config, &parsed, ctx, &mut store);
            let after = read_all(&mut store, &keys);
            self.counters_moved_as_held(&j, &keys, &before, &after);
            self.decision_and_replies(&j.decision, Some(&parsed), body);
            out.push(Outcome {
                text: j.decision.to_json(),
                judgement_held: j.reservations.len(),
                decision: j.decision,
            });
        }
        out
    }

    /// Everything about one body: every run's properties, determinism, and
    /// that no argument value reaches the decision's JSON.
    pub fn check(&self, body: &[u8]) -> Vec<Outcome> {
        let first = self.play(body);
        let second = self.play(body);
        let texts = |o: &[Outcome]| o.iter().map(|x| x.text.clone()).collect::<Vec<_>>();
        assert_eq!(
            texts(&first),
            texts(&second),
            "judging is not deterministic"
        );
        self.no_argument_values_in_decisions(body, &first);
        first
    }

    fn counters_moved_as_held(
        &self,
        j: &Judgement,
        keys: &[(String, Slot)],
        before: &[f64],
        after: &[f64],
    ) {
        let blocked = j.decision.decision.blocks();
        if blocked {
            assert!(
                j.reservations.is_empty(),
                "a blocked request holds reservations"
            );
        }
        for (i, (key, slot)) in keys.iter().enumerate() {
            let reserved: f64 = j
                .reservations
                .iter()
                .filter(|r| &r.key == key && r.slot == *slot)
                .map(|r| r.amount)
                .sum();
            let expected = before[i] + reserved;
            let got = after[i];
            if !expected.is_finite() || !got.is_finite() {
                continue;
            }
            let tolerance = 1e-9 * expected.abs().max(1.0);
            assert!(
                (got - expected).abs() <= tolerance,
                "counter {key:?} is {got} after a {} decision, expected {expected} (before {}, reserved {reserved})",
                j.decision.decision.label(),
                before[i]
            );
        }
    }

    fn decision_and_replies(&self, d: &Decision, body: Option<&Body<'_>>, raw: &[u8]) {
        decision(d, body);
        let deny_as = self.parsed.config.deny_as;
        for version in [None, self.protocol_version.as_deref(), Some("2026-07-28")] {
            let r = reply(Style::new(deny_as, version), d);
            if d.decision.blocks() && !raw.is_empty() && !known("raw-ids") {
                // The stream echoes ids as the body spelled them.
                let mut spelled = d.clone();
                let batch = raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
                spelled.set_raw_ids(mcp::raw_ids(raw), batch);
                reply(Style::new(deny_as, version), &spelled);
            }
            if let (Some(r), Some(body)) = (r, body) {
                if body.is_batch() && !known("reply-to-responses") {
                    // JSON-RPC answers requests, never responses or
                    // notifications: one response per request with an id.
                    let requests = body
                        .messages()
                        .iter()
                        .filter(|m| m.id.is_some() && m.method().is_some())
                        .count();
                    let items = serde_json::from_str::<Value>(&r.body)
                        .ok()
                        .and_then(|v| v.as_array().map(Vec::len));
                    assert_eq!(
                        items,
                        Some(requests),
                        "a blocked batch is answered with one response per request (not per client response): {}",
                        r.body
                    );
                }
            }
        }
    }

    fn no_argument_values_in_decisions(&self, body: &[u8], outcomes: &[Outcome]) {
        let Ok(parsed) = mcp::parse(body) else { return };
        let mut secrets = Vec::new();
        let mut haystack: Vec<String> = vec![self.parsed.text.clone()];
        collect_config_strings(&self.parsed.text, &mut haystack);
        haystack.extend(self.facts.headers.iter().map(|(_, v)| v.clone()));
        haystack.extend(self.session.clone());
        haystack.extend(self.request_id.clone());
        for m in parsed.messages() {
            haystack.extend(m.method().map(str::to_owned));
            if let Some(id) = &m.id {
                haystack.push(id.to_text());
            }
            if let Kind::ToolCall(call) = &m.kind {
                haystack.push(call.name.to_string());
                if let Some(args) = &call.arguments {
                    strings_in(&Json::Obj(args.clone()), &mut secrets, &mut haystack);
                }
            }
        }
        secrets.sort();
        secrets.dedup();
        for secret in secrets {
            if secret.chars().count() < 8 || haystack.iter().any(|h| h.contains(&secret)) {
                continue;
            }
            let escaped = escaped(&secret);
            let shows = |text: &str| text.contains(&secret) || text.contains(&escaped);
            let Some(run) = outcomes.iter().position(|o| shows(&o.text)) else {
                continue;
            };
            // Text the engine writes itself may hold the same characters:
            // judge again with that value replaced. If the text still shows
            // it, it did not come from the argument.
            let replaced = replace_string(body, &secret);
            let again = self.play(&replaced);
            let still = again.get(run).is_some_and(|o| shows(&o.text));
            assert!(
                still,
                "argument value {secret:?} appears in the decision: {}",
                outcomes[run].text
            );
        }
    }
}

fn collect_config_strings(text: &str, out: &mut Vec<String>) {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| {
                out.push(k.clone());
                walk(x, out)
            }),
            _ => {}
        }
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        walk(&v, out);
    }
}

/// String values (secrets) and object keys (not secret) of the arguments.
fn strings_in(v: &Json<'_>, secrets: &mut Vec<String>, keys: &mut Vec<String>) {
    match v {
        Json::Str(s) => secrets.push(s.to_string()),
        Json::Arr(items) => items.iter().for_each(|x| strings_in(x, secrets, keys)),
        Json::Obj(o) => {
            for (k, x) in &o.0 {
                keys.push(k.to_string());
                strings_in(x, secrets, keys);
            }
        }
        _ => {}
    }
}

fn escaped(s: &str) -> String {
    let q = serde_json::to_string(s).unwrap_or_default();
    q[1..q.len() - 1].to_owned()
}

/// The body with every string equal to `secret` replaced by private-use
/// characters of the same count.
fn replace_string(body: &[u8], secret: &str) -> Vec<u8> {
    fn walk(v: &mut Json<'static>, secret: &str, with: &str) {
        match v {
            Json::Str(s) if s.as_ref() == secret => *s = Cow::Owned(with.to_owned()),
            Json::Arr(items) => items.iter_mut().for_each(|x| walk(x, secret, with)),
            Json::Obj(o) => o.0.iter_mut().for_each(|(_, x)| walk(x, secret, with)),
            _ => {}
        }
    }
    let Ok(v) = json::parse(body) else {
        return body.to_vec();
    };
    let mut v = v.into_owned();
    let with: String = std::iter::repeat_n('\u{E000}', secret.chars().count()).collect();
    walk(&mut v, secret, &with);
    v.to_text().into_bytes()
}

/// The store keys of every counter the caller's policy has, as the engine
/// forms them (`key_prefix` + the scope's value).
pub fn counter_keys(
    config: &Config,
    caller: &Caller,
    session: Option<&str>,
    now_ms: u64,
) -> Vec<(String, Slot)> {
    let Some(policy) = caller.policy.and_then(|i| config.policy(i)) else {
        return Vec::new();
    };
    policy
        .counters
        .iter()
        .map(|c| {
            let scopes = mcp_policy::engine::Scopes {
                namespace: "",
                identity: caller.identity.as_deref().unwrap_or(""),
                session: session.unwrap_or(""),
            };
            (
                mcp_policy::engine::counter_key(c, scopes),
                Slot::at(c.window, now_ms),
            )
        })
        .collect()
}

fn read_all(store: &mut MemoryStore, keys: &[(String, Slot)]) -> Vec<f64> {
    keys.iter()
        .map(|(k, s)| store.read(k, *s).expect("memory store reads"))
        .collect()
}

/// A decision is valid JSON, consistent with itself and with the body.
pub fn decision(d: &Decision, body: Option<&Body<'_>>) {
    let text = d.to_json();
    let v = json::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("Decision::to_json is not strict JSON ({e}): {text}"));
    assert_eq!(
        v.get("decision").and_then(Json::as_str),
        Some(d.decision.label()),
        "the decision's JSON names another verdict"
    );
    for e in std::iter::once(d).chain(&d.elements) {
        if e.decision.blocks() {
            assert!(
                [
                    codes::PARSE_ERROR,
                    codes::INVALID_REQUEST,
                    codes::INVALID_PARAMS,
                    codes::HEADER_MISMATCH,
                    codes::DENIED,
                    codes::RATE_LIMITED,
                    codes::APPROVAL_PENDING,
                    codes::TOO_LARGE,
                    codes::UNSUPPORTED_ENCODING
                ]
                .contains(&e.code),
                "a blocked decision with code {}",
                e.code
            );
            assert!(!e.reason.is_empty(), "a blocked decision without a reason");
        }
    }
    let Some(body) = body else { return };
    if body.is_batch() {
        assert_eq!(
            d.elements.len(),
            body.messages().len(),
            "one element per message"
        );
        let worst = d.elements.iter().map(|e| e.decision).max();
        assert_eq!(
            Some(d.decision),
            worst,
            "a batch takes its strictest element"
        );
        if d.decision.blocks() {
            for e in d.elements.iter().filter(|e| !e.decision.blocks()) {
                assert_eq!(
                    e.code,
                    codes::NOT_EXECUTED,
                    "an allowed element of a blocked batch"
                );
            }
        }
    } else {
        assert!(d.elements.is_empty(), "a single message with elements");
    }
    for (m, e) in body.messages().iter().zip(if body.is_batch() {
        d.elements.iter().collect::<Vec<_>>()
    } else {
        vec![d]
    }) {
        match &m.kind {
            Kind::ToolCall(call) => {
                assert_eq!(e.tool.as_deref(), Some(call.name.as_ref()), "decision tool");
            }
            _ => assert_eq!(
                e.decision,
                Verdict::Allow,
                "a message that is not a tools/call was blocked"
            ),
        }
        match (&m.id, &e.id) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!(same_doubles(a, b), "decision id"),
            _ => panic!("the decision lost or invented the id"),
        }
    }
}

/// `respond::reply`: an answer exactly when blocked, valid JSON, with the
/// request's ids and the decision's codes.
pub fn reply(style: Style, d: &Decision) -> Option<Reply> {
    let r = respond::reply(style, d);
    assert_eq!(
        r.is_some(),
        d.decision.blocks(),
        "a reply iff the decision blocks"
    );
    let r = r?;
    let v: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {}", r.body));
    assert!(
        json::parse(r.body.as_bytes()).is_ok(),
        "reply is not strict JSON"
    );
    if d.decision == Verdict::Invalid {
        assert_eq!(
            r.status,
            respond::invalid_status(d.code),
            "status of an invalid request"
        );
        assert!(
            [400, 413, 415].contains(&r.status),
            "invalid status {}",
            r.status
        );
    } else {
        assert_eq!(r.status, 200, "status of a denial");
    }
    if d.elements.is_empty() {
        one_response(style, d, &v, true);
    } else {
        let items = v.as_array().expect("a batch is answered with an array");
        // Requests (an id and a method) are answered; notifications and
        // the client's own responses are not.
        let with_ids: Vec<&Decision> = d
            .elements
            .iter()
            .filter(|e| e.id.is_some() && e.method.is_some())
            .collect();
        assert!(
            !items.is_empty(),
            "a blocked batch answered with an empty array"
        );
        assert_eq!(
            items.len(),
            with_ids.len(),
            "one response per request of the batch"
        );
        for (item, e) in items.iter().zip(with_ids) {
            one_response(style, e, item, false);
        }
    }
    Some(r)
}

fn one_response(style: Style, d: &Decision, v: &Value, top: bool) {
    assert_eq!(v["jsonrpc"], "2.0", "response jsonrpc");
    let id = v.get("id").expect("response without id");
    match &d.id {
        Some(want) => {
            let id_text = id.to_string();
            let got = json::parse(id_text.as_bytes()).expect("id is JSON");
            let float = matches!(
                want,
                Json::Num(mcp_policy::json::Num::F(_) | mcp_policy::json::Num::D(..))
            );
            // Read back through serde_json's Value, a number keeps only its
            // double: compare as such.
            if !(float && known("float-roundtrip")) {
                assert!(
                    same_doubles(want, &got),
                    "response id {id} is not the request's"
                );
            }
        }
        None => assert!(id.is_null(), "response id without a request id"),
    }
    let result = v.get("result");
    let error = v.get("error");
    assert!(
        result.is_some() != error.is_some(),
        "exactly one of result and error"
    );
    let (label, code) = if d.decision.blocks() {
        (d.decision.label(), d.code)
    } else {
        ("not_executed", codes::NOT_EXECUTED)
    };
    let tool_error =
        style.deny_as == DenyAs::ToolError && d.decision.blocks() && d.decision != Verdict::Invalid;
    if tool_error {
        let r = result.expect("a denial as a tool error is a result");
        assert_eq!(r["isError"], true, "isError");
        let text = r["content"][0]["text"].as_str().unwrap_or("");
        assert!(!text.is_empty(), "a denial without text");
        assert_eq!(r["_meta"]["decision"], label, "_meta.decision");
        assert_eq!(r["_meta"]["code"], code, "_meta.code");
        assert_eq!(
            r.get("resultType").and_then(Value::as_str),
            style.modern.then_some("complete"),
            "resultType"
        );
    } else {
        let e = error.expect("a JSON-RPC error");
        assert_eq!(e["code"], code, "error.code");
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error.message"
        );
        assert_eq!(e["data"]["decision"], label, "error.data.decision");
    }
    let _ = top;
}

/// Bytes as the Rate Limit Service's answer (`outside::rls::read_answer`):
/// never a panic, a refused hit always one of the request's, and nothing
/// but gRPC status 0 ever admits.
pub fn rls_answer(bytes: &[u8]) {
    use mcp_policy::outside::rls::{read_answer, Answer};
    let hits = usize::from(bytes.first().copied().unwrap_or(0) % 4);
    match read_answer(0, bytes, hits) {
        Answer::OverLimit { hit: Some(i), .. } => assert!(i < hits, "hit {i} of {hits}"),
        Answer::Admitted => assert!(!bytes.is_empty(), "an empty answer admits nothing"),
        _ => {}
    }
    assert!(matches!(
        read_answer(14, bytes, hits),
        Answer::Unavailable { .. }
    ));
}
