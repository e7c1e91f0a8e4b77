//! Cost of the real `mcp_policy.wasm` per decision, in the wasmtime harness.
//!
//! ```text
//! cargo run --release -p mcp-policy-host-tests --bin cost -- \
//!     [--wasm target/wasm32-wasip1/release/mcp_policy.wasm] [--config PLUGIN.json] \
//!     [--json OUT.json] [--quick] [--profile N]
//! ```
//!
//! `--trace [KIB]` prints where the fuel of one allowed exchange (1 KiB, or KIB) goes, between
//! consecutive host calls (each import the filter calls, each callback).
//!
//! `--profile N` only runs N allowed 1 KiB exchanges on one warm VM, for
//! `MCP_POLICY_PERFMAP=1 perf record -g cost --profile N` (build the `.wasm` with
//! `CARGO_PROFILE_RELEASE_STRIP=false` to keep function names).
//!
//! Three measurements, printed as tables (and written to `--json`):
//!
//! 1. **Fuel per decision** by body size (~100 B, 1 KiB, 64 KiB, 1 MiB) and by
//!    policy size (1, 100, 1000 generated tools). Fuel is wasmtime's metering:
//!    about one unit per wasm instruction executed, plus one per byte moved by
//!    `memory.copy`/`memory.fill`. It does not depend on the machine or its load.
//!    "decision" is what the filter does from the new stream context to its
//!    verdict (`on_context_create`, `on_request_headers`, `on_request_body` with
//!    the whole body); "exchange" adds the response (a 200 JSON-RPC result, as
//!    the direct response), `on_log`, `on_done` and `on_delete`.
//! 2. **Wall-clock time** of a decision (same calls, unmetered code compiled by
//!    wasmtime/Cranelift, not Envoy's V8), median of several runs, including the
//!    harness's host work (copying the body in, as Envoy does).
//! 3. **Scale**: 1, 1 000 and 100 000 distinct identities (`x-agent-id`), each
//!    calling a tool with a per-grant limit: the shared-data bytes (sum of key and
//!    value lengths) per identity, decisions per second while the identities are
//!    first seen (counter keys created) and on their next calls (keys updated),
//!    and the fuel per decision at that scale.
//!
//! The benchmarked configuration comes from `--config` (scripts/bench.sh passes the
//! 83-tool GitHub policy the Envoy benchmark uses); without it a generated 83-tool
//! policy with the same shape is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use mcp_policy_host_tests::{Action, Plugin, Vm};
use serde_json::{json, Value};

const TOOL: &str = "issue_write";
const AGENT_HEADER: &str = "x-agent-id";
const AGENT: &str = "bench-agent-1";
const DIRECT_RESPONSE: &str =
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}"#;
const MAX_LIMIT: u64 = 1_000_000_000_000;
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

struct Args {
    wasm: PathBuf,
    config: Option<PathBuf>,
    json: Option<PathBuf>,
    quick: bool,
    /// Only run this many 1 KiB exchanges, for a profiler (see `--profile`).
    profile: Option<usize>,
    /// Only print the fuel trace of one warm exchange of this many KiB
    /// (`--trace [KIB]`, 1 by default).
    trace: Option<usize>,
}

fn usage() -> ! {
    eprintln!(
        "usage: cost [--wasm PATH] [--config PLUGIN.json] [--json OUT.json] [--quick] [--profile N] [--trace [KIB]]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut args = Args {
        wasm: std::env::var_os("MCP_POLICY_WASM")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/wasm32-wasip1/release/mcp_policy.wasm")),
        config: None,
        json: None,
        quick: false,
        profile: None,
        trace: None,
    };
    let mut it = std::env::args().skip(1).peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--wasm" => args.wasm = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--config" => {
                args.config = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage()))
            }
            "--json" => args.json = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--quick" => args.quick = true,
            "--trace" => {
                let kib = it.peek().and_then(|n| n.parse().ok());
                if kib.is_some() {
                    it.next();
                }
                args.trace = Some(kib.unwrap_or(1));
            }
            "--profile" => {
                args.profile = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    args
}

