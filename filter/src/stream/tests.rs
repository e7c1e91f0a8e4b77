//! The exchange flow over a test double of the host.

use super::fake::FakeHost;
use super::*;
use crate::engine::counters::{MemoryStore, Slot};
use crate::policy::Window;

const NOW: u64 = 1_767_225_630_000;

fn config(text: &str) -> Config {
    Config::parse(text.as_bytes()).unwrap()
}

const POLICY: &str = r#"{"version":"1","default":"deny","tools":{
    "echo":{},
    "create_issue":{"rate_limit":"1/minute"}}}"#;

fn call(id: u32, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hi"}}}}}}"#
    )
}

struct Exchange {
    host: FakeHost,
    stream: Stream,
    /// The response body as the client receives it.
    downstream: Vec<u8>,
}

impl Exchange {
    fn new(headers: &[(&str, &str)]) -> Exchange {
        let mut host = FakeHost {
            request_headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            now_ms: NOW,
            ..FakeHost::default()
        };
        host.set_code_details("");
        Exchange {
            host,
            stream: Stream::new(),
            downstream: Vec::new(),
        }
    }

    fn post(path: &str) -> Exchange {
        Exchange::new(&[
            (":method", "POST"),
            (":path", path),
            ("content-type", "application/json"),
        ])
    }

    /// Sends headers then the body in two chunks; returns each action.
    fn send(&mut self, config: &Config, body: &[u8]) -> Vec<Action> {
        let mut actions =
            vec![self
                .stream
                .on_request_headers(config, &mut self.host, body.is_empty())];
        if body.is_empty() || !self.host.replies.is_empty() {
            return actions;
        }
        let half = body.len() / 2;
        self.host.body = body[..half].to_vec();
        actions.push(
            self.stream
                .on_request_body(config, &mut self.host, half, false),
        );
        if actions.last() == Some(&Action::Continue) {
            return actions;
        }
        self.host.body = body.to_vec();
        actions.push(
            self.stream
                .on_request_body(config, &mut self.host, body.len(), true),
        );
        actions
    }

    fn respond(&mut self, config: &Config, status: &str, content_type: &str, chunks: &[&str]) {
        let details = self.host.property(&["response", "code_details"]);
        if details.is_none_or(|d| d.is_empty()) {
            self.host.set_code_details("via_upstream");
        }
        self.host.response_headers = vec![
            (":status".into(), status.into()),
            ("content-type".into(), content_type.into()),
        ];
        self.stream
            .on_response_headers(&mut self.host, chunks.is_empty());
        for (i, chunk) in chunks.iter().enumerate() {
            self.response_chunk(config, chunk.as_bytes(), i + 1 == chunks.len());
        }
        self.stream.on_log(&mut self.host);
    }

    /// One response body chunk through the filter; what of it the client
    /// receives goes to `downstream`.
    fn response_chunk(&mut self, config: &Config, chunk: &[u8], end_of_stream: bool) {
        self.host.response_chunk = chunk.to_vec();
        self.host.replaced_chunk = None;
        self.host.replaced_size = None;
        self.stream
            .on_response_body(config, &mut self.host, chunk.len(), end_of_stream);
        if let Some(size) = self.host.replaced_size {
            assert_eq!(size, chunk.len(), "the whole current chunk is replaced");
        }
        let released = self
            .host
            .replaced_chunk
            .take()
            .unwrap_or_else(|| std::mem::take(&mut self.host.response_chunk));
        self.downstream.extend(released);
    }

    fn reply_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.host.replies[0].1).unwrap()
    }
}

use Action::{Continue, Pause};

#[test]
fn an_allowed_call_is_held_until_judged_then_released_and_audited() {
    let c = config(POLICY);
    let mut x = Exchange::post("/mcp");
    assert_eq!(
        x.send(&c, call(1, "echo").as_bytes()),
        [Pause, Pause, Continue]
    );
    assert!(x.host.replies.is_empty());
    assert_eq!(x.host.state("mcp_policy.decision"), Some("allow"));
    assert_eq!(x.host.state("mcp_policy.tool"), Some("echo"));
    assert_eq!(x.host.state("mcp_policy.rule"), Some("/tools/echo"));
    let logs = x.host.logs.borrow();
    let line = logs
        .iter()
        .find(|(_, m)| m.starts_with("mcp_policy decision "))
        .unwrap();
    assert_eq!(line.0, Level::Info);
    let d: serde_json::Value =
        serde_json::from_str(line.1.trim_start_matches("mcp_policy decision ")).unwrap();
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["arg_keys"], serde_json::json!(["text"]));
    assert!(!line.1.contains("hi\""), "argument values are never logged");
    assert!(x.host.metrics.contains(&"Decision(Allow)".to_string()));
    assert!(x
        .host
        .metrics
        .contains(&"Tool { tool: \"echo\", allowed: true }".to_string()));
}

