//! Inputs the fuzzers (`fuzz/`, `scripts/fuzz.sh`) produced, pinned down.
//!
//! Two kinds of test:
//! - `finding_*`: a wrong behaviour a fuzz target found, with its minimised
//!   input (also under `fuzz/regressions/<target>/`). Each asserts what the
//!   README / SECURITY.md promise. All were fixed in 898af28; a new finding
//!   gets its test here `#[ignore]`d with its name (and its line in
//!   `fuzz/known-findings`) until the fix lands. Run ignored ones with
//!   `cargo test -p mcp-policy-filter --test fuzz_regressions -- --include-ignored`.
//! - the rest: tricky inputs the fuzzers generated (deep nesting, huge
//!   numbers, lone surrogates, invalid UTF-8, duplicate escaped keys, ...),
//!   asserting the documented behaviour.

use mcp_policy::config::Config;
use mcp_policy::decision::{codes, Verdict};
use mcp_policy::engine::counters::MemoryStore;
use mcp_policy::json::{self, Json, Num};
use mcp_policy::judge::{judge, Context};
use mcp_policy::mcp::{self, Body, Kind};
use mcp_policy::stream::fake::FakeHost;
use mcp_policy::stream::{Action, Stream};
use serde_json::Value;

const NOW: u64 = 1_767_225_630_000;

// ---------------------------------------------------------------- helpers

fn config(text: &str) -> Config {
    Config::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The decision `judge` makes for `body` as an anonymous caller.
fn decide(config: &Config, body: &[u8]) -> mcp_policy::decision::Decision {
    let parsed = mcp::parse(body).unwrap_or_else(|r| panic!("{r:?}"));
    let caller = config.caller(&NoFacts);
    let ctx = Context {
        caller: &caller,
        namespace: "",
        session: None,
        request_id: None,
        now_ms: NOW,
    };
    judge(config, &parsed, ctx, &mut MemoryStore::default()).decision
}

struct NoFacts;

impl mcp_policy::config::RequestFacts for NoFacts {
    fn header(&self, _: &str) -> Option<std::borrow::Cow<'_, str>> {
        None
    }
    fn property(&self, _: &[&str]) -> Option<Vec<u8>> {
        None
    }
}

struct Exchange {
    host: FakeHost,
    stream: Stream,
    actions: Vec<Action>,
}

impl Exchange {
    fn new(method: &str, path: &str) -> Exchange {
        let host = FakeHost {
            request_headers: vec![
                (":method".into(), method.into()),
                (":path".into(), path.into()),
                ("content-type".into(), "application/json".into()),
            ],
            now_ms: NOW,
            ..FakeHost::default()
        };
        Exchange {
            host,
            stream: Stream::new(),
            actions: Vec::new(),
        }
    }

    /// Headers (not ending the stream), then the whole body ending it.
    fn send(&mut self, c: &Config, body: &[u8]) -> &mut Self {
        let a = self.stream.on_request_headers(c, &mut self.host, false);
        self.actions.push(a);
        if self.host.replies.is_empty() {
            self.host.body = body.to_vec();
            let a = self
                .stream
                .on_request_body(c, &mut self.host, body.len(), true);
            self.actions.push(a);
        }
        self
    }

    /// A response in one chunk; returns what went downstream.
    fn respond(&mut self, c: &Config, status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
        self.host.response_headers = vec![
            (":status".into(), status.into()),
            ("content-type".into(), content_type.into()),
        ];
        self.stream.on_response_headers(&mut self.host, false);
        self.host.response_chunk = body.to_vec();
        self.host.replaced_chunk = None;
        self.stream
            .on_response_body(c, &mut self.host, body.len(), true);
        self.stream.on_log(&mut self.host);
        self.host
            .replaced_chunk
            .take()
            .unwrap_or_else(|| body.to_vec())
    }

    fn reply(&self) -> (u32, Value) {
        let (status, body) = self.host.replies.first().expect("a local reply");
        let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (*status, v)
    }
}

const DENY_DELETE: &str = r#"{"version":"1","default":"deny","tools":{"echo":{},"create_charge":{"require":[{"conditions":[{"path":"args.amount","op":"lte","value":50000}]}]}}}"#;

// ---------------------------------------------------------------- findings

