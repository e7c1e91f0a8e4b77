//! `[mode]` + text -> `json::scan::scan` and `toolslist::cut`, the one-pass
//! reading of tool lists, held to what it replaced.
//!
//! Properties: `json::scan` accepts exactly what `json::parse` accepts, on
//! every input; `toolslist::cut` gives exactly what the tree-based cut gave
//! (`fuzzkit::oldcut`: `json::parse`, then `json::spans`) under each policy:
//! the same bytes out, or both withhold. `mode` picks the policy (none, one
//! that hides and denies, one that lists only a few names) and whether the
//! text goes inside a tool list (a message, a batch, a list with a first
//! tool), so that most inputs reach the lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_policy::config::Config;
use mcp_policy::json::scan::{self, Mark, Visit, UNMARKED};
use std::sync::OnceLock;

const POLICIES: [&str; 2] = [
    r#"{"version":"1","default":"allow","hide":["b","delete_repo"],"tools":{"c":{"action":"deny"},"a":{}}}"#,
    r#"{"version":"1","default":"deny","tools":{"a":{},"echo":{},"\u00e9":{},"Name":{}}}"#,
];

fn configs() -> &'static [Config] {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        POLICIES
            .iter()
            .map(|p| Config::parse(p.as_bytes()).expect("the target's policies validate"))
            .collect()
    })
}

/// Follows nothing: the scan as a check alone.
struct Nothing;
impl Visit for Nothing {
    fn enter(&mut self, _: Mark, _: Option<&[u8]>, _: usize, _: u8) -> Mark {
        UNMARKED
    }
    fn leave(&mut self, _: Mark, _: usize) {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text: Vec<u8> = match (mode >> 2) & 3 {
        0 => rest.to_vec(),
        1 => [
            br#"{"jsonrpc":"2.0","id":1,"result":{"tools":["#,
            rest,
            b"]}}",
        ]
        .concat(),
        2 => [
            br#"[{"jsonrpc":"2.0","id":1,"result":{}},{"id":2,"result":{"tools":["#,
            rest,
            b"]}}]",
        ]
        .concat(),
        _ => [
            br#"{"result":{"tools":[{"name":"a"},"#,
            rest,
            br#"],"nextCursor":"x"}}"#,
        ]
        .concat(),
    };
    let strict = mcp_policy::json::parse(&text).is_ok();
    let scanned = scan::scan(&text, &mut Nothing).is_ok();
    assert_eq!(
        scanned, strict,
        "json::scan and json::parse disagree: scan {scanned}, parse {strict}"
    );
    let policy = match mode & 3 {
        0 => None,
        i => configs()[usize::from(i - 1) % configs().len()].policy(0),
    };
    let new = mcp_policy::toolslist::cut(&text, policy);
    let old = fuzzkit::oldcut::cut(&text, policy);
    assert!(
        new == old,
        "toolslist::cut differs from the tree-based cut:\n new {:?}\n old {:?}",
        new.as_ref()
            .map(|o| o.as_ref().map(|b| String::from_utf8_lossy(b))),
        old.as_ref()
            .map(|o| o.as_ref().map(|b| String::from_utf8_lossy(b))),
    );
});