#[test]
fn a_denied_call_is_answered_as_a_tool_error_or_a_jsonrpc_error() {
    let c = config(POLICY);
    let mut x = Exchange::post("/mcp");
    let actions = x.send(&c, call(7, "delete_repository").as_bytes());
    assert_eq!(actions.last(), Some(&Pause));
    assert_eq!(x.host.replies[0].0, 200);
    let r = x.reply_json();
    assert_eq!(r["id"], 7);
    assert_eq!(r["result"]["isError"], true);
    assert!(r["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("delete_repository"));
    assert_eq!(r["result"]["_meta"]["decision"], "deny");
    assert_eq!(r["result"]["_meta"]["rule"], "/default");
    assert_eq!(r["result"]["_meta"]["code"], codes::DENIED);
    assert_eq!(x.host.state("mcp_policy.decision"), Some("deny"));

    let c = config(&format!(
        r#"{{"policy":{POLICY},"deny_as":"jsonrpc_error"}}"#
    ));
    let mut x = Exchange::post("/mcp");
    x.send(&c, call(8, "delete_repository").as_bytes());
    let r = x.reply_json();
    assert_eq!(r["error"]["code"], codes::DENIED);
    assert_eq!(r["error"]["data"]["decision"], "deny");
    assert!(r.get("result").is_none());
}

#[test]
fn rate_limited_calls_say_when_to_retry() {
    let c = config(POLICY);
    let mut first = Exchange::post("/mcp");
    first.send(&c, call(1, "create_issue").as_bytes());
    first.respond(
        &c,
        "200",
        "application/json",
        &[r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#],
    );
    let mut second = Exchange::post("/mcp");
    second.host.store = std::mem::take(&mut first.host.store);
    second.send(&c, call(2, "create_issue").as_bytes());
    let r = second.reply_json();
    assert_eq!(r["result"]["_meta"]["decision"], "rate_limited");
    assert_eq!(r["result"]["_meta"]["code"], codes::RATE_LIMITED);
    assert_eq!(r["result"]["_meta"]["retry_after_ms"], 30_000);
    assert!(r["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Retry in 30 s"));
}

#[test]
fn unreadable_bodies_on_the_mcp_path_are_rejected() {
    let c = config(POLICY);
    let null = serde_json::Value::Null;
    for (body, status, code, id) in [
        (&b"{not json"[..], 400, codes::PARSE_ERROR, &null),
        (br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repository"}}"#, 400, codes::PARSE_ERROR, &null),
        (b"grant_type=x", 400, codes::PARSE_ERROR, &null),
        (br#"{"id":1,"method":"tools/call"}"#, 400, codes::INVALID_REQUEST, &serde_json::json!(1)),
    ] {
        let mut x = Exchange::post("/mcp");
        x.send(&c, body);
        assert_eq!(x.host.replies[0].0, status, "{body:?}");
        let r = x.reply_json();
        assert_eq!(r["error"]["code"], code, "{body:?}");
        assert_eq!(&r["id"], id, "the id when it could be read, else null");
        assert_eq!(x.host.state("mcp_policy.decision"), Some("invalid"));
    }
    let mut empty = Exchange::post("/mcp");
    assert_eq!(empty.send(&c, b""), [Pause]);
    assert_eq!(empty.host.replies[0].0, 400);
}

#[test]
fn other_paths_pass_what_cannot_be_jsonrpc_and_judge_what_can() {
    let c = config(POLICY);
    let mut form = Exchange::new(&[
        (":method", "POST"),
        (":path", "/oauth/token"),
        ("content-type", "application/x-www-form-urlencoded"),
    ]);
    assert_eq!(
        form.send(&c, b"grant_type=client_credentials&scope=x"),
        [Pause, Continue],
        "released at its first byte"
    );
    assert!(form.host.state.is_empty(), "not evaluated, not audited");

    let mut app = Exchange::post("/api/items");
    assert_eq!(
        app.send(&c, br#"{"name":"widget","method_name":"x"}"#)
            .last(),
        Some(&Continue)
    );
    assert!(app.host.replies.is_empty());

    let mut sneaky = Exchange::new(&[
        (":method", "POST"),
        (":path", "/elsewhere"),
        ("content-type", "text/plain"),
    ]);
    sneaky.send(&c, call(3, "delete_repository").as_bytes());
    assert_eq!(
        sneaky.reply_json()["result"]["_meta"]["decision"],
        "deny",
        "no escape by path or content type"
    );

    let mut broken = Exchange::post("/elsewhere");
    broken.send(
        &c,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"x"}"#,
    );
    assert_eq!(
        broken.host.replies[0].0, 400,
        "JSON that might be JSON-RPC but is not strict is refused"
    );

    let mut get = Exchange::new(&[
        (":method", "GET"),
        (":path", "/mcp"),
        ("accept", "text/event-stream"),
    ]);
    assert_eq!(get.send(&c, b""), [Continue]);
}

#[test]
fn compressed_and_oversized_bodies_are_refused() {
    let c = config(&format!(
        r#"{{"policy":{POLICY},"mcp":{{"max_body_bytes":64}}}}"#
    ));
    let mut gz = Exchange::new(&[
        (":method", "POST"),
        (":path", "/anything"),
        ("content-encoding", "gzip"),
    ]);
    assert_eq!(gz.send(&c, b"\x1f\x8b\x08\x00"), [Pause]);
    assert_eq!(gz.host.replies[0].0, 415);
    assert_eq!(
        gz.reply_json()["error"]["code"],
        codes::UNSUPPORTED_ENCODING
    );

    let mut big = Exchange::post("/mcp");
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"t":"{}"}}}}}}"#,
        "x".repeat(200)
    );
    big.send(&c, body.as_bytes());
    assert_eq!(big.host.replies[0].0, 413);
    assert_eq!(big.reply_json()["error"]["code"], codes::TOO_LARGE);
}

#[test]
fn authorization_is_stripped_when_asked() {
    let digest = crate::digest::sha256_hex(b"tok");
    let c = config(&format!(
        r#"{{"policies":{{"p":{POLICY}}},"grants":{{"g":{{"policy":"p","match":["{digest}"]}}}},
            "identity":[{{"bearer_sha256":true,"strip_authorization":true}}]}}"#
    ));
    let mut x = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("authorization", "Bearer tok"),
    ]);
    assert_eq!(
        x.send(&c, call(1, "echo").as_bytes()).last(),
        Some(&Continue)
    );
    assert_eq!(x.host.removed, ["authorization"]);
    assert_eq!(x.host.state("mcp_policy.grant"), Some("g"));
    assert!(!x
        .host
        .logs
        .borrow()
        .iter()
        .any(|(_, m)| m.contains("tok\"")));
}

fn count(host: &mut FakeHost, c: &Config) -> f64 {
    let p = &c.policies[0].1;
    let counter = &p.counters[0];
    host.store
        .read(
            &crate::engine::counter_key(counter, crate::engine::Scopes::default()),
            Slot::at(Window::Minute, NOW),
        )
        .unwrap()
}

