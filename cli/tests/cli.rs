//! The `mcp-policy` binary, run as a user runs it, on the real policies in
//! `../shared/policies` (which CI has beside the repository).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
}

fn shared() -> PathBuf {
    let dir = std::env::var_os("MCP_POLICY_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.join("policies").is_dir(),
        "the shared policies are missing at {} (set MCP_POLICY_SHARED)",
        dir.display()
    );
    dir
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

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

/// A file of its own for each call: tests run in parallel.
fn temp(name: &str, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("mcp-policy-cli-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_intercept_policy_converts_and_checks() {
    let yamls = files(&shared().join("policies/intercept"), "yaml");
    assert_eq!(yamls.len(), 53, "the 53 Intercept scaffolds");
    for yaml in yamls {
        let (code, json, err) = run(bin().arg("convert").arg(&yaml));
        assert_eq!(code, 0, "convert {}: {err}", yaml.display());
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["version"], "1");
        let tools = value["tools"].as_object().unwrap().len();
        let converted = temp(
            &format!("{}.json", yaml.file_stem().unwrap().to_string_lossy()),
            &json,
        );
        let (code, out, err) = run(bin().arg("check").arg(&converted));
        assert_eq!(code, 0, "check {}: {err}", yaml.display());
        assert!(out.contains(&format!("{tools} tool")), "{out}");
        // The YAML itself checks too.
        assert_eq!(run(bin().arg("check").arg(&yaml)).0, 0);
    }
}

#[test]
fn every_policylayer_policy_checks() {
    let jsons = files(&shared().join("policies/policylayer"), "json");
    assert!(jsons.len() >= 4);
    for json in jsons {
        let (code, _, err) = run(bin().arg("check").arg(&json));
        assert_eq!(code, 0, "check {}: {err}", json.display());
    }
}

#[test]
fn check_reports_every_error_with_its_path_and_exits_1() {
    let bad = temp(
        "bad.json",
        r#"{"policies":{"ops":{"version":"1","default":"deny","tools":{"create_charge":{"rules":[
              {"name":"a","conditions":[{"path":"args.amount","op":"lte","value":5}]},
              {"name":"b","conditions":[{"path":"args.amount","op":"gtt","value":1}]}]}}}},
            "grants":{"g":{"policy":"missing","match":["x"]}}}"#,
    );
    let (code, out, err) = run(bin().arg("check").arg(&bad));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains(r#"error: policies.ops.tools.create_charge.rules[1].conditions[0].op: unknown operator "gtt""#), "{err}");
    assert!(
        err.contains(r#"error: grants.g.policy: grant names a missing policy "missing""#),
        "{err}"
    );
    assert!(err.contains("invalid (2 errors)"), "{err}");
}

#[test]
fn check_warns_when_default_is_absent() {
    let p = temp("nodefault.json", r#"{"version":"1","tools":{}}"#);
    let (code, _, err) = run(bin().arg("check").arg(&p));
    assert_eq!(code, 0);
    assert!(
        err.contains("warning:") && err.contains("\"default\" is not set"),
        "{err}"
    );
}

fn explain(config: &Path, request: &str, extra: &[&str]) -> serde_json::Value {
    let req = temp("request.json", request);
    let (code, out, err) = run(bin().arg("explain").arg(config).arg(&req).args(extra));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn explain_the_seed_policy() {
    let dreamlit = shared().join("policies/policylayer/dreamlit.json");
    let call = |tool: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"prompt":"p","name":"n"}}}}}}"#
        )
    };
    let d = explain(&dreamlit, &call("create_or_update_workflow"), &[]);
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["tool"], "create_or_update_workflow");
    assert_eq!(d["method"], "tools/call");
    assert_eq!(d["rule"], "/tools/create_or_update_workflow");
    assert_eq!(
        d["counters"][0]["counter"],
        "create_or_update_workflow_rate"
    );
    assert_eq!(d["counters"][0]["value"], 1);
    assert_eq!(d["counters"][0]["max"], 30);
    assert_eq!(d["arg_keys"], serde_json::json!(["prompt", "name"]));
    assert_eq!(d["policy_sha256"].as_str().unwrap().len(), 64);
    for key in ["grant", "session", "reason", "request_id"] {
        assert!(d.get(key).is_some(), "{key} in {d}");
    }
    for other in [
        "delete_workflow",
        "get_status",
        "create_or_update_workflow_v2",
    ] {
        let d = explain(&dreamlit, &call(other), &[]);
        assert_eq!(d["decision"], "deny", "{other}");
        assert_eq!(d["rule"], "/default", "{other}");
        assert!(d["reason"].as_str().unwrap().contains("not permitted"));
        assert_eq!(d["counters"], serde_json::json!([]));
    }
}

