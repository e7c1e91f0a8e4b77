//! mcp-policy: an MCP policy enforcement point inside the proxy.
//!
//! The crate is built twice: natively, for the CLI and fast tests of the pure
//! logic, and for `wasm32-wasip1` as the proxy-wasm filter. Only `host` knows
//! about proxy-wasm; every other module is pure Rust with no host calls.
//!
//! Floors, each using only those below it:
//! - `json`, `fields`, `regex`, `digest`, `names`, `sort`: strict JSON,
//!   configuration read with JSON paths, patterns, digests, lookups;
//! - `policy`, `mcp`, `decision`: the policy model, MCP messages, decisions;
//! - `engine`, `config`: judging one call, the plugin configuration;
//! - `outside`: questions to services outside the proxy, their answers;
//! - `judge`, `respond`, `toolslist`, `sse`: judging a request body,
//!   answering the agent, cutting tool lists out of responses;
//! - `stream`: one HTTP exchange, over a `Host` trait (tested natively);
//! - `host`, `alloc` (wasm only): the proxy-wasm shell, its allocator.
//!
//! `probe` marks stretches of work for `cost --trace`; a no-op unless built so.

// A panic traps the VM and fails every later request: no code path that
// input can reach may panic. Tests may.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod alloc;
pub mod config;
pub mod decision;
pub mod digest;
pub mod engine;
pub mod fields;
pub mod json;
pub mod judge;
pub mod mcp;
pub mod names;
pub mod outside;
pub mod policy;
pub mod probe;
pub mod regex;
pub mod respond;
pub mod sort;
pub mod sse;
pub mod stream;
pub mod toolslist;

#[cfg(target_arch = "wasm32")]
mod host;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator::new();

/// The environment is empty. wasi-libc's `getenv` builds `environ` (2.6 KB
/// of the .wasm) for std's panic and allocation-failure hooks to read
/// `RUST_BACKTRACE`. The filter reads no environment (a proxy-wasm host
/// gives a plugin none unless told to), so this `getenv` takes libc's place
/// and finds nothing. (dlmalloc stays linked: std's backtrace printer
/// reaches it through `getcwd`, which cannot be replaced the same way; the
/// filter's own allocations never call it, `alloc`.)
#[cfg(target_arch = "wasm32")]
#[no_mangle]
extern "C" fn getenv(_name: *const core::ffi::c_char) -> *mut core::ffi::c_char {
    core::ptr::null_mut()
}

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    host::start();
}}
