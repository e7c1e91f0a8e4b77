//! The real `mcp_policy.wasm`: a hidden tool is answered exactly as a tool
//! the policy does not list, so that an agent cannot tell a hidden tool from
//! one that does not exist (SPEC §3 step 1). The audit keeps the truth.

use mcp_policy_host_tests::{Plugin, Vm};
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

/// One POST /mcp, answered by the filter: status, content type, body, and
/// the filter state it left.
struct Reply {
    status: u32,
    headers: Vec<(String, String)>,
    body: String,
    rule_state: Option<String>,
}

fn send(vm: &mut Vm, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = vm.stream();
    let mut all = vec![
        (":method", "POST"),
        (":path", "/mcp"),
        (":authority", "mcp"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    s.request_headers(&all, false).unwrap();
    s.request_body(body.as_bytes(), true).unwrap();
    assert!(
        s.upstream_request().is_none(),
        "nothing reaches the server: {body}"
    );
    s.log().unwrap();
    let local = s.local_response().expect("the filter answers");
    let reply = Reply {
        status: local.status,
        headers: local.headers.clone(),
        body: local.body_str(),
        rule_state: s.filter_state_str("wasm.mcp_policy.rule"),
    };
    s.finish().unwrap();
    reply
}

fn call(id: &str, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"repo":"corp/web"}}}}}}"#
    )
}

/// Every form a denial takes: both `deny_as`, and the protocol revisions
/// whose replies differ (none, 2025-06-18, 2025-11-25, 2026-07-28).
fn forms() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut out = Vec::new();
    for deny_as in ["tool_error", "jsonrpc_error"] {
        out.push((deny_as, vec![]));
        for version in ["2025-06-18", "2025-11-25"] {
            out.push((deny_as, vec![("mcp-protocol-version", version)]));
        }
        out.push((
            deny_as,
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
            ],
        ));
    }
    out
}

fn config(deny_as: &str, policy: &str) -> String {
    format!(r#"{{"policy":{policy},"deny_as":"{deny_as}","identity":[{{"header":"x-agent-id"}}]}}"#)
}

const HIDES: &str = r#"{"version":"1","default":"deny","hide":["delete_repository"],"tools":{"echo":{},"delete_repository":{}}}"#;
const HIDES_ALL: &str =
    r#"{"version":"1","default":"deny","hide":"*","tools":{"echo":{},"delete_repository":{}}}"#;
const UNLISTED: &str = r#"{"version":"1","default":"deny","tools":{"echo":{}}}"#;

#[test]
fn a_hidden_tool_gets_the_reply_of_an_unlisted_one_byte_for_byte() {
    let p = plugin();
    for (deny_as, headers) in forms() {
        let mut hides = configured(&p, &config(deny_as, HIDES));
        let mut hides_all = configured(&p, &config(deny_as, HIDES_ALL));
        let mut unlisted = configured(&p, &config(deny_as, UNLISTED));
        for id in ["7", "\"a-1\"", "1.50"] {
            let mut h = headers.clone();
            h.push(("mcp-name", "delete_repository"));
            let body = call(id, "delete_repository");
            let hidden = send(&mut hides, &h, &body);
            let all = send(&mut hides_all, &h, &body);
            let absent = send(&mut unlisted, &h, &body);
            let form = format!("{deny_as} {headers:?} id {id}");
            assert_eq!(hidden.status, absent.status, "{form}");
            assert_eq!(hidden.headers, absent.headers, "{form}");
            assert_eq!(hidden.body, absent.body, "{form}");
            assert_eq!(all.body, absent.body, "{form}");
            assert_eq!(hidden.status, 200, "{form}");
            assert!(
                !hidden.body.to_lowercase().contains("hid"),
                "{form}: {}",
                hidden.body
            );
            assert!(
                hidden.body.contains("Unknown tool: delete_repository"),
                "{form}: {}",
                hidden.body
            );
            // The filter state (access logs) keeps the true rule.
            assert_eq!(hidden.rule_state.as_deref(), Some("/hide/0"), "{form}");
            assert_eq!(all.rule_state.as_deref(), Some("/hide"), "{form}");
            assert_eq!(absent.rule_state.as_deref(), Some("/default"), "{form}");
        }
        // The audit line too.
        assert!(
            hides.logged("\"rule\":\"/hide/0\",\"reason\":\"Tool \\\"delete_repository\\\" is hidden by policy\""),
            "{:?}",
            hides.logs()
        );
    }
}

#[test]
fn within_one_policy_a_hidden_tool_reads_as_a_tool_that_does_not_exist() {
    let p = plugin();
    for (deny_as, headers) in forms() {
        let mut vm = configured(&p, &config(deny_as, HIDES));
        let reply = |vm: &mut Vm, tool: &str| {
            let mut h = headers.clone();
            h.push(("mcp-name", tool));
            send(vm, &h, &call("3", tool))
        };
        let hidden = reply(&mut vm, "delete_repository");
        let nothing = reply(&mut vm, "no_such_tool");
        assert_eq!(hidden.status, nothing.status);
        assert_eq!(
            hidden.body.replace("delete_repository", "TOOL"),
            nothing.body.replace("no_such_tool", "TOOL"),
            "{deny_as} {headers:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&hidden.body).unwrap();
        let (meta, text) = match deny_as {
            "tool_error" => (
                &v["result"]["_meta"],
                v["result"]["content"][0]["text"].as_str().unwrap(),
            ),
            _ => (&v["error"]["data"], v["error"]["message"].as_str().unwrap()),
        };
        assert_eq!(text, "Unknown tool: delete_repository");
        assert_eq!(meta["decision"], "deny");
        assert_eq!(meta["code"], -32060);
        assert_eq!(meta["rule"], "/default");
        assert_eq!(meta["reason"], "Unknown tool: delete_repository");
        if deny_as == "jsonrpc_error" {
            assert_eq!(v["error"]["code"], -32060);
        }
    }
}

#[test]
fn in_a_batch_a_hidden_element_reads_as_an_unlisted_one() {
    let p = plugin();
    let headers = [("mcp-protocol-version", "2025-03-26")];
    for deny_as in ["tool_error", "jsonrpc_error"] {
        let mut hides = configured(&p, &config(deny_as, HIDES));
        let mut unlisted = configured(&p, &config(deny_as, UNLISTED));
        let body = format!("[{},{}]", call("1", "echo"), call("2", "delete_repository"));
        let hidden = send(&mut hides, &headers, &body);
        let absent = send(&mut unlisted, &headers, &body);
        assert_eq!(hidden.body, absent.body, "{deny_as}");
        assert!(hidden.body.contains("Unknown tool: delete_repository"));
        assert!(!hidden.body.to_lowercase().contains("hid"));
    }
}

#[test]
fn other_denials_still_say_why() {
    let p = plugin();
    let policy = r#"{"version":"1","default":"deny","tools":{
        "drop_table":{"action":"deny","reason":"Dropping tables needs a ticket"}}}"#;
    let mut vm = configured(&p, &config("tool_error", policy));
    let r = send(&mut vm, &[], &call("1", "drop_table"));
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["result"]["content"][0]["text"],
        "Denied by policy: Dropping tables needs a ticket (drop_table was not run)."
    );
    assert_eq!(v["result"]["_meta"]["rule"], "/tools/drop_table/action");
}