/// SPEC §4.1: quota comes back only when the call provably did not run.
#[test]
fn quota_comes_back_only_when_the_call_never_ran() {
    let c = config(POLICY);
    let error = |code: i32| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":{code},"message":"x"}}}}"#)
    };
    let cases: Vec<(&str, &str, Vec<String>, f64)> = vec![
        ("200", "application/json", vec![r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.into()], 1.0),
        ("200", "application/json", vec![r#"{"jsonrpc":"2.0","id":1,"result":{"isError":true}}"#.into()], 1.0),
        // A JSON-RPC error may be another request's (ids are the client's)
        // or come after the tool acted: never proof.
        ("200", "application/json", vec![error(-32603), error(-32602), error(-32601)], 1.0),
        ("200", "application/json", vec![r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#.into()], 1.0),
        ("200", "text/event-stream", vec![format!("event: message\ndata: {}\n\n", error(-32602))], 1.0),
        ("200", "application/json", vec![error(-32800), error(0)], 1.0),
        // A server answers 500 when a session ends while its call runs.
        ("500", "application/json", vec![r#"{"jsonrpc":"2.0","id":"server-error","error":{"code":-32603,"message":"Session terminated"}}"#.into()], 1.0),
        ("503", "text/plain", vec!["upstream down".into()], 1.0),
        // A 4xx answering the call by id came after the server read it (the
        // Python SDK sends a tool's errors so on 2026-07-28 requests).
        ("400", "application/json", vec![r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}"#.into()], 1.0),
        ("404", "application/json", vec![r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#.into()], 1.0),
        ("400", "application/json", vec![r#"{"jsonrpc":"2.0","id":1,"#.into(), r#""error":{"code":-32602,"message":"split"}}"#.into()], 1.0),
        ("400", "application/json", vec!["{not json".into()], 1.0),
        // The server refused the HTTP request before reading it as a call.
        ("400", "application/json", vec![r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Missing session ID"}}"#.into()], 0.0),
        ("404", "application/json", vec![r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#.into()], 0.0),
        ("401", "text/plain", vec!["unauthorized".into()], 0.0),
    ];
    for (status, content_type, chunks, expected) in &cases {
        let mut x = Exchange::post("/mcp");
        x.send(&c, call(1, "create_issue").as_bytes());
        assert_eq!(count(&mut x.host, &c), 1.0);
        let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
        x.respond(&c, status, content_type, &chunks);
        assert_eq!(count(&mut x.host, &c), *expected, "{status} {chunks:?}");
        assert_eq!(
            x.host.metrics.contains(&"Rollback".to_string()),
            *expected == 0.0
        );
    }

    // Envoy's own replies: only "never delivered" gives quota back.
    for (status, details, expected) in [
        ("408", "stream_idle_timeout", 1.0),
        ("504", "upstream_response_timeout", 1.0),
        (
            "503",
            "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}",
            0.0,
        ),
        ("503", "upstream_reset_before_response_started{overflow}", 0.0),
        ("503", "no_healthy_upstream", 0.0),
        ("503", "upstream_reset_before_response_started{connection_termination}", 1.0),
        ("413", "request_payload_too_large", 1.0),
    ] {
        let mut x = Exchange::post("/mcp");
        x.send(&c, call(1, "create_issue").as_bytes());
        x.host.set_code_details(details);
        x.respond(&c, status, "text/plain", &["x"]);
        assert_eq!(count(&mut x.host, &c), expected, "{status} {details}");
    }

    // The exchange ends before any response: a reset after the request was
    // sent, a client that hangs up, a reset after the final SSE event all
    // count; a connection that never opened does not.
    for (details, expected) in [
        ("upstream_reset_after_response_started{remote_reset}", 1.0),
        (
            "upstream_reset_before_response_started{connection_termination}",
            1.0,
        ),
        ("downstream_remote_disconnect", 1.0),
        ("", 1.0),
        (
            "upstream_reset_before_response_started{connection_failure}",
            0.0,
        ),
    ] {
        let mut x = Exchange::post("/mcp");
        x.send(&c, call(1, "create_issue").as_bytes());
        x.host.set_code_details(details);
        x.stream.on_log(&mut x.host);
        assert_eq!(count(&mut x.host, &c), expected, "{details}");
    }
}

#[test]
fn a_batch_with_a_denied_call_runs_nothing() {
    let c = config(POLICY);
    let mut x = Exchange::post("/mcp");
    let body = format!(
        r#"[{},{},{{"jsonrpc":"2.0","method":"notifications/initialized"}},{{"jsonrpc":"2.0","id":"l","method":"tools/list"}}]"#,
        call(1, "create_issue"),
        call(2, "delete_repository")
    );
    x.send(&c, body.as_bytes());
    assert_eq!(x.host.replies[0].0, 200);
    let r = x.reply_json();
    let items = r.as_array().unwrap();
    assert_eq!(items.len(), 3, "no answer for the notification");
    assert_eq!(items[0]["id"], 1);
    assert_eq!(items[0]["error"]["code"], codes::NOT_EXECUTED);
    assert_eq!(
        items[0]["error"]["message"],
        "not executed: batch contained a denied call"
    );
    assert_eq!(items[1]["id"], 2);
    assert_eq!(items[1]["result"]["_meta"]["decision"], "deny");
    assert_eq!(items[2]["id"], "l");
    assert_eq!(items[2]["error"]["code"], codes::NOT_EXECUTED);
    assert_eq!(
        count(&mut x.host, &c),
        0.0,
        "nothing of a refused batch counts"
    );
    assert_eq!(x.host.state("mcp_policy.decision"), Some("deny"));
}

const LIST_POLICY: &str = r#"{"version":"1","default":"deny","hide":["echo_secret"],"tools":{
    "echo":{},"echo_secret":{},"off":{"action":"deny"},"ask":{"require":[{"conditions":[{"path":"args.a","op":"exists","value":true}]}]}}}"#;

fn tools_result(id: &str, names: &[&str]) -> String {
    let tools: Vec<String> = names
        .iter()
        .map(|n| format!(r#"{{"name":"{n}","description":"d","inputSchema":{{"type":"object"}}}}"#))
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{}],"nextCursor":"c2"}}}}"#,
        tools.join(",")
    )
}

fn listed(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn tools_list_is_cut_to_the_caller_over_json() {
    let c = config(LIST_POLICY);
    let mut x = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("accept-encoding", "gzip"),
    ]);
    x.send(
        &c,
        br#"{"jsonrpc":"2.0","id":"l1","method":"tools/list","params":{"cursor":"c1"}}"#,
    );
    assert_eq!(
        x.host.removed,
        ["accept-encoding"],
        "the response must come uncompressed"
    );
    let result = tools_result("\"l1\"", &["echo", "echo_secret", "off", "ask", "unlisted"]);
    let (a, b) = result.split_at(40);
    x.respond(&c, "200", "application/json", &[a, b]);
    assert_eq!(x.host.removed_response, ["content-length"]);
    assert_eq!(listed(&x.downstream), ["echo", "ask"]);
    let v: serde_json::Value = serde_json::from_slice(&x.downstream).unwrap();
    assert_eq!(v["result"]["nextCursor"], "c2", "pagination is kept");
    assert_eq!(v["id"], "l1");
}

#[test]
fn tools_list_is_cut_to_the_caller_over_sse() {
    let c = config(LIST_POLICY);
    let mut x = Exchange::post("/mcp");
    x.send(&c, br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#);
    let progress = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n";
    let list = format!(
        "event: message\r\nid: ev-2\r\ndata: {}\r\n\r\n",
        tools_result("9", &["echo_secret", "echo"])
    );
    let stream = format!("{progress}{list}");
    let cuts: Vec<&str> = vec![
        &stream[..10],
        &stream[10..90],
        &stream[90..200],
        &stream[200..],
    ];
    x.respond(&c, "200", "text/event-stream", &cuts);
    let out = String::from_utf8(x.downstream.clone()).unwrap();
    assert!(
        out.starts_with(progress),
        "other events pass unchanged: {out}"
    );
    assert!(out.contains("id: ev-2\n"), "{out}");
    assert!(!out.contains("echo_secret"), "{out}");
    let data_line = out
        .lines()
        .find(|l| l.starts_with("data: {\"jsonrpc\":\"2.0\",\"id\":9"))
        .unwrap();
    assert_eq!(
        listed(data_line.trim_start_matches("data: ").as_bytes()),
        ["echo"]
    );
}

#[test]
fn a_tool_list_the_filter_cannot_read_is_withheld() {
    let c = config(LIST_POLICY);
    let mut x = Exchange::post("/mcp");
    x.send(&c, br#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#);
    x.host.response_headers = vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "application/json".into()),
        ("content-encoding".into(), "gzip".into()),
    ];
    x.stream.on_response_headers(&mut x.host, false);
    for (i, chunk) in [&b"\x1f\x8b\x08\x00"[..], b"\x00\x01"].iter().enumerate() {
        x.response_chunk(&c, chunk, i == 1);
    }
    assert_eq!(
        x.host.removed_response,
        ["content-length", "content-encoding"]
    );
    let v: serde_json::Value = serde_json::from_slice(&x.downstream).unwrap();
    assert_eq!(v["id"], 4);
    assert_eq!(v["error"]["code"], -32603);
}

#[test]
fn a_caller_without_a_policy_sees_no_tools_and_other_responses_pass() {
    let c = config(&format!(
        r#"{{"policies":{{"p":{LIST_POLICY}}},"grants":{{"g":{{"policy":"p","match":["a"]}}}},"identity":[{{"header":"x-agent-id"}}]}}"#
    ));
    let mut x = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("x-agent-id", "stranger"),
    ]);
    x.send(&c, br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    x.respond(
        &c,
        "200",
        "application/json",
        &[&tools_result("1", &["echo", "ask"])],
    );
    assert!(listed(&x.downstream).is_empty());

    let mut other = Exchange::post("/mcp");
    other.send(&c, br#"{"jsonrpc":"2.0","id":1,"method":"prompts/list"}"#);
    other.respond(
        &c,
        "200",
        "application/json",
        &[r#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[]}}"#],
    );
    assert_eq!(
        other.downstream,
        br#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[]}}"#
    );
}

#[test]
fn routing_headers_that_disagree_with_the_body_are_refused() {
    let c = config(POLICY);
    let mut x = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        ("mcp-protocol-version", "2026-07-28"),
    ]);
    x.send(&c, call(3, "delete_repository").as_bytes());
    assert_eq!(x.host.replies[0].0, 400);
    let r = x.reply_json();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (
            serde_json::json!(3),
            serde_json::json!(codes::HEADER_MISMATCH)
        )
    );

    let mut ok = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?ZWNobw==?="),
    ]);
    assert_eq!(
        ok.send(&c, call(3, "echo").as_bytes()).last(),
        Some(&Continue)
    );

    // A repeated routing header is read whole (`echo, delete_repository`):
    // something after the filter might route on the second one.
    for (name, first, second) in [
        ("mcp-name", "echo", "delete_repository"),
        ("mcp-method", "tools/call", "tools/list"),
    ] {
        let mut twice = Exchange::new(&[
            (":method", "POST"),
            (":path", "/mcp"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
            (name, second),
        ]);
        twice.send(&c, call(4, "echo").as_bytes());
        assert_eq!(twice.host.replies.len(), 1, "{name}: {first}, {second}");
        assert_eq!(twice.host.replies[0].0, 400);
    }

    // Servers read the first Mcp-Session-Id; the filter refuses a second.
    for name in ["mcp-session-id", "mcp-protocol-version"] {
        let mut twice = Exchange::new(&[
            (":method", "POST"),
            (":path", "/mcp"),
            (name, "a"),
            (name, "b"),
        ]);
        twice.send(&c, call(4, "echo").as_bytes());
        assert_eq!(twice.host.replies.len(), 1, "{name}");
        assert_eq!(twice.host.replies[0].0, 400);
    }

    let mut modern = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("mcp-protocol-version", "2026-07-28"),
    ]);
    modern.send(&c, call(5, "delete_repository").as_bytes());
    assert_eq!(modern.reply_json()["result"]["resultType"], "complete");
}

#[test]
fn denials_echo_every_kind_of_id_exactly() {
    let c = config(POLICY);
    for id in [
        "1.50",
        "-7",
        "18446744073709551616",
        r#""\u0041b""#,
        r#""""#,
        "1e3",
    ] {
        let mut x = Exchange::post("/mcp");
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"nope"}}}}"#
        );
        x.send(&c, body.as_bytes());
        let reply = &x.host.replies[0].1;
        assert!(
            reply.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"#)),
            "{id}: {reply}"
        );
    }
    let mut batch = Exchange::post("/mcp");
    let body = format!(
        r#"[{},{{"jsonrpc":"2.0","id":2.0,"method":"tools/call","params":{{"name":"nope"}}}}]"#,
        call(1, "echo")
    );
    batch.send(&c, body.as_bytes());
    assert!(
        batch.host.replies[0].1.contains(r#""id":2.0,"#),
        "{}",
        batch.host.replies[0].1
    );
}

