//! Bytes -> `json::parse`, `mcp::parse`, `mcp::could_be_json`,
//! `mcp::is_jsonrpc_shaped`.
//!
//! Properties: `json::parse` accepts exactly what a lenient reader (serde_json's
//! `Value`) reads without duplicate keys, and reads the same document; its
//! text reads back equal and stable; `mcp::parse` Ok implies strict JSON,
//! JSON-RPC shape and `could_be_json`, and names the method, tool and
//! arguments a server reads; a parse error iff not strict JSON; refusals
//! carry known codes and only string or number ids. The same bytes as a
//! Rate Limit Service answer (`outside::rls::read_answer`) never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzkit::check::parsers(data);
    fuzzkit::check::rls_answer(data);
});