#[test]
fn explain_with_grants_headers_and_sessions() {
    let config = temp(
        "grants.json",
        r#"{"policies":{"ro":{"version":"1","default":"deny","tools":{"read":{}}},
                        "rw":{"version":"1","default":"deny","tools":{"read":{},"write":{"rate_limit":"5/minute"}}}},
            "grants":{"writer":{"policy":"rw","match":["agent-w"]}},
            "identity":[{"header":"x-agent-id"}]}"#,
    );
    let write = r#"{"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"write"}}"#;
    let d = explain(
        &config,
        write,
        &[
            "--header",
            "x-agent-id=agent-w",
            "--session",
            "s-1",
            "--header",
            "x-request-id=r-9",
        ],
    );
    assert_eq!(
        (d["decision"].as_str(), d["grant"].as_str()),
        (Some("allow"), Some("writer"))
    );
    assert_eq!(
        (d["session"].as_str(), d["request_id"].as_str()),
        (Some("s-1"), Some("r-9"))
    );
    let d = explain(&config, write, &["--grant", "writer"]);
    assert_eq!(d["decision"], "allow");
    let d = explain(&config, write, &["--header", "x-agent-id=someone-else"]);
    assert_eq!(
        (d["decision"].as_str(), d["rule"].as_str()),
        (Some("deny"), Some("/unmatched"))
    );
    let d = explain(&config, "{not json", &[]);
    assert_eq!(d["decision"], "invalid");
    // 2026-07-28 routing headers are checked as the filter checks them.
    let routed = |name: &str| {
        explain(
            &config,
            write,
            &[
                "--grant",
                "writer",
                "--header",
                "mcp-method=tools/call",
                "--header",
                name,
            ],
        )
    };
    let d = routed("mcp-name=read");
    assert_eq!(d["decision"], "invalid", "{d}");
    assert!(
        d["reason"].as_str().unwrap().starts_with("Header mismatch"),
        "{d}"
    );
    assert_eq!(routed("mcp-name=write")["decision"], "allow");
    let d = explain(
        &config,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        &[],
    );
    assert_eq!(d["decision"], "allow");
    let batch = format!(
        r#"[{write},{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"read"}}}}]"#
    );
    let d = explain(&config, &batch, &["--grant", "writer"]);
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["elements"].as_array().unwrap().len(), 2);
    let (code, _, err) = run(bin()
        .args(["explain"])
        .arg(&config)
        .arg(temp("r.json", write))
        .args(["--grant", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("no grant \"nope\""), "{err}");
}

#[test]
fn convert_refuses_bad_yaml() {
    let dup = temp("dup.yaml", "version: \"1\"\ntools: {}\ntools: {}\n");
    let (code, _, err) = run(bin().arg("convert").arg(&dup));
    assert_eq!(code, 1);
    assert!(err.contains("not valid YAML"), "{err}");
    let numeric = temp(
        "numeric.yaml",
        "version: 1\ndefault: deny\ntools:\n  a:\n    rules: []\n",
    );
    let (code, out, _) = run(bin().arg("convert").arg(&numeric));
    assert_eq!(code, 0);
    assert!(out.contains("\"version\": \"1\""), "{out}");
}
