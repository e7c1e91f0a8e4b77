//! The real `mcp_policy.wasm` in the wasmtime host: configuration, the
//! request flow, identity, counters across VMs and threads, windows, rollback,
//! audit and metrics.

use mcp_policy_host_tests::{Action, Plugin, Vm};
use serde_json::{json, Value};
use std::sync::Arc;

fn plugin() -> Arc<Plugin> {
    Plugin::load_default().expect("the filter builds and loads")
}

fn configured(plugin: &Arc<Plugin>, config: &str) -> Vm {
    let mut vm = plugin.new_vm().unwrap();
    assert!(
        vm.configure(config).unwrap(),
        "configuration accepted: {:?}",
        vm.logs()
    );
    vm
}

const POLICY: &str = r#"{"version":"1","default":"deny","tools":{
  "echo":{},
  "create_issue":{"rate_limit":"3/minute","require":[{"conditions":[{"path":"args.repo","op":"regex","value":"^corp/"}],"on_deny":"only corp repos"}]}}}"#;

fn call(id: u64, tool: &str, args: Value) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}})
        .to_string()
}

struct Sent {
    actions: Vec<Action>,
    local: Option<Value>,
    status: Option<u32>,
    upstream_body: Option<String>,
    state: std::collections::BTreeMap<String, Vec<u8>>,
}

/// Sends one POST /mcp with `body` in two chunks, answers `response` when it
/// went upstream, and ends the stream.
fn send(vm: &mut Vm, headers: &[(&str, &str)], body: &str, response: Option<(&str, &str)>) -> Sent {
    let mut s = vm.stream();
    let mut all = vec![
        (":method", "POST"),
        (":path", "/mcp"),
        (":authority", "mcp"),
        ("content-type", "application/json"),
    ];
    all.extend_from_slice(headers);
    let mut actions = vec![s.request_headers(&all, false).unwrap()];
    let (a, b) = body.as_bytes().split_at(body.len() / 2);
    actions.push(s.request_body(a, false).unwrap());
    if s.local_response().is_none() {
        actions.push(s.request_body(b, true).unwrap());
    }
    let upstream = s.upstream_request();
    if let (Some(_), Some((status, text))) = (&upstream, response) {
        s.response_headers(
            &[(":status", status), ("content-type", "application/json")],
            false,
        )
        .unwrap();
        s.response_body(text.as_bytes(), true).unwrap();
    }
    s.log().unwrap();
    let local = s.local_response();
    let sent = Sent {
        actions,
        status: local.as_ref().map(|l| l.status),
        local: local.map(|l| l.body_json().unwrap()),
        upstream_body: upstream.map(|u| u.body_str()),
        state: s.filter_state(),
    };
    s.finish().unwrap();
    sent
}

