//! `fuzzkit`: what the fuzz targets share.
//!
//! - `policies`: the configurations the targets judge against: the policies
//!   written for fuzzing (`fuzz/policies/`, every operator, both forms,
//!   counters of every scope) and the real ones from `../shared/policies`,
//!   converted to JSON by `fuzz/build_corpus.py` into `corpus/_policies/`;
//! - `reference`: an independent reading of JSON (serde_json's `Value`, with
//!   its own duplicate-key check) to hold `mcp_policy::json` against;
//! - `oldcut`: the tool-list cut as it was made over a tree, for `toolslist`;
//! - `gen`: a structure-aware generator of JSON-RPC bodies for `tools/call`;
//! - `oracle`: what a few of the fuzz policies must decide, computed
//!   independently of the engine, on the reference reading;
//! - `check`: the properties every target asserts.
//!
//! The proxy host double and request facts are the filter's own:
//! `mcp_policy::stream::fake` (its feature `fake-host`).
//!
//! Every property that fails panics with a message that says which one, so
//! libFuzzer records the input as a crash.

pub mod check;
pub mod gen;
pub mod oldcut;
pub mod oracle;
pub mod policies;
pub mod reference;

/// A fixed clock: 2026-01-01T00:00:30Z, 30 s into a minute.
pub const NOW_MS: u64 = 1_767_225_630_000;