#[test]
fn request_trailers_end_the_body_and_it_is_judged() {
    let c = config(POLICY);
    for path in ["/mcp", "/other"] {
        let mut x = Exchange::post(path);
        assert_eq!(x.stream.on_request_headers(&c, &mut x.host, false), Pause);
        x.host.body = call(1, "delete_repository").into_bytes();
        let size = x.host.body.len();
        assert_eq!(
            x.stream.on_request_body(&c, &mut x.host, size, false),
            Pause
        );
        assert_eq!(
            x.stream.on_request_trailers(&c, &mut x.host),
            Pause,
            "{path}"
        );
        assert_eq!(x.reply_json()["result"]["_meta"]["decision"], "deny");
    }
    let mut ok = Exchange::post("/mcp");
    ok.stream.on_request_headers(&c, &mut ok.host, false);
    ok.host.body = call(1, "echo").into_bytes();
    let size = ok.host.body.len();
    ok.stream.on_request_body(&c, &mut ok.host, size, false);
    assert_eq!(ok.stream.on_request_trailers(&c, &mut ok.host), Continue);
}

#[test]
fn without_a_session_id_each_caller_is_its_own_session() {
    let c = config(
        r#"{"policy":{"version":"1","tools":{"echo":{"rate_limit":{"max":1,"window":"minute","scope":"session"}}}},
            "identity":[{"header":"x-agent-id"}]}"#,
    );
    let store = std::cell::RefCell::new(MemoryStore::default());
    let send = |agent: &str, session: Option<&str>| {
        let mut headers = vec![
            (":method", "POST"),
            (":path", "/mcp"),
            ("x-agent-id", agent),
        ];
        if let Some(s) = session {
            headers.push(("mcp-session-id", s));
        }
        let mut x = Exchange::new(&headers);
        x.host.store = store.take();
        let allowed = x.send(&c, call(1, "echo").as_bytes()).last() == Some(&Continue);
        store.replace(std::mem::take(&mut x.host.store));
        allowed
    };
    assert!(send("alice", None));
    assert!(send("bob", None), "bob is not alice's session");
    assert!(!send("alice", None), "alice's own limit holds");
    assert!(send("alice", Some("s-1")), "a session id is its own scope");
    assert!(
        !send("bob", Some("s-1")),
        "and shared by whoever presents it"
    );
}