const OK: Option<(&str, &str)> =
    Some(("200", r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#));

#[test]
fn an_invalid_configuration_is_refused_with_every_error_and_its_path() {
    let p = plugin();
    let mut vm = p.new_vm().unwrap();
    let bad = r#"{"policies":{"ops":{"version":"1","tools":{"create_charge":{"rules":[{"name":"a","conditions":[{"path":"args.x","op":"gtt","value":1}]}]}}}},
                  "grants":{"g":{"policy":"nope","match":["x"]}},"unmatchd":"deny"}"#;
    assert!(!vm.configure(bad).unwrap());
    for needle in [
        r#"policies.ops.tools.create_charge.rules[0].conditions[0].op: unknown operator "gtt""#,
        r#"grants.g.policy: grant names a missing policy "nope""#,
        r#"unmatchd: unknown field"#,
        "configuration refused (3 errors)",
    ] {
        assert!(vm.logged(needle), "{needle} not in {:?}", vm.logs());
    }
    assert_eq!(p.metric("mcp_policy.config.errors"), 3);
}

#[test]
fn allowed_calls_go_upstream_only_after_the_decision() {
    let p = plugin();
    let mut vm = configured(&p, POLICY);
    let body = call(1, "echo", json!({"text":"hello"}));
    let sent = send(&mut vm, &[], &body, OK);
    assert_eq!(
        sent.actions,
        [Action::Pause, Action::Pause, Action::Continue]
    );
    assert_eq!(
        sent.upstream_body.as_deref(),
        Some(body.as_str()),
        "the body goes upstream unchanged"
    );
    assert_eq!(
        sent.state
            .get("wasm.mcp_policy.decision")
            .map(|v| v.as_slice()),
        Some(&b"allow"[..])
    );
    assert_eq!(
        sent.state.get("wasm.mcp_policy.tool").map(|v| v.as_slice()),
        Some(&b"echo"[..])
    );
    assert!(vm.logged("mcp_policy decision {\"decision\":\"allow\",\"tool\":\"echo\""));
    assert!(
        !vm.logs().iter().any(|(_, m)| m.contains("hello")),
        "argument values are never logged"
    );
    assert_eq!(p.metric("mcp_policy.decision.allow"), 1);
    assert_eq!(p.metric("mcp_policy.tool.echo.allowed"), 1);
}

#[test]
fn denied_calls_never_reach_the_upstream() {
    let p = plugin();
    let mut vm = configured(&p, POLICY);
    let sent = send(&mut vm, &[], &call(5, "delete_repository", json!({})), OK);
    assert!(sent.upstream_body.is_none());
    assert_eq!(sent.status, Some(200));
    let r = sent.local.unwrap();
    assert_eq!(r["id"], 5);
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(r["result"]["_meta"]["decision"], "deny");
    assert_eq!(r["result"]["_meta"]["rule"], "/default");
    let sent = send(
        &mut vm,
        &[],
        &call(6, "create_issue", json!({"repo":"evil/x"})),
        OK,
    );
    assert!(sent.upstream_body.is_none());
    assert_eq!(
        sent.local.unwrap()["result"]["_meta"]["rule"],
        "/tools/create_issue/require/0"
    );
    let sent = send(&mut vm, &[], "{\"jsonrpc\":", OK);
    assert_eq!(sent.status, Some(400));
    assert_eq!(sent.local.unwrap()["error"]["code"], -32700);
    assert_eq!(p.metric("mcp_policy.decision.deny"), 2);
    assert_eq!(p.metric("mcp_policy.decision.invalid"), 1);
    assert_eq!(p.metric("mcp_policy.tool._other.blocked"), 1);
    assert_eq!(p.metric("mcp_policy.tool.create_issue.blocked"), 1);
}

#[test]
fn limits_hold_and_reset_with_the_clock() {
    let p = plugin();
    let mut vm = configured(&p, POLICY);
    let issue = |id| call(id, "create_issue", json!({"repo":"corp/a"}));
    for id in 1..=3 {
        assert!(
            send(&mut vm, &[], &issue(id), OK).upstream_body.is_some(),
            "call {id}"
        );
    }
    let limited = send(&mut vm, &[], &issue(4), OK);
    assert!(limited.upstream_body.is_none());
    let meta = &limited.local.unwrap()["result"]["_meta"];
    assert_eq!(meta["decision"], "rate_limited");
    assert_eq!(
        meta["retry_after_ms"], 30_000,
        "the harness clock starts 30 s into a minute"
    );
    p.advance_ms(30_000);
    assert!(
        send(&mut vm, &[], &issue(5), OK).upstream_body.is_some(),
        "a new window"
    );
}

/// SPEC §4.1: quota comes back only when the call provably did not run: the
/// server's own 4xx. A JSON-RPC error or a 5xx may come after the tool acted.
#[test]
fn quota_comes_back_only_for_calls_that_never_ran() {
    let p = plugin();
    let mut vm = configured(&p, POLICY);
    let issue = |id| call(id, "create_issue", json!({"repo":"corp/a"}));
    for id in 1..=4 {
        let refused = (
            "404",
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#,
        );
        assert!(send(&mut vm, &[], &issue(id), Some(refused))
            .upstream_body
            .is_some());
    }
    assert_eq!(p.metric("mcp_policy.counter.rollbacks"), 4);
    let error = r#"{"jsonrpc":"2.0","id":20,"error":{"code":-32603,"message":"boom"}}"#;
    assert!(send(&mut vm, &[], &issue(20), Some(("200", error)))
        .upstream_body
        .is_some());
    assert!(send(&mut vm, &[], &issue(21), Some(("503", "busy")))
        .upstream_body
        .is_some());
    assert!(send(&mut vm, &[], &issue(22), OK).upstream_body.is_some());
    assert!(
        send(&mut vm, &[], &issue(23), OK).upstream_body.is_none(),
        "the error and the 503 counted"
    );
    assert_eq!(p.metric("mcp_policy.counter.rollbacks"), 4);
}

#[test]
fn counters_are_exact_across_two_vms_on_two_threads() {
    let p = plugin();
    let config = r#"{"version":"1","default":"deny","tools":{"t":{"limits":[{"counter":"c","window":"hour","max":150}]}}}"#;
    // Both VMs are ready before either sends, so their calls overlap.
    let ready = Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            let ready = ready.clone();
            std::thread::spawn(move || {
                let mut vm = configured(&p, config);
                ready.wait();
                (0..120u64)
                    .filter(|id| {
                        send(&mut vm, &[], &call(*id, "t", json!({})), OK)
                            .upstream_body
                            .is_some()
                    })
                    .count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        allowed, 150,
        "exactly max calls pass, whichever thread made them"
    );
    assert_eq!(p.metric("mcp_policy.decision.allow"), 150);
    assert_eq!(p.metric("mcp_policy.decision.rate_limited"), 90);
    eprintln!(
        "compare-and-swap races lost: {}",
        p.metric("mcp_policy.counter.cas_retries")
    );
}

#[test]
fn identity_grants_and_scoped_counters() {
    let p = plugin();
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // sha256("test")
    let config = format!(
        r#"{{"policies":{{"ro":{{"version":"1","default":"deny","tools":{{"echo":{{"rate_limit":"1/minute"}}}}}}}},
            "grants":{{"jwt":{{"policy":"ro","match":["sub:alice"]}},"mtls":{{"policy":"ro","match":["spiffe://corp/agent"]}},
                      "token":{{"policy":"ro","match":["{digest}"]}},"header":{{"policy":"ro","match":["h-1"]}}}},
            "identity":[{{"jwt_claim":{{"provider":"agents","claim":"sub"}}}},{{"peer":"uri_san"}},{{"bearer_sha256":true,"strip_authorization":true}},{{"header":"x-agent-id"}}]}}"#
    );
    let mut vm = configured(&p, &config);
    let grant_of = |vm: &mut Vm,
                    setup: &dyn Fn(&mut mcp_policy_host_tests::Stream<'_>),
                    headers: &[(&str, &str)]| {
        let mut s = vm.stream();
        setup(&mut s);
        let mut all = vec![(":method", "POST"), (":path", "/mcp")];
        all.extend_from_slice(headers);
        s.request_headers(&all, false).unwrap();
        s.request_body(call(1, "echo", json!({})).as_bytes(), true)
            .unwrap();
        let grant = s.filter_state_str("wasm.mcp_policy.grant");
        let decision = s.filter_state_str("wasm.mcp_policy.decision");
        let auth = s
            .upstream_request()
            .and_then(|u| u.header("authorization").map(str::to_owned));
        s.finish().unwrap();
        (grant, decision, auth)
    };
    let jwt = |s: &mut mcp_policy_host_tests::Stream<'_>| {
        s.set_dynamic_metadata(
            "envoy.filters.http.jwt_authn",
            json!({"agents":{"sub":"alice"}}),
        )
    };
    let peer = |s: &mut mcp_policy_host_tests::Stream<'_>| {
        s.set_property(
            &["connection", "uri_san_peer_certificate"],
            b"spiffe://corp/agent",
        )
    };
    let none = |_: &mut mcp_policy_host_tests::Stream<'_>| {};
    assert_eq!(
        grant_of(&mut vm, &jwt, &[]),
        (Some("jwt".into()), Some("allow".into()), None)
    );
    assert_eq!(
        grant_of(&mut vm, &jwt, &[]).1.as_deref(),
        Some("rate_limited"),
        "per-identity counter"
    );
    assert_eq!(
        grant_of(&mut vm, &peer, &[]).1.as_deref(),
        Some("allow"),
        "another identity, its own counter"
    );
    let (grant, decision, auth) = grant_of(&mut vm, &none, &[("authorization", "Bearer test")]);
    assert_eq!(
        (grant.as_deref(), decision.as_deref(), auth),
        (Some("token"), Some("allow"), None),
        "token stripped"
    );
    assert_eq!(
        grant_of(&mut vm, &none, &[("x-agent-id", "h-1")])
            .0
            .as_deref(),
        Some("header")
    );
    let (grant, decision, _) = grant_of(&mut vm, &none, &[("x-agent-id", "stranger")]);
    assert_eq!(
        (grant.as_deref(), decision.as_deref()),
        (None, Some("deny")),
        "unmatched callers are denied"
    );
    assert!(
        !vm.logs()
            .iter()
            .any(|(_, m)| m.contains("Bearer") || m.contains("\"test\"")),
        "tokens are never logged"
    );
}

