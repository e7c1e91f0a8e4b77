//! Bytes -> a configuration and a request body -> `judge::judge` on a
//! `MemoryStore`, then `respond::reply`.
//!
//! Input: `[mode][index lo][index hi][flags]` then, when `mode & 0x80`, a
//! configuration of `len` bytes (`[len lo][len hi]` first), and the request
//! body (the rest). Otherwise the configuration is a fixed one: every
//! built-in and real policy in every wrapping (`policies::pick(index)`).
//! `flags`: bits 0-1 how many times the body is judged on the same counters
//! (1-4); bits 2-4 the caller's `x-agent-id`; bit 5 a session; bits 6-7 the
//! clock.
//!
//! Properties (`check::Scenario`): the decision's JSON is strict JSON and
//! agrees with the body (ids, tools, one element per batch message, the
//! strictest element); a reply iff blocked, strict JSON with the request's
//! ids and the decision's codes, in both `deny_as` styles and protocol
//! versions; blocked requests hold no reservation and leave counters as they
//! were, allowed ones move them by what they hold; judging is deterministic;
//! argument values never reach the decision's JSON. Plus every parser
//! property of the `mcp` target on the body.
#![no_main]

use fuzzkit::check::{self, Scenario};
use fuzzkit::policies::{self, Parsed};
use libfuzzer_sys::fuzz_target;
use mcp_policy::stream::fake::Facts;

const IDENTITIES: &[&str] = &[
    "",
    "agent-a",
    "agent-b",
    "agent-x",
    "sub:1234",
    "spiffe://corp/agent/ops",
    "  agent-a  ",
    "AGENT-A",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let (mode, index, flags) = (head[0], u16::from_le_bytes([head[1], head[2]]), head[3]);
    let owned;
    let (parsed, body): (&Parsed, &[u8]) = if mode & 0x80 != 0 {
        if rest.len() < 2 {
            return;
        }
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (config_text, body) = rest[2..].split_at(len);
        let Some(config) = check::config(config_text) else {
            return;
        };
        owned = Parsed {
            name: "inline".into(),
            style: 0,
            text: String::from_utf8_lossy(config_text).into_owned(),
            config,
        };
        (&owned, body)
    } else {
        (policies::pick(usize::from(index)), rest)
    };
    let _ = check::parsers(body);
    let identity = IDENTITIES[usize::from(flags >> 2 & 7)];
    let now_ms = match flags >> 6 {
        0 => fuzzkit::NOW_MS,
        1 => 0,
        2 => u64::MAX,
        _ => fuzzkit::NOW_MS + 29_999,
    };
    let scenario = Scenario {
        parsed,
        facts: Facts {
            headers: vec![
                ("x-agent-id".into(), identity.into()),
                ("authorization".into(), format!("Bearer {identity}")),
            ],
            properties: vec![(
                vec![
                    "metadata".into(),
                    "filter_metadata".into(),
                    "envoy.filters.http.jwt_authn".into(),
                    "agents".into(),
                    "sub".into(),
                ],
                identity.as_bytes().to_vec(),
            )],
        },
        session: (flags & 0x20 != 0).then(|| "session-1".to_owned()),
        request_id: Some("req-1".into()),
        protocol_version: Some("2025-06-18".into()),
        now_ms,
        runs: usize::from(flags & 3) + 1,
    };
    scenario.check(body);
});