/// A 2026-07-28 request is served statelessly whatever Mcp-Session-Id it
/// carries: an invented one buys no fresh session count.
#[test]
fn a_stateless_request_is_its_callers_own_session() {
    let c = config(
        r#"{"version":"1","tools":{"echo":{"rate_limit":{"max":1,"window":"minute","scope":"session"}}}}"#,
    );
    let store = std::cell::RefCell::new(MemoryStore::default());
    let send = |version: &str, session: &str| {
        let mut x = Exchange::new(&[
            (":method", "POST"),
            (":path", "/mcp"),
            ("mcp-protocol-version", version),
            ("mcp-session-id", session),
        ]);
        x.host.store = store.take();
        let allowed = x.send(&c, call(1, "echo").as_bytes()).last() == Some(&Continue);
        store.replace(std::mem::take(&mut x.host.store));
        allowed
    };
    assert!(send("2026-07-28", "a"));
    assert!(
        !send("2026-07-28", "b"),
        "an invented session is no new session"
    );
    assert!(
        !send("2099-01-01", "c"),
        "nor on a revision the server serves statelessly"
    );
    assert!(
        send("2025-11-25", "d"),
        "sessions of the handshake revisions count apart"
    );
    assert!(!send("2025-11-25", "d"));
}

/// A resumed GET stream replays stored answers: tool lists in it are cut,
/// whatever their ids (SPEC §4.1, responses).
#[test]
fn tool_lists_on_get_streams_and_under_other_ids_are_cut() {
    let c = config(LIST_POLICY);
    let mut x = Exchange::new(&[
        (":method", "GET"),
        (":path", "/mcp"),
        ("accept", "text/event-stream"),
        ("accept-encoding", "gzip, br"),
        ("last-event-id", "ev-1"),
    ]);
    x.stream.on_request_headers(&c, &mut x.host, true);
    assert_eq!(x.host.removed, ["accept-encoding"]);
    let replay = format!(
        "id: ev-2\ndata: {}\n\n: keep-alive\n\n",
        tools_result("9007199254740993", &["echo", "echo_secret", "off"])
    );
    x.respond(&c, "200", "text/event-stream", &[&replay]);
    let out = String::from_utf8(x.downstream.clone()).unwrap();
    assert!(
        !out.contains("echo_secret") && !out.contains("\"off\""),
        "{out}"
    );
    assert!(
        out.contains("id: ev-2\n") && out.ends_with(": keep-alive\n\n"),
        "{out}"
    );

    // A tools/call's stream carrying another request's list (ids reused).
    let mut y = Exchange::post("/mcp");
    y.send(&c, call(5, "echo").as_bytes());
    y.respond(
        &c,
        "200",
        "application/json",
        &[&tools_result("5", &["echo", "echo_secret"])],
    );
    assert_eq!(listed(&y.downstream), ["echo"]);

    // An event that may hold a list but cannot be read ends the stream.
    let mut z = Exchange::new(&[(":method", "GET"), (":path", "/mcp")]);
    z.stream.on_request_headers(&c, &mut z.host, true);
    z.respond(
        &c,
        "200",
        "text/event-stream",
        &[
            "data: {\"result\":{\"tools\":[{\"name\":\"echo_secret\"}]},\"x\":NaN}\n\n",
            "data: {}\n\n",
        ],
    );
    assert!(
        z.downstream.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&z.downstream)
    );

    // Off the MCP paths, event streams are read too.
    let mut off = Exchange::new(&[(":method", "GET"), (":path", "/elsewhere")]);
    off.stream.on_request_headers(&c, &mut off.host, true);
    off.respond(
        &c,
        "200",
        "text/event-stream",
        &[&format!(
            "data: {}\n\n",
            tools_result("1", &["echo_secret", "echo"])
        )],
    );
    assert!(!String::from_utf8_lossy(&off.downstream).contains("echo_secret"));
}