// ------------------------------------------------------------------------------------
// requests and policies
// ------------------------------------------------------------------------------------

/// A `tools/call` of `tool`, `size` bytes long (or the smallest such call if `size`
/// is smaller), the padding in a string argument.
fn call_body(tool: &str, size: usize) -> Vec<u8> {
    let make = |pad: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": tool,
            "arguments": {"repo": "widgets", "body": pad}}})
        .to_string()
    };
    let empty = make("").len();
    let sentence = "Steps to reproduce: run the nightly pipeline on an arm64 runner; ";
    let need = size.saturating_sub(empty);
    let pad: String = sentence.chars().cycle().take(need).collect();
    let body = make(&pad);
    debug_assert_eq!(body.len(), size.max(empty));
    body.into_bytes()
}

fn tool_entry() -> Value {
    json!({
        "require": [{"conditions": [{"path": "args.repo", "op": "regex",
                                      "value": "^[a-z0-9][a-z0-9._-]*$"}],
                     "on_deny": "repo must be a plain lower-case repository name"}],
        "limits": [{"counter": "calls", "window": "minute", "max": MAX_LIMIT, "scope": "grant"}]
    })
}

/// `n` tools like the benchmarked one (a regex `require` and a per-grant limit);
/// `called` is one of them.
fn generated_policy(n: usize, called: &str) -> Value {
    let mut tools = serde_json::Map::new();
    for i in 0..n.saturating_sub(1) {
        tools.insert(format!("tool_{i:04}"), tool_entry());
    }
    tools.insert(called.to_string(), tool_entry());
    json!({"version": "1", "default": "deny", "tools": tools})
}

fn plugin_config(policy: Value) -> String {
    json!({
        "policy": policy,
        "identity": [{"header": AGENT_HEADER}],
        "mcp": {"paths": ["/mcp"], "max_body_bytes": MIB},
        "audit": {"log": true, "arguments": "keys"}
    })
    .to_string()
}

/// An 83-tool policy like the benchmark's, with parts switched off, to see what
/// each part of a decision costs.
fn ablation_config(require: bool, limit: bool, audit: bool) -> String {
    let mut tool = tool_entry();
    if !require {
        tool.as_object_mut().map(|o| o.remove("require"));
    }
    if !limit {
        tool.as_object_mut().map(|o| o.remove("limits"));
    }
    let mut policy = generated_policy(83, TOOL);
    policy["tools"][TOOL] = tool;
    json!({
        "policy": policy,
        "identity": [{"header": AGENT_HEADER}],
        "mcp": {"paths": ["/mcp"], "max_body_bytes": MIB},
        "audit": {"log": audit, "arguments": "keys"}
    })
    .to_string()
}

/// The configuration the body-size table uses: `--config`, or a generated
/// 83-tool policy. Its `max_body_bytes` is raised to 1 MiB if lower.
fn bench_config(args: &Args) -> Result<(String, String)> {
    match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let mut v: Value = serde_json::from_str(&text)?;
            if let Some(obj) = v.as_object_mut() {
                let mcp = obj.entry("mcp").or_insert_with(|| json!({}));
                mcp["max_body_bytes"] = json!(MIB);
            }
            Ok((v.to_string(), format!("{}", p.display())))
        }
        None => Ok((
            plugin_config(generated_policy(83, TOOL)),
            "generated: 83 tools, default deny, require regex + per-grant limit on each".into(),
        )),
    }
}

// ------------------------------------------------------------------------------------
// one exchange
// ------------------------------------------------------------------------------------

/// Fuel (or nanoseconds) spent by one exchange, step by step.
#[derive(Clone, Copy, Default)]
struct Steps {
    /// `on_context_create`, `on_request_headers`, `on_request_body`(s): the verdict.
    decision: u64,
    /// Everything, through `on_delete`.
    exchange: u64,
    /// Each step: context, request headers, request body, response headers,
    /// response body, log, done + delete.
    each: [u64; 7],
}

const STEP_NAMES: [&str; 7] = [
    "on_context_create",
    "on_request_headers",
    "on_request_body",
    "on_response_headers",
    "on_response_body",
    "on_log",
    "on_done + on_delete",
];