/// Finding `float-roundtrip` (fuzz target `tool_call`, property "to_text
/// changed the value"): `json::parse` reads some decimal literals one ULP
/// away from their correctly rounded value (serde_json's default float
/// parser is approximate; the `float_roundtrip` feature makes it exact).
/// SECURITY.md §2 promises one reading of every body: a server that reads
/// numbers correctly (Python, JavaScript, Go, Rust's `str::parse`) reads
/// this amount as 50000.00000000001, over the cap the filter just let
/// through as exactly 50000.
#[test]
fn finding_float_roundtrip_amount_over_the_cap_is_read_as_the_cap() {
    let literal = "50000.00000000000363797880709171295166015625000000000000000001";
    let correct: f64 = literal.parse().unwrap();
    assert!(correct > 50000.0);
    let Json::Num(n) = json::parse(literal.as_bytes()).unwrap() else {
        panic!("a number")
    };
    assert_eq!(
        n.as_f64(),
        correct,
        "the filter reads another number than servers"
    );

    let c = config(DENY_DELETE);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"create_charge","arguments":{{"amount":{literal}}}}}}}"#
    );
    let d = decide(&c, body.as_bytes());
    assert_eq!(
        d.decision,
        Verdict::Deny,
        "amount {correct} > 50000 must not pass `lte 50000`"
    );
}

/// Finding `float-roundtrip`, second face: a float read and written back
/// does not read back the same (minimised from the fuzzer's crash input).
#[test]
fn finding_float_roundtrip_text_is_not_stable() {
    let literal = "6.635474778652015e-178";
    let v = json::parse(literal.as_bytes()).unwrap();
    assert_eq!(
        v.as_num().map(Num::as_f64),
        Some(literal.parse::<f64>().unwrap())
    );
    let text = v.to_text();
    let again = json::parse(text.as_bytes()).unwrap();
    assert_eq!(v, again, "to_text does not read back the same value");
}

/// Finding `raw-ids` (fuzz target `engine`/`stream`, property "response id
/// is not the request's"): `mcp::raw_ids` reads a batch of ONE message as a
/// struct from a sequence (serde's derived `Deserialize` accepts `[...]` for
/// a struct), so the "id" it returns is the whole message. A denied call in
/// a one-element batch is answered with that object as its id: not a valid
/// JSON-RPC id, the client cannot match it, and the arguments are echoed.
#[test]
fn finding_raw_ids_one_element_batch_echoes_the_whole_message_as_id() {
    let body = br#"[{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_repository","arguments":{"token":"sk_live_0123456789"}}}]"#;
    assert_eq!(mcp::raw_ids(body), [Some("7".to_owned())]);

    let c = config(DENY_DELETE);
    let mut x = Exchange::new("POST", "/mcp");
    x.send(&c, body);
    let (status, reply) = x.reply();
    assert_eq!(status, 200);
    assert_eq!(reply[0]["id"], 7, "reply: {reply}");
    assert_eq!(reply[0]["result"]["_meta"]["decision"], "deny");
}

/// Finding `raw-ids`, second face (fuzz target `engine`, minimised): a
/// batch refused for its element 1 is answered with the refusal, whose id
/// is element 1's, but `Decision::set_raw_ids` gives a refusal (which has no
/// elements) the spelling of element 0's id. The client is told its
/// request 0 was invalid.
#[test]
fn finding_raw_ids_refused_batch_answers_with_the_first_elements_id() {
    let body = br#"[{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"echo","arguments":{}}},{"jsonkpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}]"#;
    let refusal = mcp::parse(body).unwrap_err();
    assert_eq!(refusal.code, codes::INVALID_REQUEST);
    assert_eq!(refusal.id, Some(Json::Num(Num::U(1))));

    let c = config(DENY_DELETE);
    let mut x = Exchange::new("POST", "/mcp");
    x.send(&c, body);
    let (status, reply) = x.reply();
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], codes::INVALID_REQUEST);
    assert_eq!(
        reply["id"], 1,
        "the refused element's id, not element 0's: {reply}"
    );
}