/// SPEC §4.1, bytes: a body in a charset other than UTF-8 is refused.
#[test]
fn bodies_in_other_charsets_are_refused_on_every_path() {
    let c = config(POLICY);
    for (path, content_type) in [
        ("/mcp", "application/json; charset=utf-16le"),
        ("/mcp", "application/json;charset=UTF-7"),
        ("/other", "text/plain; charset=shift_jis"),
        (
            "/other",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
        ),
    ] {
        let mut x = Exchange::new(&[
            (":method", "POST"),
            (":path", path),
            ("content-type", content_type),
        ]);
        x.send(&c, call(1, "echo").as_bytes());
        assert_eq!(x.host.replies.len(), 1, "{content_type}");
        assert_eq!(x.host.replies[0].0, 415, "{content_type}");
        assert_eq!(x.reply_json()["error"]["code"], codes::UNSUPPORTED_ENCODING);
    }
    let mut ok = Exchange::new(&[
        (":method", "POST"),
        (":path", "/mcp"),
        ("content-type", "application/json; charset=\"UTF-8\""),
    ]);
    ok.send(&c, call(1, "echo").as_bytes());
    assert!(ok.host.replies.is_empty());
}

/// What lenient readers skip before a document does not hide it off the
/// MCP paths.
#[test]
fn comments_and_odd_whitespace_do_not_hide_a_body() {
    let c = config(POLICY);
    for prefix in ["\x0c", "// hi\n", "/* x */", ")]}'\n", "\u{a0}", "#c\n"] {
        let mut x = Exchange::post("/other");
        let body = format!("{prefix}{}", call(1, "delete_repository"));
        x.send(&c, body.as_bytes());
        assert_eq!(x.host.replies.len(), 1, "{prefix:?}");
        assert_eq!(x.host.replies[0].0, 400, "{prefix:?}: not strict JSON");
    }
}

#[test]
fn filter_state_never_carries_a_line_break() {
    let c = config(r#"{"version":"1","tools":{}}"#);
    let mut x = Exchange::post("/mcp");
    x.send(
        &c,
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo\nmcp_policy.decision=allow\u2028x"}}"#,
    );
    let tool = x.host.state("mcp_policy.tool").unwrap();
    assert!(!tool.contains('\n') && !tool.contains('\u{2028}'), "{tool}");
    assert_eq!(tool, "echo\\u{a}mcp_policy.decision=allow\\u{2028}x");
}

// ------------------------------------------------------------ approval

const APPROVAL: &str = r#"{"policy":{"version":"1","default":"deny","tools":{
    "pay":{"action":"require_approval","rate_limit":"1/minute"}}},
    "approval":{"cluster":"approvals"}}"#;

#[test]
fn a_call_that_needs_approval_waits_with_nothing_reserved() {
    let config = config(APPROVAL);
    let mut x = Exchange::post("/mcp");
    let actions = x.send(&config, call(1, "pay").as_bytes());
    assert_eq!(actions.last(), Some(&Action::Pause));
    assert_eq!(x.host.calls.len(), 1, "one check");
    assert_eq!(x.host.calls[0].cluster, "approvals");
    assert!(x.host.replies.is_empty() && x.host.state("mcp_policy.decision").is_none());
    assert_eq!(x.host.store.total(), 0.0, "pending takes no quota");
    // The client goes away while the person decides: nothing to give back,
    // and an answer that comes after is ignored.
    x.stream.on_log(&mut x.host);
    assert_eq!(x.host.store.total(), 0.0);
    x.stream.on_outside_answer(
        &config,
        &mut x.host,
        Some(200),
        br#"{"status":"approved","approver":"alice"}"#,
    );
    assert_eq!(x.host.resumed, 0);
    assert!(x.host.replies.is_empty() && x.host.state("mcp_policy.decision").is_none());
}