/// The request headers as the filter sees them in Envoy (which adds
/// `x-request-id`).
fn headers(agent: &str) -> [(&str, &str); 7] {
    [
        (":method", "POST"),
        (":path", "/mcp"),
        (":authority", "mcp.example"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        (AGENT_HEADER, agent),
        ("x-request-id", "0b6e2f4c-7d1a-4c3e-9f7b-2a5d8e1c6b30"),
    ]
}

/// One allowed `tools/call`, as Envoy drives the filter; `meter` reads a running
/// counter (fuel or a clock). `chunk` splits the body as Envoy's reads would.
fn exchange(
    vm: &mut Vm,
    agent: &str,
    body: &[u8],
    chunk: usize,
    meter: &dyn Fn(&Vm) -> u64,
) -> Result<Steps> {
    let mut marks = [0u64; 8];
    marks[0] = meter(vm);
    let mut s = vm.try_stream()?;
    marks[1] = meter(s.vm());
    if s.request_headers(&headers(agent), false)? != Action::Pause {
        bail!("the filter did not hold the headers");
    }
    marks[2] = meter(s.vm());
    let mut action = Action::Pause;
    let mut chunks = body.chunks(chunk.max(1)).peekable();
    while let Some(c) = chunks.next() {
        action = s.request_body(c, chunks.peek().is_none())?;
    }
    marks[3] = meter(s.vm());
    if let Some(reply) = s.local_response() {
        bail!(
            "the call was refused: {} {}",
            reply.status,
            reply.body_str()
        );
    }
    if action != Action::Continue || s.upstream_request().is_none() {
        bail!("the call was not released");
    }
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )?;
    marks[4] = meter(s.vm());
    s.response_body(DIRECT_RESPONSE.as_bytes(), true)?;
    marks[5] = meter(s.vm());
    s.log()?;
    marks[6] = meter(s.vm());
    s.finish()?;
    marks[7] = meter(vm);
    // Audit lines pile up in the harness; Envoy would have written them out.
    vm.take_logs();
    let mut each = [0u64; 7];
    for (i, e) in each.iter_mut().enumerate() {
        *e = marks[i + 1] - marks[i];
    }
    Ok(Steps {
        decision: marks[3] - marks[0],
        exchange: marks[7] - marks[0],
        each,
    })
}

fn fuel(vm: &Vm) -> u64 {
    vm.fuel_consumed().unwrap_or(0)
}

fn configured(plugin: &Arc<Plugin>, config: &str) -> Result<Vm> {
    let mut vm = plugin.new_vm()?;
    vm.set_log_level(2); // info, as Envoy's wasm component in the benchmark
    if !vm.configure(config)? {
        bail!("configuration refused: {:?}", vm.logs());
    }
    Ok(vm)
}

/// Fuel of one decision in steady state (a first exchange warms the VM up; the
/// figure is the third, whose counter already exists).
fn fuel_of(plugin: &Arc<Plugin>, config: &str, body: &[u8], chunk: usize) -> Result<Steps> {
    let mut vm = configured(&plugin.with_fresh_state(), config)?;
    let mut last = Steps::default();
    for _ in 0..3 {
        last = exchange(&mut vm, AGENT, body, chunk, &fuel)?;
    }
    Ok(last)
}

