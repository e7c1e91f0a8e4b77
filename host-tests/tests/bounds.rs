//! Resource bounds of the real filter (SPEC §7, §8): shared data grows by a fixed,
//! small number of bytes per distinct caller, whatever the identity looks like, and
//! reuses its keys across windows.

use mcp_policy_host_tests::{Plugin, Vm};
use serde_json::json;
use std::sync::Arc;

const CONFIG: &str = r#"{"policy":{"version":"1","default":"deny","tools":{"echo":{"rate_limit":"100/minute"}}},
                         "identity":[{"header":"x-agent-id"}]}"#;

fn call_as(vm: &mut Vm, agent: &str) -> bool {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}).to_string();
    let mut s = vm.stream();
    s.request_headers(
        &[
            (":method", "POST"),
            (":path", "/mcp"),
            ("x-agent-id", agent),
        ],
        false,
    )
    .unwrap();
    s.request_body(body.as_bytes(), true).unwrap();
    let allowed = s.upstream_request().is_some();
    if allowed {
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .unwrap();
        s.response_body(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#, true)
            .unwrap();
    }
    s.finish().unwrap();
    allowed
}

fn bytes(p: &Arc<Plugin>) -> usize {
    p.shared_data()
        .iter()
        .map(|(k, (v, _))| k.len() + v.len())
        .sum()
}

#[test]
fn shared_data_per_identity_is_bounded_linear_and_reused_across_windows() {
    let p = Plugin::load_default().unwrap();
    let mut vm = p.new_vm().unwrap();
    assert!(vm.configure(CONFIG).unwrap());
    let base = bytes(&p);
    let mut sizes = Vec::new();
    let mut n = 0usize;
    for target in [1_000usize, 3_000] {
        while n < target {
            // Identities of every length: keys must not grow with them.
            let agent = format!("agent-{n}-{}", "x".repeat(n % 300));
            assert!(call_as(&mut vm, &agent));
            n += 1;
        }
        sizes.push((target, bytes(&p) - base));
    }
    for (count, used) in &sizes {
        let per = *used as f64 / *count as f64;
        eprintln!("{count} identities: {used} bytes of shared data, {per:.1} per identity");
        assert!(per <= 128.0, "{per} bytes per identity");
    }
    // Linear: one cell per identity, each bounded whatever the identity's
    // length (a short identity is kept as it is, a long one as a digest).
    let cells: Vec<usize> = p
        .shared_data()
        .iter()
        .filter(|(k, _)| k.starts_with("mcp_policy:c:"))
        .map(|(k, (v, _))| k.len() + v.len())
        .collect();
    assert_eq!(cells.len(), 3_000, "one cell per identity");
    assert!(cells.iter().all(|&c| c <= 120), "{:?}", cells.iter().max());

    // A new window reuses every key: nothing grows.
    let before = bytes(&p);
    p.advance_ms(60_000);
    for i in 0..100 {
        assert!(call_as(
            &mut vm,
            &format!("agent-{i}-{}", "x".repeat(i % 300))
        ));
    }
    assert_eq!(bytes(&p), before);
}
