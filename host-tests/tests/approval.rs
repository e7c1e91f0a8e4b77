//! `require_approval` through the real `.wasm`: the request is held while
//! the filter asks the approval service (`proxy_http_call`), then forwarded,
//! refused or answered with where to approve, as the service says (SPEC
//! §7.2). The service is played by the test; the real one is tested end to
//! end in envoy/tests/test_approvals.py.

use mcp_policy_host_tests::{Action, HttpCall, Plugin, Vm};
use serde_json::{json, Value};

const CONFIG: &str = r#"{
  "policy": {"version":"1","default":"deny","tools":{
    "echo":{},
    "pay":{"action":"require_approval","reason":"Payments need a person","rate_limit":"5/minute"}}},
  "identity":[{"header":"x-agent-id"}],
  "approval":{"cluster":"approvals","timeout_ms":1500}
}"#;

fn vm(config: &str) -> Vm {
    let plugin = Plugin::load_default().expect("the filter builds and loads");
    let mut vm = plugin.new_vm().unwrap();
    assert!(vm.configure(config).unwrap(), "{:?}", vm.logs());
    vm
}

fn pay(id: u64, amount: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
           "params":{"name":"pay","arguments":{"amount":amount,"to":"acct-1"}}})
    .to_string()
}

/// What became of one request.
#[derive(Debug)]
struct Outcome {
    /// The check the filter sent, if it asked.
    asked: Option<HttpCall>,
    /// The body that went upstream, if any.
    upstream: Option<String>,
    /// The local reply, if any.
    reply: Option<(u32, Value)>,
}

/// Sends `body` as agent `agent` with protocol `version`; answers the
/// filter's check (if it makes one) with `answer` (`None`: a reset).
fn exchange(
    vm: &mut Vm,
    agent: &str,
    version: &str,
    body: &str,
    answer: Option<(&str, &str)>,
) -> Outcome {
    let mut s = vm.stream();
    let headers = [
        (":method", "POST"),
        (":path", "/mcp"),
        (":authority", "mcp"),
        ("content-type", "application/json"),
        ("x-agent-id", agent),
        ("mcp-protocol-version", version),
    ];
    assert_eq!(s.request_headers(&headers, false).unwrap(), Action::Pause);
    let last = s.request_body(body.as_bytes(), true).unwrap();
    let calls = s.vm().http_calls();
    assert!(calls.len() <= 1, "one check per request");
    let asked = calls.into_iter().next();
    if let Some(call) = &asked {
        assert_eq!(last, Action::Pause, "held while the service decides");
        assert!(s.upstream_request().is_none() && s.local_response().is_none());
        match answer {
            Some((status, text)) => s
                .http_call_response(
                    call.token,
                    &[(":status", status), ("content-type", "application/json")],
                    text.as_bytes(),
                )
                .unwrap(),
            None => s.http_call_failure(call.token).unwrap(),
        }
    }
    let upstream = s.upstream_request().map(|u| u.body_str());
    if upstream.is_some() {
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .unwrap();
        s.response_body(br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#, true)
            .unwrap();
    }
    s.log().unwrap();
    let reply = s
        .local_response()
        .map(|l| (l.status, l.body_json().unwrap()));
    s.finish().unwrap();
    Outcome {
        asked,
        upstream,
        reply,
    }
}

const NEW: &str = "2025-11-25";
const OLD: &str = "2025-06-18";

#[test]
fn the_check_carries_the_call_and_a_digest_bound_to_it() {
    let mut vm = vm(CONFIG);
    let pending =
        r#"{"status":"pending","url":"https://approvals.example/a/e1","elicitation_id":"e1"}"#;
    let a = exchange(
        &mut vm,
        "agent-a",
        NEW,
        &pay(1, 100),
        Some(("200", pending)),
    );
    let call = a.asked.expect("the filter asks");
    assert_eq!(call.upstream, "approvals");
    assert_eq!(call.header(":method"), Some("POST"));
    assert_eq!(call.header(":path"), Some("/v1/check"));
    assert_eq!(call.timeout_ms, 1500);
    let q = call.body_json().unwrap();
    let b = &q["binding"];
    assert_eq!(b["tool"], "pay");
    assert_eq!(b["arguments"], json!({"amount":100,"to":"acct-1"}));
    assert_eq!(b["reason"], "Payments need a person");
    assert_eq!(b["rule"], "/tools/pay/action");
    assert!(b["identity"].as_str().unwrap().ends_with("agent-a"));
    // Where the call goes is bound too.
    assert_eq!(b["path"], "/mcp");
    assert_eq!(b["authority"], "mcp");
    assert!(b["namespace"].is_string());
    let digest = q["digest"].as_str().unwrap().to_owned();
    // The digest is the binding's text's, as the body carries it.
    let text = String::from_utf8(call.body.clone()).unwrap();
    let binding = &text[text.find("{\"arguments\"").unwrap()..text.find(",\"digest\"").unwrap()];
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(binding.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, hex);

    // The same call sent again (another id, other whitespace, other key
    // order around the arguments) is the same call; another amount, another
    // spelling of it, another member order in the arguments, or another
    // caller is not.
    let respelled = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{ "arguments" : { "amount" : 100 , "to" : "acct-1" }, "name":"pay"}}"#;
    let digest_of = |vm: &mut Vm, agent: &str, body: &str| {
        exchange(vm, agent, NEW, body, Some(("200", pending)))
            .asked
            .unwrap()
            .body_json()
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(digest_of(&mut vm, "agent-a", respelled), digest);
    assert_ne!(digest_of(&mut vm, "agent-a", &pay(3, 101)), digest);
    for other in [
        r#"{"amount":100.0,"to":"acct-1"}"#,
        r#"{"amount":1e2,"to":"acct-1"}"#,
        r#"{"to":"acct-1","amount":100}"#,
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"pay","arguments":{other}}}}}"#
        );
        assert_ne!(digest_of(&mut vm, "agent-a", &body), digest, "{other}");
    }
    assert_ne!(digest_of(&mut vm, "agent-b", &pay(4, 100)), digest);
}