struct Timing {
    median: Duration,
    p90: Duration,
    runs: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Wall-clock time of the decision part, over `runs` exchanges after a warm-up.
fn time_of(
    plugin: &Arc<Plugin>,
    config: &str,
    body: &[u8],
    chunk: usize,
    runs: usize,
) -> Result<(Timing, Timing)> {
    let mut vm = configured(&plugin.with_fresh_state(), config)?;
    let epoch = Instant::now();
    let clock = move |_: &Vm| epoch.elapsed().as_nanos() as u64;
    for _ in 0..runs.div_ceil(4).max(2) {
        exchange(&mut vm, AGENT, body, chunk, &clock)?;
    }
    let mut decision = Vec::with_capacity(runs);
    let mut whole = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = exchange(&mut vm, AGENT, body, chunk, &clock)?;
        decision.push(Duration::from_nanos(s.decision));
        whole.push(Duration::from_nanos(s.exchange));
    }
    decision.sort();
    whole.sort();
    let t = |v: &[Duration]| Timing {
        median: percentile(v, 0.5),
        p90: percentile(v, 0.9),
        runs,
    };
    Ok((t(&decision), t(&whole)))
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn size_label(n: usize) -> String {
    if n >= MIB && n / MIB * MIB == n {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n / KIB * KIB == n {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} B")
    }
}

// ------------------------------------------------------------------------------------
// scale
// ------------------------------------------------------------------------------------

fn shared_bytes(plugin: &Plugin) -> (usize, usize) {
    let data = plugin.shared_data();
    let bytes = data.iter().map(|(k, (v, _))| k.len() + v.len()).sum();
    (data.len(), bytes)
}

struct ScaleRow {
    identities: usize,
    keys: usize,
    bytes: usize,
    first_calls_per_s: f64,
    next_calls_per_s: f64,
    next_calls: usize,
    fuel_first: u64,
    fuel_next: u64,
}

fn agent_name(i: usize) -> String {
    format!("agent-{i:06}")
}

fn scale_row(
    timed: &Arc<Plugin>,
    metered: &Arc<Plugin>,
    config: &str,
    body: &[u8],
    n: usize,
    min_next: usize,
) -> Result<ScaleRow> {
    let plugin = timed.with_fresh_state();
    let mut vm = configured(&plugin, config)?;
    let clock0 = Instant::now();
    let clock = move |_: &Vm| clock0.elapsed().as_nanos() as u64;
    let (_, base_bytes) = shared_bytes(&plugin);
    let (base_keys, _) = shared_bytes(&plugin);
    let agents: Vec<String> = (0..n).map(agent_name).collect();
    // First call of each identity: creates its counter key.
    let t = Instant::now();
    for a in &agents {
        exchange(&mut vm, a, body, usize::MAX, &clock)?;
    }
    let first = t.elapsed();
    let (keys, bytes) = shared_bytes(&plugin);
    // Next calls, round robin over the identities (their keys exist).
    let next_calls = n.max(min_next);
    let t = Instant::now();
    for i in 0..next_calls {
        exchange(&mut vm, &agents[i % n], body, usize::MAX, &clock)?;
    }
    let next = t.elapsed();

    // Fuel at this scale: a metered VM over a copy of the same shared data.
    let m = metered.with_fresh_state();
    for (k, (v, _)) in plugin.shared_data() {
        m.set_shared_data(&k, &v);
    }
    let mut mvm = configured(&m, config)?;
    let fresh = agent_name(n); // an identity not seen yet
    exchange(&mut mvm, &agents[0], body, usize::MAX, &fuel)?; // warm-up
    let fuel_first = exchange(&mut mvm, &fresh, body, usize::MAX, &fuel)?.decision;
    let fuel_next = exchange(&mut mvm, &agents[n / 2], body, usize::MAX, &fuel)?.decision;
    Ok(ScaleRow {
        identities: n,
        keys: keys - base_keys,
        bytes: bytes - base_bytes,
        first_calls_per_s: n as f64 / first.as_secs_f64(),
        next_calls_per_s: next_calls as f64 / next.as_secs_f64(),
        next_calls,
        fuel_first,
        fuel_next,
    })
}

// ------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------

/// Fuel of one whole exchange of `body` and what became of it: a local
/// reply ends it, else `response` (JSON) answers it.
fn other_exchange_fuel(vm: &mut Vm, body: &str, response: &str) -> Result<(u64, String)> {
    let start = fuel(vm);
    let mut s = vm.try_stream()?;
    s.request_headers(&headers(AGENT), false)?;
    s.request_body(body.as_bytes(), true)?;
    let mut outcome = "forwarded".to_string();
    if let Some(reply) = s.local_response() {
        let v: Value = serde_json::from_slice(reply.body_str().as_bytes()).unwrap_or(Value::Null);
        let decision = v["result"]["_meta"]["decision"]
            .as_str()
            .or(v["error"]["data"]["decision"].as_str())
            .unwrap_or("?")
            .to_string();
        outcome = format!("answered: {decision}");
    } else {
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )?;
        s.response_body(response.as_bytes(), true)?;
        let seen = s.downstream_response();
        let v: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
        if let Some(tools) = v["result"]["tools"].as_array() {
            outcome = format!("forwarded, {} tools shown", tools.len());
        }
    }
    s.log()?;
    s.finish()?;
    vm.take_logs();
    Ok((fuel(vm) - start, outcome))
}