#[test]
fn the_answer_resumes_or_answers_the_held_request() {
    let config = config(APPROVAL);
    let approved = br#"{"status":"approved","approver":"alice"}"#;
    let mut x = Exchange::post("/mcp");
    x.send(&config, call(1, "pay").as_bytes());
    x.stream
        .on_outside_answer(&config, &mut x.host, Some(200), approved);
    assert_eq!(x.host.resumed, 1, "forwarded");
    assert!(x.host.replies.is_empty());
    assert_eq!(x.host.state("mcp_policy.decision"), Some("allow"));
    // A second answer (there is none in Envoy) changes nothing.
    x.stream
        .on_outside_answer(&config, &mut x.host, Some(200), approved);
    assert_eq!(x.host.resumed, 1);

    // The minute's one call is used: approved again, it is rate-limited.
    let mut y = Exchange::post("/mcp");
    y.host.store = std::mem::take(&mut x.host.store);
    y.send(&config, call(2, "pay").as_bytes());
    y.stream
        .on_outside_answer(&config, &mut y.host, Some(200), approved);
    assert_eq!(y.host.resumed, 0);
    assert_eq!(y.host.state("mcp_policy.decision"), Some("rate_limited"));

    // A check that cannot be sent is the service being unavailable.
    let mut z = Exchange::post("/mcp");
    z.host.refuse_calls = true;
    z.send(&config, call(3, "pay").as_bytes());
    assert_eq!(z.host.replies.len(), 1);
    assert_eq!(z.host.state("mcp_policy.decision"), Some("deny"));
    assert!(z.host.metrics.iter().any(|m| m == "ApprovalError"));
}

// ------------------------------------------------- Rate Limit Service

const FLEET: &str = r#"{"policy":{"version":"1","default":"deny","tools":{
    "pay":{"limits":[{"counter":"calls","window":"minute","max":2,"backend":"rls"},
                     {"counter":"spend","window":"day","max":100,"increment_from":"args.amount","backend":"rls"},
                     {"counter":"here","window":"minute","max":5}]},
    "echo":{"rate_limit":{"max":3,"window":60,"backend":"rls"}}}},
    "rls":{"cluster":"ratelimit","domain":"mcp","timeout_ms":150}}"#;

fn pay(id: u32, amount: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"pay","arguments":{{"amount":{amount}}}}}}}"#
    )
}

const RLS_OK: &[u8] = b"\x08\x01";
/// OVER_LIMIT; statuses: descriptors[0] OK, the first hit over with 30 s to reset.
const RLS_OVER: &[u8] = b"\x08\x02\x12\x02\x08\x01\x12\x06\x08\x02\x22\x02\x08\x1e";

#[test]
fn a_fleet_counted_call_waits_for_the_service_with_nothing_reserved() {
    let config = config(FLEET);
    let mut x = Exchange::post("/mcp");
    let actions = x.send(&config, call(1, "echo").as_bytes());
    assert_eq!(actions.last(), Some(&Action::Pause));
    assert_eq!(x.host.grpc_calls.len(), 1);
    let g = &x.host.grpc_calls[0];
    assert_eq!(g.service, b"\x0a\x0b\x0a\x09ratelimit");
    assert_eq!(
        g.service_name,
        "envoy.service.ratelimit.v3.RateLimitService"
    );
    assert_eq!(g.method, "ShouldRateLimit");
    assert_eq!(g.timeout_ms, 150);
    assert!(g.message.starts_with(b"\x0a\x03mcp"));
    // No identity on the wire: the scope value is a digest.
    assert!(!String::from_utf8_lossy(&g.message).contains("anonymous"));
    assert!(x.host.state("mcp_policy.decision").is_none());
    x.stream.on_rls_answer(&config, &mut x.host, 1, 0, RLS_OK);
    assert_eq!(x.host.resumed, 1);
    assert_eq!(x.host.state("mcp_policy.decision"), Some("allow"));
    // An answer for another token, or a second one, changes nothing.
    x.stream.on_rls_answer(&config, &mut x.host, 1, 0, RLS_OVER);
    assert_eq!(x.host.resumed, 1);
}

#[test]
fn local_counters_are_reserved_only_after_the_service_admits() {
    let config = config(FLEET);
    let mut x = Exchange::post("/mcp");
    x.send(&config, pay(1, 7).as_bytes());
    // Two amounts (1 call, 7 spent): two requests, one hits_addend each.
    assert_eq!(x.host.grpc_calls.len(), 2);
    assert!(x.host.grpc_calls[0].message.ends_with(b"\x18\x01"));
    assert!(x.host.grpc_calls[1].message.ends_with(b"\x18\x07"));
    assert_eq!(x.host.store.total(), 0.0);
    x.stream.on_rls_answer(&config, &mut x.host, 2, 0, RLS_OK);
    assert_eq!(x.host.resumed, 0, "one answer of two");
    x.stream.on_rls_answer(&config, &mut x.host, 1, 0, RLS_OK);
    assert_eq!(x.host.resumed, 1);
    assert_eq!(x.host.store.total(), 1.0, "the local counter, once");
}

