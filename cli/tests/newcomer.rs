//! What a new user trips on first (issue 16), run as a user runs it: what
//! `convert` accepts, what `check` warns about, what `explain` says and how
//! it exits.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// A file of its own for each call: tests run in parallel.
fn temp(name: &str, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "mcp-policy-cli-newcomer-{}-{n}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn call(tool: &str, args: &str) -> PathBuf {
    temp(
        "call.json",
        &format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
        ),
    )
}

#[test]
fn convert_refuses_what_check_refuses() {
    let yaml = temp(
        "typo.yaml",
        "version: \"1\"\ndefault: deny\ntools:\n  create_charge:\n    rules:\n      - name: max\n        conditions: [ { path: args.amount, op: gtt, value: 5 } ]\n",
    );
    let (code, out, err) = run(bin().arg("convert").arg(&yaml));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(
        err.contains(
            r#"error: tools.create_charge.rules[0].conditions[0].op: unknown operator "gtt""#
        ),
        "{err}"
    );
    assert!(err.contains("invalid (1 error)"), "{err}");
    // check says the same of the same file.
    let (code, _, check_err) = run(bin().arg("check").arg(&yaml));
    assert_eq!(code, 1);
    assert!(
        check_err.contains(r#"unknown operator "gtt""#),
        "{check_err}"
    );
    // Unknown fields too.
    let yaml = temp(
        "field.yaml",
        "version: \"1\"\ndefault: deny\ntools:\n  echo: { reqiure: [] }\n",
    );
    let (code, out, err) = run(bin().arg("convert").arg(&yaml));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("tools.echo.reqiure"), "{err}");
}

#[test]
fn convert_prints_a_valid_policy_and_its_warnings() {
    let yaml = temp(
        "ok.yaml",
        "version: 1\ntools:\n  echo: {}\n  \"*\":\n    rules: [ { name: global, rate_limit: 60/minute } ]\n",
    );
    let (code, out, err) = run(bin().arg("convert").arg(&yaml));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "1");
    assert!(v["tools"]["echo"].is_object());
    assert!(
        err.contains("warning:") && err.contains("\"default\" is not set"),
        "{err}"
    );
}

#[test]
fn hiding_under_default_allow_is_warned_about() {
    for (text, at) in [
        (
            r#"{"version":"1","default":"allow","hide":["drop"],"tools":{}}"#,
            "warning: hide: ",
        ),
        (
            r#"{"policy":{"version":"1","default":"allow","hide":"*","tools":{}}}"#,
            "warning: policy.hide: ",
        ),
        (
            r#"{"policies":{"ops":{"version":"1","hide":["drop"],"tools":{}}},"grants":{}}"#,
            "warning: policies.ops.hide: ",
        ),
    ] {
        let p = temp("hide.json", text);
        let (code, _, err) = run(bin().arg("check").arg(&p));
        assert_eq!(code, 0, "{err}");
        assert!(err.contains(at), "{at} in {err}");
        assert!(err.contains("\"default\": \"deny\""), "{err}");
    }
    // Under default deny hiding is airtight: nothing to warn about.
    let p = temp(
        "hide.json",
        r#"{"version":"1","default":"deny","hide":["drop"],"tools":{}}"#,
    );
    let (code, _, err) = run(bin().arg("check").arg(&p));
    assert_eq!(code, 0);
    assert!(!err.contains("warning"), "{err}");
}

const POLICY: &str = r#"{
  "policies": {
    "support": { "version": "1", "default": "deny", "hide": ["delete_repository"],
                 "tools": { "echo": {},
                            "pay": { "limits": [ { "counter": "spend", "window": "day", "max": 10,
                                                   "increment_from": "args.amount" } ] },
                            "deploy": { "action": "require_approval" } } }
  },
  "grants": { "ops": { "policy": "support", "match": ["ops-bot"] },
              "frozen": { "match": ["frozen-bot"] } },
  "unmatched": "support",
  "identity": [ { "header": "x-agent-id" } ],
  "approval": { "cluster": "approvals" }
}"#;

#[test]
fn explain_exit_code_is_the_decision() {
    let config = temp("config.json", POLICY);
    let cases = [
        (call("echo", r#"{"text":"hi"}"#), "allow", 0),
        (call("deploy", "{}"), "approval_pending", 3),
        (call("pay", r#"{"amount":100}"#), "rate_limited", 4),
        (call("create_charge", "{}"), "deny", 5),
        (call("delete_repository", "{}"), "deny", 5),
        (temp("bad.json", "{\"jsonrpc\":"), "invalid", 6),
    ];
    for (request, decision, exit) in cases {
        let (code, out, err) = run(bin()
            .arg("explain")
            .arg(&config)
            .arg(&request)
            .arg("--exit-code"));
        let d: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(d["decision"], decision, "{out}");
        assert_eq!(code, exit, "{decision}: {err}");
        // Without --exit-code, a printed decision exits 0.
        let (code, _, _) = run(bin().arg("explain").arg(&config).arg(&request));
        assert_eq!(code, 0);
    }
    // An error is still 1, whatever the flag.
    let (code, out, _) = run(bin()
        .arg("explain")
        .arg(temp(
            "missing.json",
            "{\"policies\":{}, \"unmatched\":\"nope\"}",
        ))
        .arg(call("echo", "{}"))
        .arg("--exit-code"));
    assert_eq!(code, 1);
    assert!(out.is_empty());
}

#[test]
fn explain_names_the_policy_that_judged_the_request() {
    let config = temp("config.json", POLICY);
    let request = call("create_charge", "{}");
    // A caller no grant matches: the decision has grant null and a rule in
    // the policy "unmatched" names; stderr says which policy that is.
    let (code, out, err) = run(bin().arg("explain").arg(&config).arg(&request));
    assert_eq!(code, 0);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["grant"], serde_json::Value::Null);
    assert_eq!(d["rule"], "/default");
    assert!(
        err.contains(
            r#"judged by policy "support" (no grant matches the caller; "unmatched" names it)"#
        ),
        "{err}"
    );
    let (_, _, err) = run(bin()
        .arg("explain")
        .arg(&config)
        .arg(&request)
        .args(["--header", "x-agent-id=ops-bot"]));
    assert!(
        err.contains(r#"judged by policy "support" (grant "ops")"#),
        "{err}"
    );
    let (_, out, err) = run(bin()
        .arg("explain")
        .arg(&config)
        .arg(&request)
        .args(["--grant", "frozen"]));
    assert!(
        err.contains(r#"judged by no policy (grant "frozen" names none, /grants/frozen)"#),
        "{err}"
    );
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["rule"], "/grants/frozen");
}

#[test]
fn explain_keeps_the_truth_about_a_hidden_tool() {
    // The agent is told "Unknown tool" (respond.rs); the decision, which
    // the operator reads, says what happened.
    let config = temp("config.json", POLICY);
    let (code, out, _) = run(bin()
        .arg("explain")
        .arg(&config)
        .arg(call("delete_repository", "{}"))
        .arg("--exit-code"));
    assert_eq!(code, 5);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["rule"], "/hide/0");
    assert_eq!(
        d["reason"],
        "Tool \"delete_repository\" is hidden by policy"
    );
}