/// Finding `reply-to-responses` (fuzz target `tool_call`, property "a
/// blocked batch is answered with one response per request"): when a batch
/// is blocked, every element with an id gets a "not executed" error, also a
/// client's *response* to a server request (sampling, elicitation). JSON-RPC
/// answers requests only; the error carries the server's request id, which
/// the client may take for the answer to its own request with that id.
#[test]
fn finding_reply_to_responses_blocked_batch_answers_a_client_response() {
    let body = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}},{"jsonrpc":"2.0","id":5,"result":{"action":"accept"}},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#;
    let c = config(DENY_DELETE);
    let mut x = Exchange::new("POST", "/mcp");
    x.send(&c, body);
    let (status, reply) = x.reply();
    assert_eq!(status, 200);
    let items = reply.as_array().expect("a batch reply");
    let ids: Vec<&Value> = items.iter().map(|i| &i["id"]).collect();
    assert_eq!(
        ids,
        [&Value::from(1)],
        "only the request is answered: {reply}"
    );
}

/// Finding `empty-body-non-post` (fuzz target `stream`, minimised): a
/// request on an MCP path whose headers do not end the stream but whose body
/// is empty (HTTP/1.1 `Transfer-Encoding: chunked` with only the last chunk,
/// or HTTP/2 HEADERS then an empty DATA frame with END_STREAM: Envoy calls
/// the body callback with 0 bytes and end_of_stream) is refused as a parse
/// error, also for GET and DELETE. The README: "Requests without a body
/// (GET SSE streams, DELETE, health checks) pass"; only "an empty POST" is
/// refused.
#[test]
fn finding_empty_body_non_post_delete_with_an_empty_data_frame_is_refused() {
    let c = config(DENY_DELETE);
    for method in ["DELETE", "GET"] {
        let mut x = Exchange::new(method, "/mcp");
        x.send(&c, b"");
        assert!(
            x.host.replies.is_empty(),
            "{method} with an empty body was refused: {:?}",
            x.host.replies
        );
        assert_eq!(x.actions.last(), Some(&Action::Continue), "{method}");
    }
    // An empty POST is refused, as documented.
    let mut post = Exchange::new("POST", "/mcp");
    post.send(&c, b"");
    assert_eq!(post.reply().0, 400);
}

/// Finding `toolslist-unreadable` (fuzz target `stream`, minimised): a
/// `tools/list` response the filter cannot read strictly (here: a duplicate
/// `id` member) is passed on unfiltered. SECURITY.md §6 and the README say a
/// tool list the filter cannot read is withheld; a lenient client reads the
/// hidden tool. (The server is trusted, so this is about the promise, not an
/// attack by the client.)
#[test]
fn finding_toolslist_unreadable_list_is_passed_unfiltered() {
    let c = config(DENY_DELETE);
    let mut x = Exchange::new("POST", "/mcp");
    x.send(
        &c,
        br#"{"jsonrpc":"2.0","id":"l","method":"tools/list","params":{}}"#,
    );
    assert_eq!(x.actions.last(), Some(&Action::Continue));
    let list = br#"{"jsonrpc":"2.0","id":"l","id":"l","result":{"tools":[{"name":"echo"},{"name":"delete_repository"}]}}"#;
    let downstream = x.respond(&c, "200", "application/json", list);
    let text = String::from_utf8_lossy(&downstream);
    assert!(
        !text.contains("delete_repository"),
        "a tool the caller may not call was listed: {text}"
    );
}

/// Finding `trailers` (fuzz target `stream`, with the proxy-wasm SDK's
/// default trailers callback modelled; also found by the Envoy adversarial
/// tests, fixed in aff5639): a body that ends with trailers never gets
/// `end_of_stream` on a body callback, and was released unjudged. The
/// trailers callback now judges what was buffered.
#[test]
fn finding_trailers_end_the_body_and_it_is_judged() {
    let c = config(DENY_DELETE);
    let body =
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repository"}}"#;
    for path in ["/mcp", "/elsewhere"] {
        let mut x = Exchange::new("POST", path);
        assert_eq!(
            x.stream.on_request_headers(&c, &mut x.host, false),
            Action::Pause
        );
        x.host.body = body.to_vec();
        let a = x.stream.on_request_body(&c, &mut x.host, body.len(), false);
        assert_eq!(a, Action::Pause, "{path}");
        let a = x.stream.on_request_trailers(&c, &mut x.host);
        assert_eq!(a, Action::Pause, "{path}: trailers released a denied call");
        let (status, reply) = x.reply();
        assert_eq!(status, 200);
        assert_eq!(reply["result"]["_meta"]["decision"], "deny", "{path}");
    }
}

