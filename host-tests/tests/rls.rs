//! Fleet-wide limits through the real `.wasm`: a call that adds to a
//! counter with `"backend": "rls"` is held while the filter asks the Rate
//! Limit Service (`proxy_grpc_call`), then forwarded or refused as the
//! service says (SPEC §7.1). The service is played by the test; the real
//! one (Limitador's counting over Redis) is tested end to end in
//! envoy/tests/test_rls.py.

use mcp_policy_host_tests::{Action, Plugin, Vm};
use serde_json::{json, Value};

const CONFIG: &str = r#"{
  "policy": {"version":"1","default":"deny","tools":{
    "echo":{"rate_limit":{"max":2,"window":60,"backend":"rls"}},
    "local":{"rate_limit":"1/minute"}}},
  "identity":[{"header":"x-agent-id"}],
  "rls":{"cluster":"ratelimit","domain":"mcp","timeout_ms":80}
}"#;

fn vm(config: &str) -> Vm {
    let plugin = Plugin::load_default().expect("the filter builds and loads");
    let mut vm = plugin.new_vm().unwrap();
    assert!(vm.configure(config).unwrap(), "{:?}", vm.logs());
    vm
}

fn call(tool: &str) -> String {
    json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
           "params":{"name":tool,"arguments":{"text":"hi"}}})
    .to_string()
}

/// How the test plays the service.
enum Service<'a> {
    Answers(&'a [u8]),
    Fails(u32),
}

#[derive(Debug)]
struct Outcome {
    /// The `ShouldRateLimit` message, if the filter asked.
    asked: Option<Vec<u8>>,
    upstream: Option<String>,
    reply: Option<Value>,
}

fn exchange(vm: &mut Vm, agent: &str, tool: &str, service: Service<'_>) -> Outcome {
    let body = call(tool);
    let mut s = vm.stream();
    let headers = [
        (":method", "POST"),
        (":path", "/mcp"),
        (":authority", "mcp"),
        ("content-type", "application/json"),
        ("x-agent-id", agent),
    ];
    assert_eq!(s.request_headers(&headers, false).unwrap(), Action::Pause);
    let last = s.request_body(body.as_bytes(), true).unwrap();
    let calls = s.vm().grpc_calls();
    assert!(calls.len() <= 1, "one request per amount");
    let asked = calls.into_iter().next();
    if let Some(c) = &asked {
        assert_eq!(last, Action::Pause, "held while the service counts");
        assert!(s.upstream_request().is_none() && s.local_response().is_none());
        assert_eq!(c.service, b"\x0a\x0b\x0a\x09ratelimit");
        assert_eq!(
            c.service_name,
            "envoy.service.ratelimit.v3.RateLimitService"
        );
        assert_eq!(c.method, "ShouldRateLimit");
        assert_eq!(c.timeout_ms, 80);
        match service {
            Service::Answers(m) => s.grpc_receive(c.token, m).unwrap(),
            Service::Fails(status) => s.grpc_close(c.token, status).unwrap(),
        }
    }
    let upstream = s.upstream_request().map(|u| u.body_str());
    if upstream.is_some() {
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .unwrap();
        s.response_body(br#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#, true)
            .unwrap();
    }
    s.log().unwrap();
    let reply = s.local_response().map(|l| l.body_json().unwrap());
    s.finish().unwrap();
    Outcome {
        asked: asked.map(|c| c.message),
        upstream,
        reply,
    }
}

const OK: &[u8] = b"\x08\x01";
/// OVER_LIMIT; statuses: descriptors[0] OK, the counter's own over with 42 s to reset.
const OVER: &[u8] = b"\x08\x02\x12\x02\x08\x01\x12\x06\x08\x02\x22\x02\x08\x2a";

#[test]
fn admitted_calls_go_upstream_exactly_as_sent() {
    let mut vm = vm(CONFIG);
    let o = exchange(&mut vm, "agent-a", "echo", Service::Answers(OK));
    let message = o.asked.expect("asked");
    // domain "mcp", then descriptors, then hits_addend 1.
    assert!(message.starts_with(b"\x0a\x03mcp\x12"));
    assert!(message.ends_with(b"\x18\x01"));
    let text = String::from_utf8_lossy(&message);
    assert!(text.contains("mcp_policy.c.") && text.contains("mcp_policy.scope"));
    assert!(!text.contains("agent-a"), "no identity on the wire");
    assert_eq!(o.upstream.as_deref(), Some(call("echo").as_str()));
    assert!(o.reply.is_none());
}

#[test]
fn another_caller_has_another_scope_value() {
    let mut vm = vm(CONFIG);
    let a = exchange(&mut vm, "agent-a", "echo", Service::Answers(OK));
    let b = exchange(&mut vm, "agent-b", "echo", Service::Answers(OK));
    let a2 = exchange(&mut vm, "agent-a", "echo", Service::Answers(OK));
    assert_ne!(a.asked, b.asked);
    assert_eq!(a.asked, a2.asked, "stable descriptors");
}

#[test]
fn over_the_limit_is_rate_limited_with_the_services_reset() {
    let mut vm = vm(CONFIG);
    let o = exchange(&mut vm, "agent-a", "echo", Service::Answers(OVER));
    assert!(o.upstream.is_none());
    let reply = o.reply.expect("answered here");
    let text = reply.to_string();
    assert!(text.contains("Rate limit of 2 per 60s reached"), "{text}");
    assert!(vm.logged(r#""decision":"rate_limited""#));
    assert!(vm.logged(r#""retry_after_ms":42000"#), "{:?}", vm.logs());
}

#[test]
fn a_failed_call_is_denied_and_counted_then_the_filter_goes_on() {
    let mut vm = vm(CONFIG);
    // 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED: on_unavailable "deny" (the default).
    for status in [14, 4] {
        let o = exchange(&mut vm, "agent-a", "echo", Service::Fails(status));
        assert!(o.upstream.is_none());
        assert!(o.reply.is_some());
    }
    assert!(vm.logged("the Rate Limit Service is unavailable"));
    // The VM did not trap: the next calls are judged as usual.
    let ok = exchange(&mut vm, "agent-a", "echo", Service::Answers(OK));
    assert!(ok.upstream.is_some());
    let local = exchange(&mut vm, "agent-a", "local", Service::Answers(OK));
    assert!(local.asked.is_none(), "a local counter never asks");
    assert!(local.upstream.is_some());
    assert!(vm.poisoned().is_none());
}

#[test]
fn on_unavailable_allow_lets_the_call_through() {
    let mut vm = vm(&CONFIG.replace(
        r#""timeout_ms":80"#,
        r#""timeout_ms":80,"on_unavailable":"allow""#,
    ));
    let o = exchange(&mut vm, "agent-a", "echo", Service::Fails(14));
    assert!(o.upstream.is_some());
}