/// A `tools/list` answer of five tools, as a real server writes one
/// (description, input schema), two of which the policy hides.
fn five_tool_list() -> String {
    let tool = |name: &str| {
        json!({"name": name, "description": format!("{name}: does one thing on a repository"),
               "inputSchema": {"type": "object", "properties": {
                   "repo": {"type": "string"}, "title": {"type": "string"}},
                   "required": ["repo"]}})
    };
    json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
        tool(TOOL), tool("tool_0001"), tool("tool_0002"), tool("delete_repo"), tool("admin_reset")]}})
    .to_string()
}

fn main() -> Result<()> {
    let args = parse_args();
    if !args.wasm.is_file() {
        bail!(
            "{} is missing: cargo build --release --target wasm32-wasip1 -p mcp-policy-filter",
            args.wasm.display()
        );
    }
    if let Some(kib) = args.trace {
        let plugin = Plugin::load_with_fuel(&args.wasm)?;
        let (config, _) = bench_config(&args)?;
        let mut vm = configured(&plugin, &config)?;
        let body = call_body(TOOL, kib * KIB);
        // COST_TRACE_LIST=1: a 5-tool tools/list exchange instead.
        let list = std::env::var_os("COST_TRACE_LIST").is_some();
        let list_request = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let run = |vm: &mut Vm| -> Result<()> {
            if list {
                other_exchange_fuel(vm, list_request, &five_tool_list()).map(|_| ())
            } else {
                exchange(vm, AGENT, &body, usize::MAX, &|_| 0).map(|_| ())
            }
        };
        // Warm: counter keys exist, caches are filled.
        run(&mut vm)?;
        vm.trace_fuel(true);
        run(&mut vm)?;
        let trace = vm.take_fuel_trace();
        vm.trace_fuel(false);
        let total: u64 = trace.iter().map(|(_, f)| f).sum();
        println!("Fuel of one allowed {kib} KiB exchange, by the host call that ends each stretch of guest work");
        for (mark, fuel) in &trace {
            println!("{fuel:>8}  {mark}");
        }
        println!("{total:>8}  total");
        return Ok(());
    }
    if let Some(n) = args.profile {
        // For `MCP_POLICY_PERFMAP=1 perf record -g cost --profile N`: nothing but
        // allowed 1 KiB calls on one warm VM.
        let plugin = Plugin::load(&args.wasm)?;
        let (config, _) = bench_config(&args)?;
        let mut vm = configured(&plugin, &config)?;
        let body = call_body(TOOL, KIB);
        let t = Instant::now();
        for _ in 0..n {
            exchange(&mut vm, AGENT, &body, usize::MAX, &|_| 0)?;
        }
        println!("{n} exchanges in {:.2} s", t.elapsed().as_secs_f64());
        return Ok(());
    }
    let wasm_bytes = std::fs::metadata(&args.wasm)?.len();
    let metered = Plugin::load_with_fuel(&args.wasm)?;
    let timed = Plugin::load(&args.wasm)?;
    let (config, config_label) = bench_config(&args)?;
    let mut out = serde_json::Map::new();
    out.insert("wasm".into(), json!(args.wasm.display().to_string()));
    out.insert("wasm_bytes".into(), json!(wasm_bytes));
    out.insert("config".into(), json!(config_label));
    println!(
        "mcp_policy.wasm: {} ({} bytes = {:.0} KiB)",
        args.wasm.display(),
        wasm_bytes,
        wasm_bytes as f64 / 1024.0
    );
    println!("configuration: {config_label}");

    // 1 + 2: by body size
    let sizes = [100, KIB, 64 * KIB, MIB];
    println!();
    println!("Cost of one allowed tools/call by body size (fuel = wasm instructions + bytes moved by memory.copy/fill; deterministic)");
    println!(
        "{:>8} {:>14} {:>10} {:>14}   {:>12} {:>10} {:>12}",
        "body",
        "decision fuel",
        "fuel/byte",
        "exchange fuel",
        "decision us",
        "p90 us",
        "exchange us"
    );
    println!(
        "{:>8} {:>14} {:>10} {:>14}   {:>36}",
        "", "", "", "", "(wall clock, wasmtime, median)"
    );
    let mut rows = Vec::new();
    for &size in &sizes {
        let body = call_body(TOOL, size);
        let f = fuel_of(&metered, &config, &body, usize::MAX)?;
        let runs = if args.quick {
            5
        } else if size >= MIB {
            30
        } else if size >= 64 * KIB {
            200
        } else {
            2000
        };
        let (d, x) = time_of(&timed, &config, &body, usize::MAX, runs)?;
        println!(
            "{:>8} {:>14} {:>10.2} {:>14}   {:>12.1} {:>10.1} {:>12.1}",
            size_label(body.len()),
            f.decision,
            f.decision as f64 / body.len() as f64,
            f.exchange,
            us(d.median),
            us(d.p90),
            us(x.median)
        );
        rows.push(
            json!({"body_bytes": body.len(), "decision_fuel": f.decision,
            "exchange_fuel": f.exchange, "decision_us_median": us(d.median),
            "decision_us_p90": us(d.p90), "exchange_us_median": us(x.median), "runs": d.runs}),
        );
    }
    // 1 MiB as Envoy delivers it: in chunks, the filter called on each.
    let big = call_body(TOOL, MIB);
    let chunk = 64 * KIB;
    let f = fuel_of(&metered, &config, &big, chunk)?;
    let (d, _) = time_of(
        &timed,
        &config,
        &big,
        chunk,
        if args.quick { 5 } else { 30 },
    )?;
    println!(
        "{:>8} {:>14} {:>10.2} {:>14}   {:>12.1} {:>10.1}   (in {} chunks of 64 KiB)",
        "1 MiB",
        f.decision,
        f.decision as f64 / big.len() as f64,
        f.exchange,
        us(d.median),
        us(d.p90),
        big.len().div_ceil(chunk)
    );
    let one_mib_ms = us(d.median).max(rows[3]["decision_us_median"].as_f64().unwrap_or(0.0)) / 1e3;
    rows.push(json!({"body_bytes": big.len(), "chunk_bytes": chunk, "decision_fuel": f.decision,
        "exchange_fuel": f.exchange, "decision_us_median": us(d.median), "decision_us_p90": us(d.p90)}));
    out.insert("by_body_size".into(), json!(rows));
    println!(
        "1 MiB decision, wall clock in wasmtime (Cranelift), NOT Envoy's V8: {:.2} ms median (SPEC: <= 2 ms) -> {}",
        one_mib_ms,
        if one_mib_ms <= 2.0 { "holds" } else { "FAILS" }
    );
    out.insert("one_mib_decision_ms_wasmtime".into(), json!(one_mib_ms));

    // where the fuel of a 1 KiB decision goes
    let body = call_body(TOOL, KIB);
    let f = fuel_of(&metered, &config, &body, usize::MAX)?;
    println!();
    println!("Fuel of one allowed 1 KiB tools/call, by callback (same configuration)");
    let mut steps = serde_json::Map::new();
    for (name, v) in STEP_NAMES.iter().zip(f.each) {
        println!("  {name:<22} {v:>10}");
        steps.insert((*name).into(), json!(v));
    }
    out.insert("by_callback_1kib".into(), Value::Object(steps));
    println!();
    println!("Decision fuel of a 1 KiB call, parts switched off (generated 83-tool policy)");
    let mut rows = Vec::new();
    for (label, require, limit, audit) in [
        ("require + limit + audit (as benchmarked)", true, true, true),
        ("no audit log", true, true, false),
        ("no limit (no shared-data counter)", true, false, true),
        ("no require (no regex)", false, true, true),
        ("tool only listed, no audit", false, false, false),
    ] {
        let f = fuel_of(
            &metered,
            &ablation_config(require, limit, audit),
            &body,
            usize::MAX,
        )?;
        println!("  {label:<42} {:>10} {:>10}", f.decision, f.exchange);
        rows.push(
            json!({"variant": label, "decision_fuel": f.decision, "exchange_fuel": f.exchange}),
        );
    }
    out.insert("ablation_1kib".into(), json!(rows));

    // a tools/list exchange, and calls that are not forwarded
    println!();
    println!("Fuel of other exchanges, warm (generated 83-tool policy; the 1 KiB call's is above)");
    let mut rows = Vec::new();
    {
        let config = ablation_config(true, true, true);
        let mut vm = configured(&metered.with_fresh_state(), &config)?;
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let mut last = (0, String::new());
        for _ in 0..3 {
            last = other_exchange_fuel(&mut vm, list, &five_tool_list())?;
        }
        println!(
            "  {:<42} {:>10}  ({})",
            "tools/list, 5 tools answered, 2 cut", last.0, last.1
        );
        rows.push(json!({"exchange": "tools_list_5", "fuel": last.0}));
        let denied = String::from_utf8(call_body("not_in_policy", KIB)).unwrap_or_default();
        for _ in 0..3 {
            last = other_exchange_fuel(&mut vm, &denied, DIRECT_RESPONSE)?;
        }
        println!(
            "  {:<42} {:>10}  ({})",
            "1 KiB call of a tool the policy denies", last.0, last.1
        );
        rows.push(json!({"exchange": "denied_1kib", "fuel": last.0}));
    }
    {
        let mut policy = generated_policy(83, TOOL);
        policy["tools"][TOOL]["limits"][0]["max"] = json!(1);
        let mut vm = configured(&metered.with_fresh_state(), &plugin_config(policy))?;
        let body = String::from_utf8(call_body(TOOL, KIB)).unwrap_or_default();
        let mut last = (0, String::new());
        for _ in 0..3 {
            last = other_exchange_fuel(&mut vm, &body, DIRECT_RESPONSE)?;
        }
        println!(
            "  {:<42} {:>10}  ({})",
            "1 KiB call over its rate limit", last.0, last.1
        );
        rows.push(json!({"exchange": "rate_limited_1kib", "fuel": last.0}));
    }
    out.insert("other_exchanges".into(), json!(rows));

    // a regex on the big argument itself
    println!();
    println!("A regex condition on the padded argument (require args.body matches ^[A-Za-z0-9 :;,.-]*$; regex-lite)");
    println!(
        "{:>8} {:>14} {:>14} {:>12}",
        "body", "decision fuel", "fuel/byte", "decision us"
    );
    let mut regex_policy = generated_policy(1, TOOL);
    regex_policy["tools"][TOOL]["require"] = json!([{"conditions": [
        {"path": "args.body", "op": "regex", "value": "^[A-Za-z0-9 :;,.-]*$"}]}]);
    let regex_config = plugin_config(regex_policy);
    let mut rows = Vec::new();
    // A regex reads at most 4096 bytes of input (REGEX_MAX_INPUT); a longer argument
    // fails the condition without running it, so 4 KiB is the worst case.
    for size in [KIB, 4 * KIB] {
        let body = call_body(TOOL, size);
        let f = fuel_of(&metered, &regex_config, &body, usize::MAX)?;
        let runs = if args.quick { 3 } else { 20 };
        let (d, _) = time_of(&timed, &regex_config, &body, usize::MAX, runs)?;
        println!(
            "{:>8} {:>14} {:>14.1} {:>12.1}",
            size_label(body.len()),
            f.decision,
            f.decision as f64 / body.len() as f64,
            us(d.median)
        );
        rows.push(
            json!({"body_bytes": body.len(), "decision_fuel": f.decision,
            "decision_us_median": us(d.median)}),
        );
    }
    println!("  (a longer argument is refused by the condition without running the regex)");
    out.insert("regex_on_argument".into(), json!(rows));

    // 1: by policy size
    println!();
    println!("Cost of one allowed 1 KiB tools/call by policy size (generated tools, each with a regex require and a per-grant limit)");
    println!(
        "{:>7} {:>14} {:>14} {:>12}   {:>16} {:>12}",
        "tools", "decision fuel", "exchange fuel", "decision us", "configure fuel", "configure ms"
    );
    let mut rows = Vec::new();
    for n in [1usize, 100, 1000] {
        let called = if n == 1 {
            TOOL.to_string()
        } else {
            format!("tool_{:04}", n / 2)
        };
        let config = plugin_config(generated_policy(n, &called));
        let body = call_body(&called, KIB);
        let f = fuel_of(&metered, &config, &body, usize::MAX)?;
        let (d, _) = time_of(
            &timed,
            &config,
            &body,
            usize::MAX,
            if args.quick { 50 } else { 2000 },
        )?;
        // Configuration: fuel and time of on_vm_start + on_configure.
        let mut vm = metered.new_vm()?;
        let before = fuel(&vm);
        if !vm.configure(&config)? {
            bail!("configuration of {n} tools refused");
        }
        let configure_fuel = fuel(&vm) - before;
        let mut vm = timed.new_vm()?;
        let t = Instant::now();
        vm.configure(&config)?;
        let configure_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:>7} {:>14} {:>14} {:>12.1}   {:>16} {:>12.2}",
            n,
            f.decision,
            f.exchange,
            us(d.median),
            configure_fuel,
            configure_ms
        );
        rows.push(
            json!({"tools": n, "decision_fuel": f.decision, "exchange_fuel": f.exchange,
            "decision_us_median": us(d.median), "configure_fuel": configure_fuel,
            "configure_ms": configure_ms, "config_bytes": config.len()}),
        );
    }
    out.insert("by_policy_size".into(), json!(rows));

    // 3: scale
    println!();
    println!("Scale: distinct identities, each calling a tool with a per-grant limit (1 KiB calls, one VM, wasmtime)");
    println!(
        "{:>10} {:>8} {:>12} {:>10}   {:>14} {:>14}   {:>12} {:>12}",
        "identities",
        "keys",
        "shared bytes",
        "bytes/id",
        "first calls/s",
        "next calls/s",
        "fuel first",
        "fuel next"
    );
    let scale_config = plugin_config(json!({"version": "1", "default": "deny",
        "tools": {TOOL: tool_entry()}}));
    let body = call_body(TOOL, KIB);
    let sizes: &[usize] = if args.quick {
        &[1, 1000, 10_000]
    } else {
        &[1, 1000, 100_000]
    };
    let mut rows = Vec::new();
    for &n in sizes {
        let r = scale_row(&timed, &metered, &scale_config, &body, n, 20_000)?;
        // One first call is too short to time.
        let first = if r.identities >= 100 {
            format!("{:.0}", r.first_calls_per_s)
        } else {
            "-".into()
        };
        println!(
            "{:>10} {:>8} {:>12} {:>10.1}   {:>14} {:>14.0}   {:>12} {:>12}",
            r.identities,
            r.keys,
            r.bytes,
            r.bytes as f64 / r.identities as f64,
            first,
            r.next_calls_per_s,
            r.fuel_first,
            r.fuel_next
        );
        rows.push(
            json!({"identities": r.identities, "keys": r.keys, "shared_bytes": r.bytes,
            "bytes_per_identity": r.bytes as f64 / r.identities as f64,
            "first_calls_per_s": r.first_calls_per_s, "next_calls_per_s": r.next_calls_per_s,
            "next_calls": r.next_calls, "fuel_first_call": r.fuel_first,
            "fuel_next_call": r.fuel_next}),
        );
    }
    println!("(first calls create each identity's counter key; next calls update it; fuel is for one decision at that scale)");
    out.insert("scale".into(), json!(rows));

    if let Some(p) = &args.json {
        std::fs::write(p, serde_json::to_string_pretty(&Value::Object(out))? + "\n")
            .with_context(|| format!("writing {}", p.display()))?;
        println!("\nresults written to {}", p.display());
    }
    Ok(())
}