// ---------------------------------------------------------------- tricky inputs (pass)

/// Nesting: serde_json's recursion limit bounds documents at 127 levels;
/// deeper is a parse error (never a stack overflow), however deep.
#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let arrays = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(json::parse(arrays(127).as_bytes()).is_ok());
    assert!(json::parse(arrays(128).as_bytes()).is_err());
    assert!(json::parse(arrays(100_000).as_bytes()).is_err());
    let objects = format!("{}1{}", r#"{"a":"#.repeat(200_000), "}".repeat(200_000));
    assert!(json::parse(objects.as_bytes()).is_err());

    // In a call's arguments: a parse error, so the call is refused.
    let deep_args = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"x":{}1{}}}}}}}"#,
        r#"{"a":"#.repeat(140),
        "}".repeat(140)
    );
    assert_eq!(
        mcp::parse(deep_args.as_bytes()).unwrap_err().code,
        codes::PARSE_ERROR
    );
}

/// Huge and tiny numbers compare by value, exactly for integers: 2^64,
/// 2^53 + 1, 10^30 are over a cap of 50000 and 2^53; -2^63 - 1 and 1e-400
/// (which underflows to 0) are under it; out-of-range floats are refused.
#[test]
fn huge_numbers_compare_by_value() {
    let c = config(
        r#"{"version":"1","default":"deny","tools":{
            "create_charge":{"require":[{"conditions":[{"path":"args.amount","op":"lte","value":50000}]}]},
            "exact":{"require":[{"conditions":[{"path":"args.n","op":"lte","value":9007199254740992}]}]}}}"#,
    );
    let call = |tool: &str, arg: &str, n: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"{arg}":{n}}}}}}}"#
        )
    };
    for (n, allowed) in [
        ("18446744073709551616", false),
        ("123456789012345678901234567890", false),
        ("50001", false),
        ("5.0000001e4", false),
        ("1.7976931348623157e308", false),
        ("-9223372036854775809", true),
        ("1e-400", true),
        ("-0", true),
        ("5e4", true),
        ("50000.0", true),
    ] {
        let d = decide(&c, call("create_charge", "amount", n).as_bytes());
        assert_eq!(d.decision == Verdict::Allow, allowed, "amount {n}");
    }
    assert_eq!(
        decide(&c, call("exact", "n", "9007199254740993").as_bytes()).decision,
        Verdict::Deny,
        "2^53 + 1 is not 2^53"
    );
    assert_eq!(
        decide(&c, call("exact", "n", "9007199254740992").as_bytes()).decision,
        Verdict::Allow
    );
    for bad in ["1e400", "-1e400", "NaN", "Infinity", "01", "+1", ".5", "1."] {
        let body = call("create_charge", "amount", bad);
        assert_eq!(
            mcp::parse(body.as_bytes()).unwrap_err().code,
            codes::PARSE_ERROR,
            "{bad}"
        );
    }
}