#[test]
fn non_mcp_traffic_passes_and_a_reconfigured_vm_keeps_its_counters() {
    let p = plugin();
    let mut vm = configured(&p, POLICY);
    let mut s = vm.stream();
    s.request_headers(
        &[
            (":method", "POST"),
            (":path", "/oauth/token"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        false,
    )
    .unwrap();
    assert_eq!(
        s.request_body(b"grant_type=client_credentials", false)
            .unwrap(),
        Action::Continue
    );
    s.request_body(b"&scope=x", true).unwrap();
    assert_eq!(
        s.upstream_request().unwrap().body_str(),
        "grant_type=client_credentials&scope=x"
    );
    s.finish().unwrap();
    let mut s = vm.stream();
    assert_eq!(
        s.request_headers(&[(":method", "GET"), (":path", "/healthz")], true)
            .unwrap(),
        Action::Continue
    );
    s.finish().unwrap();

    let issue = |id| call(id, "create_issue", json!({"repo":"corp/a"}));
    for id in 1..=3 {
        send(&mut vm, &[], &issue(id), OK);
    }
    // A new VM with the same configuration (a reload) sees the same counters.
    let mut reloaded = configured(&p, POLICY);
    assert!(send(&mut reloaded, &[], &issue(4), OK)
        .upstream_body
        .is_none());
}
