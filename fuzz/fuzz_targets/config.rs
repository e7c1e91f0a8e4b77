//! Bytes -> `Config::parse`.
//!
//! Properties: deterministic; `Err` never empty; `Ok` only for strict JSON,
//! with every index in range, no unresolved `state.` condition, and every
//! tool the policy does not list denied; a bare policy means the same as
//! `{"policy": <it>}`. A configuration that validates then judges a few
//! fixed requests with every property of the `engine` target.
#![no_main]

use fuzzkit::check::{self, Scenario};
use fuzzkit::policies::Parsed;
use libfuzzer_sys::fuzz_target;
use mcp_policy::stream::fake::Facts;

const REQUESTS: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"amount":60000,"currency":"usd","memo":"drop  table users"}}}"#,
    r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"where is my password","limit":5}}},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo"}}]"#,
    r#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":"create_charge","arguments":{"amount":"999999","items":[{"id":-9007199254740993}]}}}"#,
];

fuzz_target!(|data: &[u8]| {
    let Some(config) = check::config(data) else {
        return;
    };
    let parsed = Parsed {
        name: "fuzzed".into(),
        style: 0,
        text: String::from_utf8_lossy(data).into_owned(),
        config,
    };
    let scenario = Scenario {
        parsed: &parsed,
        facts: Facts {
            headers: vec![("x-agent-id".into(), "agent-a".into())],
            properties: Vec::new(),
        },
        session: Some("s1".into()),
        request_id: Some("r1".into()),
        protocol_version: None,
        now_ms: fuzzkit::NOW_MS,
        runs: 2,
    };
    for body in REQUESTS {
        scenario.check(body.as_bytes());
    }
});