#[test]
fn pending_is_an_elicitation_for_new_clients_and_a_denial_with_the_url_for_old_ones() {
    let mut vm = vm(CONFIG);
    let pending =
        r#"{"status":"pending","url":"https://approvals.example/a/e1","elicitation_id":"e1"}"#;
    let new = exchange(
        &mut vm,
        "agent-a",
        NEW,
        &pay(7, 100),
        Some(("200", pending)),
    );
    assert!(
        new.upstream.is_none(),
        "nothing reaches the server while pending"
    );
    let (status, body) = new.reply.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32042);
    let e = &body["error"]["data"]["elicitations"][0];
    assert_eq!(e["mode"], "url");
    assert_eq!(e["elicitationId"], "e1");
    assert_eq!(e["url"], "https://approvals.example/a/e1");
    assert!(e["message"].is_string());

    let old = exchange(
        &mut vm,
        "agent-a",
        OLD,
        &pay(8, 100),
        Some(("200", pending)),
    );
    let (_, body) = old.reply.unwrap();
    // deny_as tool_error: a tool result with isError, the URL in the text and _meta.
    let result = &body["result"];
    assert_eq!(result["isError"], true);
    assert!(result["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("https://approvals.example/a/e1"));
    assert_eq!(result["_meta"]["code"], -32062);
    assert_eq!(result["_meta"]["decision"], "approval_pending");
    assert_eq!(
        result["_meta"]["approval_url"],
        "https://approvals.example/a/e1"
    );
    // Pending takes no quota: five more approved calls still fit 5/minute.
    for id in 0..5 {
        let ok = exchange(
            &mut vm,
            "agent-a",
            NEW,
            &pay(20 + id, 100),
            Some(("200", r#"{"status":"approved","approver":"alice"}"#)),
        );
        assert!(
            ok.upstream.is_some(),
            "approved call {id} goes upstream: {:?}",
            ok.reply
        );
    }
}

#[test]
fn approved_goes_upstream_once_denied_carries_the_approvers_reason() {
    let mut vm = vm(CONFIG);
    let body = pay(1, 250);
    let ok = exchange(
        &mut vm,
        "agent-a",
        NEW,
        &body,
        Some(("200", r#"{"status":"approved","approver":"alice"}"#)),
    );
    assert_eq!(
        ok.upstream.as_deref(),
        Some(body.as_str()),
        "the exact bytes go upstream"
    );
    assert!(ok.reply.is_none());
    assert!(vm
        .logs()
        .iter()
        .any(|(_, l)| l.contains("\"decision\":\"allow\"") && l.contains("approved by alice")));

    let no = exchange(
        &mut vm,
        "agent-a",
        NEW,
        &body,
        Some((
            "200",
            r#"{"status":"denied","approver":"bob","reason":"not this month"}"#,
        )),
    );
    assert!(no.upstream.is_none());
    let (_, reply) = no.reply.unwrap();
    let text = reply["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("Denied by approver bob: not this month"),
        "{text}"
    );
    assert_eq!(reply["result"]["_meta"]["code"], -32060);

    // Calls that need no approval are never asked about.
    let echo = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{}}}).to_string();
    let plain = exchange(&mut vm, "agent-a", NEW, &echo, None);
    assert!(plain.asked.is_none() && plain.upstream.is_some());
}

#[test]
fn an_unavailable_service_follows_on_unavailable() {
    let mut deny = vm(CONFIG);
    for answer in [
        None,
        Some(("503", "no healthy upstream")),
        Some(("504", "upstream request timeout")),
        Some(("200", "not json")),
        Some(("200", r#"{"status":"approved?"}"#)),
    ] {
        let o = exchange(&mut deny, "agent-a", NEW, &pay(1, 1), answer);
        assert!(o.upstream.is_none(), "{answer:?}");
        let (_, body) = o.reply.unwrap();
        assert_eq!(body["result"]["_meta"]["code"], -32060, "{answer:?}");
        assert!(body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("approval service is unavailable"));
    }
    assert_eq!(deny.plugin().metric("mcp_policy.approval.errors"), 5);

    let mut allow = vm(&CONFIG.replace(
        r#""timeout_ms":1500"#,
        r#""timeout_ms":1500,"on_unavailable":"allow""#,
    ));
    let o = exchange(&mut allow, "agent-a", NEW, &pay(1, 1), Some(("503", "")));
    assert!(
        o.upstream.is_some(),
        "on_unavailable allow forwards: {:?}",
        o.reply
    );
    // A refusal (a 4xx) is not the service being away: the caller can
    // provoke one (a body too large for it), so it denies even here.
    let o = exchange(
        &mut allow,
        "agent-a",
        NEW,
        &pay(2, 1),
        Some(("413", "too large")),
    );
    assert!(o.upstream.is_none(), "a 4xx never lets the call through");
    assert_eq!(o.reply.unwrap().1["result"]["_meta"]["code"], -32060);
}

#[test]
fn a_cluster_the_proxy_does_not_know_is_unavailable() {
    let plugin = Plugin::load_default().unwrap();
    let mut vm = plugin.new_vm().unwrap();
    vm.reject_upstream("approvals");
    assert!(vm.configure(CONFIG).unwrap());
    let mut s = vm.stream();
    s.request_headers(
        &[
            (":method", "POST"),
            (":path", "/mcp"),
            (":authority", "mcp"),
            ("content-type", "application/json"),
        ],
        false,
    )
    .unwrap();
    s.request_body(pay(1, 1).as_bytes(), true).unwrap();
    let reply = s
        .local_response()
        .expect("answered at once")
        .body_json()
        .unwrap();
    assert!(s.upstream_request().is_none());
    assert_eq!(reply["result"]["_meta"]["code"], -32060);
    s.finish().unwrap();
}

#[test]
fn a_batch_with_a_call_that_needs_approval_fails_whole_without_asking() {
    let mut vm = vm(CONFIG);
    let batch = format!(
        "[{},{}]",
        pay(1, 1),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}})
    );
    let o = exchange(&mut vm, "agent-a", NEW, &batch, None);
    assert!(o.asked.is_none() && o.upstream.is_none());
    let (_, body) = o.reply.unwrap();
    assert_eq!(body[0]["result"]["_meta"]["code"], -32062);
    assert!(body[0]["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("sent alone"));
    assert_eq!(body[1]["error"]["code"], -32063);
}

#[test]
fn without_an_approval_service_such_calls_are_denied_and_unlisted() {
    let config = CONFIG.replace(
        r#""approval":{"cluster":"approvals","timeout_ms":1500}"#,
        r#""deny_as":"tool_error""#,
    );
    let mut vm = vm(&config);
    let o = exchange(&mut vm, "agent-a", NEW, &pay(1, 1), None);
    assert!(o.asked.is_none() && o.upstream.is_none());
    assert_eq!(o.reply.unwrap().1["result"]["_meta"]["code"], -32060);
}

#[test]
fn a_2026_client_that_opens_urls_gets_an_input_required_result() {
    let mut vm = vm(CONFIG);
    let pending =
        r#"{"status":"pending","url":"https://approvals.example/a/e9","elicitation_id":"e9"}"#;
    let modern = |elicits: bool| {
        let mut caps = json!({});
        if elicits {
            caps = json!({"elicitation": {"url": {}}});
        }
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{
            "name":"pay","arguments":{"amount":1,"to":"acct-1"},
            "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                     "io.modelcontextprotocol/clientCapabilities":caps}}})
        .to_string()
    };
    let o = exchange(
        &mut vm,
        "agent-a",
        "2026-07-28",
        &modern(true),
        Some(("200", pending)),
    );
    let (_, body) = o.reply.unwrap();
    let result = &body["result"];
    assert_eq!(result["resultType"], "input_required", "{body}");
    let ask = &result["inputRequests"]["mcp_policy_approval"];
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["mode"], "url");
    assert_eq!(ask["params"]["url"], "https://approvals.example/a/e9");
    assert_eq!(ask["params"]["elicitationId"], "e9");
    assert_eq!(result["_meta"]["code"], -32062);
    assert!(
        body.get("error").is_none(),
        "no -32042 on the 2026-07-28 wire"
    );

    // A client that did not say it opens URLs: the denial with the URL.
    let o = exchange(
        &mut vm,
        "agent-a",
        "2026-07-28",
        &modern(false),
        Some(("200", pending)),
    );
    let (_, body) = o.reply.unwrap();
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["_meta"]["approval_url"],
        "https://approvals.example/a/e9"
    );
}
