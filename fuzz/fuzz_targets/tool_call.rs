//! Structure-aware: `fuzzkit::gen` writes a JSON-RPC body (mostly
//! `tools/call`, with escapes, duplicate keys, numbers of every form, deep
//! nesting, batches, a few byte mutations) and it is judged against a fuzz
//! policy whose conditions use every operator.
//!
//! Properties: every property of the `mcp` and `engine` targets, and, for
//! the `ops` and `charges` policies, the verdict the README's rules give
//! (`fuzzkit::oracle`, computed on a lenient reading of the body without the
//! engine): a call the rules block is never allowed, and a call they allow
//! is never blocked.
#![no_main]

use arbitrary::Unstructured;
use fuzzkit::check::{self, Scenario};
use fuzzkit::gen::Gen;
use fuzzkit::oracle::{self, Expect};
use fuzzkit::policies;
use libfuzzer_sys::fuzz_target;
use mcp_policy::stream::fake::Facts;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(which) = u.int_in_range(0u8..=15) else {
        return;
    };
    let Ok(style) = u.int_in_range(0..=policies::STYLES - 1) else {
        return;
    };
    let Ok(runs) = u.int_in_range(1..=3) else {
        return;
    };
    let parsed = match which {
        0..=5 => policies::builtin("ops", style),
        6..=10 => policies::builtin("charges", style),
        11 | 12 => policies::builtin("grants", 0),
        13 => policies::builtin("lockdown", 0),
        _ => match u.arbitrary::<u16>() {
            Ok(i) => policies::pick(usize::from(i)),
            Err(_) => return,
        },
    };
    let Ok(made) = Gen::new(&mut u).body() else {
        return;
    };
    let body = &made.text;
    let parsed_ok = check::parsers(body).is_ok();
    let scenario = Scenario {
        parsed,
        facts: Facts {
            headers: vec![("x-agent-id".into(), "agent-a".into())],
            properties: Vec::new(),
        },
        session: Some("s1".into()),
        request_id: Some("r1".into()),
        protocol_version: Some("2026-07-28".into()),
        now_ms: fuzzkit::NOW_MS,
        runs,
    };
    let outcomes = scenario.check(body);
    if !parsed_ok {
        return;
    }
    let policy: fn(&str, Option<&serde_json::Map<String, serde_json::Value>>) -> Expect =
        match parsed.name.as_str() {
            "ops" => oracle::ops,
            "charges" => oracle::charges,
            _ => return,
        };
    let reading = fuzzkit::reference::parse(body).expect("parsed bodies read");
    let expected = oracle::body(&reading.value, policy);
    let got = outcomes[0].decision.decision;
    if stats() {
        eprintln!("oracle {} {expected:?} got {}", parsed.name, got.label());
    }
    match expected {
        Expect::Block => assert!(
            got.blocks(),
            "the {} policy's rules block this body, but it was allowed: {}",
            parsed.name,
            outcomes[0].text
        ),
        Expect::Allow => assert!(
            !got.blocks(),
            "the {} policy's rules allow this body, but it was {}: {}",
            parsed.name,
            got.label(),
            outcomes[0].text
        ),
        Expect::Unsure => {}
    }
});

/// `FUZZKIT_ORACLE_STATS=1`: print what the oracle expected for each input
/// (to see how often it can tell), e.g. over the corpus with `-runs=0`.
fn stats() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZKIT_ORACLE_STATS").is_some())
}