/// Strings as the fuzzers wrote them: lone surrogates and invalid UTF-8 are
/// parse errors; paired surrogates, escaped NUL and U+2028 are text.
#[test]
fn surrogates_and_invalid_utf8() {
    for bad in [
        &br#"{"a":"\ud800"}"#[..],
        br#"{"a":"\udc00x"}"#,
        br#"{"a":"\ud800\u0041"}"#,
        br#"{"\ud800":1}"#,
        b"{\"a\":\"\xff\"}",
        b"{\"a\":\"\xed\xa0\x80\"}",
        b"{\"\xc3\":1}",
        b"{\"a\":\"\x01\"}",
        br#"{"a":"\x41"}"#,
        br#"{"a":"\u12"}"#,
    ] {
        assert!(
            json::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let v = json::parse(br#"{"a":"\ud83d\ude00\u0000\u2028"}"#).unwrap();
    assert_eq!(
        v.get("a").and_then(Json::as_str),
        Some("\u{1F600}\0\u{2028}")
    );

    // On the MCP path, a call with invalid UTF-8 is refused as a parse error.
    let c = config(DENY_DELETE);
    let mut x = Exchange::new("POST", "/mcp");
    x.send(
        &c,
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"t\":\"\xff\"}}}",
    );
    let (status, reply) = x.reply();
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], codes::PARSE_ERROR);
}

/// Duplicate keys, also when one is escaped (`n\u0061me`), in the envelope,
/// in params, in arguments, and in objects large enough for the set-based
/// check: always a parse error, so the filter and the server never read two
/// different calls.
#[test]
fn duplicate_escaped_keys_are_refused() {
    let mut many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
    many.push(r#""k\u0037":0"#.into());
    let large = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{{}}}}}}}"#,
        many.join(",")
    );
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","n\u0061me":"delete_repository"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"\u0069d":2,"method":"tools/call","params":{"name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"amount":1,"\u0061mount":999999}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":{"b":1,"b":2}}}}"#,
        large.as_str(),
    ] {
        assert_eq!(
            mcp::parse(body.as_bytes()).unwrap_err().code,
            codes::PARSE_ERROR,
            "{body}"
        );
    }
}

/// Escapes in the method and the tool name are decoded as servers decode
/// them: `tools\/c\u0061ll` of `del\u0065te_repository` is that call.
#[test]
fn escaped_method_and_name_are_judged_decoded() {
    let body = br#"{"jsonrpc":"2.0","id":"a","method":"tools\/c\u0061ll","params":{"n\u0061me":"del\u0065te_repository"}}"#;
    let Body::Single(m) = mcp::parse(body).unwrap() else {
        panic!("a single message")
    };
    let Kind::ToolCall(call) = &m.kind else {
        panic!("a tools/call")
    };
    assert_eq!(call.name, "delete_repository");
    let d = decide(&config(DENY_DELETE), body);
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.rule, "/default");
}

/// Ids are echoed as the body spelled them (single messages), and a body
/// that opens with a byte-order mark is JSON nobody reads alike: refused on
/// any path, never passed as "not JSON".
#[test]
fn ids_as_spelled_and_bom_bodies() {
    let c = config(DENY_DELETE);
    for id in ["1.50", "-0", "1E2", r#""\u0041""#, "18446744073709551616"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"delete_repository"}}}}"#
        );
        let mut x = Exchange::new("POST", "/mcp");
        x.send(&c, body.as_bytes());
        let (_, raw) = x.host.replies.first().cloned().unwrap();
        assert!(raw.contains(&format!(r#""id":{id}"#)), "{id}: {raw}");
    }
    let bom = b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"delete_repository\"}}";
    for path in ["/mcp", "/elsewhere"] {
        let mut x = Exchange::new("POST", path);
        x.send(&c, bom);
        assert_eq!(x.reply().0, 400, "{path}");
    }
}

/// Argument values never reach the decision or the audit log, whatever
/// their spelling; only their keys do.
#[test]
fn argument_values_never_reach_the_audit_log() {
    let c = config(DENY_DELETE);
    for tool in ["echo", "delete_repository", "create_charge"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"token":"sk_live_\u0030123456789","amount":"999999999","nested":{{"k":"hunter2hunter2"}}}}}}}}"#
        );
        let mut x = Exchange::new("POST", "/mcp");
        x.send(&c, body.as_bytes());
        let logs = (x.host.logs.borrow().iter())
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(logs.contains("mcp_policy decision"), "{logs}");
        for secret in ["sk_live_0123456789", "999999999", "hunter2hunter2"] {
            assert!(!logs.contains(secret), "{tool}: {secret} logged: {logs}");
        }
        let d = decide(&c, body.as_bytes());
        assert_eq!(d.arg_keys, ["token", "amount", "nested"]);
    }
}

/// Wrong types never pass: a numeric string for `lte`, and an object where
/// a number is expected.
#[test]
fn wrong_types_deny() {
    let c = config(DENY_DELETE);
    for amount in [r#""999999""#, r#""1""#, "[1]", r#"{"v":1}"#, "true"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"create_charge","arguments":{{"amount":{amount}}}}}}}"#
        );
        assert_eq!(
            decide(&c, body.as_bytes()).decision,
            Verdict::Deny,
            "{amount}"
        );
    }
}