#[test]
fn over_the_fleet_limit_is_rate_limited_with_the_services_reset() {
    let config = config(FLEET);
    let mut x = Exchange::post("/mcp");
    x.send(&config, pay(1, 7).as_bytes());
    x.stream.on_rls_answer(&config, &mut x.host, 1, 0, RLS_OK);
    x.stream.on_rls_answer(&config, &mut x.host, 2, 0, RLS_OVER);
    assert_eq!(x.host.resumed, 0);
    assert_eq!(x.host.state("mcp_policy.decision"), Some("rate_limited"));
    assert_eq!(x.host.store.total(), 0.0, "nothing local taken");
    let (status, body) = &x.host.replies[0];
    assert_eq!(*status, 200);
    assert!(body.contains("spend"), "{body}");
    let log = x.host.logs.borrow();
    let line = log
        .iter()
        .find(|(_, l)| l.starts_with("mcp_policy decision"))
        .unwrap();
    assert!(line.1.contains(r#""retry_after_ms":30000"#), "{}", line.1);
    assert!(
        line.1.contains(r#""rule":"/tools/pay/limits/1""#),
        "{}",
        line.1
    );
}

#[test]
fn an_unavailable_service_follows_on_unavailable() {
    for (on_unavailable, decision) in [("deny", "deny"), ("allow", "allow")] {
        let config = config(&FLEET.replace(
            r#""timeout_ms":150"#,
            &format!(r#""timeout_ms":150,"on_unavailable":"{on_unavailable}""#),
        ));
        // A failed call (gRPC 14 UNAVAILABLE, a timeout) ...
        let mut x = Exchange::post("/mcp");
        x.send(&config, call(1, "echo").as_bytes());
        x.stream.on_rls_answer(&config, &mut x.host, 1, 14, b"");
        assert_eq!(x.host.state("mcp_policy.decision"), Some(decision));
        assert!(x.host.metrics.iter().any(|m| m == "RlsError"));
        // ... an answer that does not read, or one that cannot be sent.
        let mut y = Exchange::post("/mcp");
        y.send(&config, call(1, "echo").as_bytes());
        y.stream.on_rls_answer(&config, &mut y.host, 1, 0, b"\x08");
        assert_eq!(y.host.state("mcp_policy.decision"), Some(decision));
        let mut z = Exchange::post("/mcp");
        z.host.refuse_calls = true;
        z.send(&config, call(1, "echo").as_bytes());
        assert_eq!(z.host.state("mcp_policy.decision"), Some(decision));
        assert_eq!(z.host.replies.is_empty(), decision == "allow");
    }
}

#[test]
fn an_approved_call_then_asks_the_service() {
    let config = config(
        r#"{"policy":{"version":"1","default":"deny","tools":{
        "pay":{"action":"require_approval","rate_limit":{"max":1,"window":60,"backend":"rls"}}}},
        "approval":{"cluster":"approvals"},"rls":{"cluster":"ratelimit","domain":"mcp"}}"#,
    );
    let mut x = Exchange::post("/mcp");
    x.send(&config, call(1, "pay").as_bytes());
    assert_eq!(x.host.calls.len(), 1, "the person first");
    assert!(
        x.host.grpc_calls.is_empty(),
        "a pending call takes no quota"
    );
    x.stream.on_outside_answer(
        &config,
        &mut x.host,
        Some(200),
        br#"{"status":"approved","approver":"alice"}"#,
    );
    assert_eq!(x.host.resumed, 0);
    assert_eq!(x.host.grpc_calls.len(), 1, "then the fleet's limit");
    x.stream.on_rls_answer(&config, &mut x.host, 1, 0, RLS_OK);
    assert_eq!(x.host.resumed, 1);
    assert_eq!(x.host.state("mcp_policy.decision"), Some("allow"));
}

#[test]
fn a_denied_call_never_asks_the_service() {
    let config = config(FLEET);
    let mut x = Exchange::post("/mcp");
    x.send(&config, call(1, "other").as_bytes());
    assert!(x.host.grpc_calls.is_empty());
    assert_eq!(x.host.state("mcp_policy.decision"), Some("deny"));
}

#[test]
fn a_batch_costs_no_more_requests_than_its_counters() {
    let config = config(FLEET);
    let batch: Vec<String> = (1..=40).map(|i| pay(i, i)).collect();
    let mut x = Exchange::post("/mcp");
    x.send(&config, format!("[{}]", batch.join(",")).as_bytes());
    // One hit per counter, summed over the batch: 40 calls, 820 spent.
    assert_eq!(x.host.grpc_calls.len(), 2);
    assert!(x.host.grpc_calls[0].message.ends_with(b"\x18\x28"));
    assert!(x.host.grpc_calls[1].message.ends_with(b"\x18\xb4\x06"));
}

#[test]
fn a_batch_sum_past_hits_addend_is_refused_not_cut_down() {
    let config = config(
        r#"{"policy":{"version":"1","tools":{"pay":{"limits":[
        {"counter":"spend","window":"day","max":4294967295,"increment_from":"args.amount","backend":"rls"}]}}},
        "rls":{"cluster":"ratelimit","domain":"mcp"}}"#,
    );
    let batch = [pay(1, 4_000_000_000), pay(2, 4_000_000_000)].join(",");
    let mut x = Exchange::post("/mcp");
    x.send(&config, format!("[{batch}]").as_bytes());
    assert!(x.host.grpc_calls.is_empty());
    assert_eq!(x.host.state("mcp_policy.decision"), Some("rate_limited"));
}

#[test]
fn a_response_in_another_charset_or_with_a_byte_order_mark_is_withheld() {
    let c = config(LIST_POLICY);
    let list = tools_result("9", &["echo_secret", "echo"]);
    let event = format!("event: message\ndata: {list}\n\n");
    let bom = format!("\u{feff}{event}");
    let cases: [(&str, Vec<&str>); 4] = [
        // The TypeScript SDK's TextDecoder skips the mark; sse reads no `data:`.
        ("text/event-stream", vec![&bom]),
        ("text/event-stream", vec![&bom[..3], &bom[3..]]),
        ("application/json", vec![&bom]),
        // The Python SDK's httpx decodes by the declared charset.
        ("text/event-stream; charset=utf-16", vec![&event]),
    ];
    for (content_type, chunks) in cases {
        let mut x = Exchange::post("/mcp");
        x.send(&c, br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#);
        x.respond(&c, "200", content_type, &chunks);
        let out = String::from_utf8_lossy(&x.downstream).into_owned();
        assert!(!out.contains("echo_secret"), "{content_type}: {out}");
        assert!(
            out.contains("could not read this response"),
            "{content_type}: {out}"
        );
    }
    // UTF-8, declared or not, is read and cut as usual.
    let mut y = Exchange::post("/mcp");
    y.send(&c, br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#);
    y.respond(&c, "200", "text/event-stream; charset=utf-8", &[&event]);
    let out = String::from_utf8_lossy(&y.downstream).into_owned();
    assert!(
        !out.contains("echo_secret") && out.contains("\"echo\""),
        "{out}"
    );
}
