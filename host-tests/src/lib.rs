//! A wasmtime host of the proxy-wasm ABI v0.2.1 that loads the real
//! `mcp_policy.wasm` and drives it the way Envoy does, so tests can check the
//! filter without an Envoy.
//!
//! ```no_run
//! use mcp_policy_host_tests::{Action, Plugin};
//!
//! let plugin = Plugin::load_default()?;        // builds the filter once per process
//! let mut vm = plugin.new_vm()?;
//! assert!(vm.configure(r#"{"policy": {"version": "1", "tools": {}}}"#)?);
//! let mut s = vm.stream();
//! s.request_headers(&[(":method", "POST"), (":path", "/mcp")], false)?;
//! let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
//! let action = s.request_body(body, true)?;
//! if let Some(reply) = s.local_response() {
//!     println!("denied: {} {}", reply.status, reply.body_str());
//! } else {
//!     assert_eq!(action, Action::Continue);
//!     assert_eq!(s.upstream_request().unwrap().body, body);
//! }
//! # anyhow::Ok(())
//! ```
//!
//! # What the harness owns
//!
//! - [`Plugin`]: the compiled module and the process-wide state every VM of
//!   the plugin shares (like one Envoy process): shared data with Envoy's CAS
//!   rules, metrics, shared queues, and a settable clock.
//! - [`Vm`]: one instance with its own store (like one Envoy worker); root
//!   context, configuration, ticks, outgoing HTTP/gRPC calls the test answers,
//!   captured logs. `Send`, so VMs can race on two threads.
//! - [`Stream`]: one HTTP stream context; header maps, body buffering,
//!   holding and releasing, local replies, properties and filter state.
//!
//! # Envoy behaviour emulated
//!
//! - A Pause from `on_request_headers` holds the headers (nothing upstream)
//!   until a body/trailers callback returns Continue or the filter calls
//!   `proxy_continue_stream(0)`; body callbacks still come
//!   (`allow_on_headers_stop_iteration: true`; the `false` behaviour is
//!   available with [`Vm::set_allow_on_headers_stop_iteration`]).
//! - Body callbacks get the size of the whole buffered body; Pause keeps
//!   buffering, Continue releases the buffer. `proxy_set_buffer_bytes`
//!   supports exactly what Envoy supports: prepend, append, replace all.
//! - `proxy_continue_stream` and `proxy_send_local_response` take effect when
//!   the current callback returns (Envoy defers both). After a local reply
//!   nothing more goes upstream; the reply then goes through the filter's own
//!   response callbacks, as Envoy's filter chain does (switchable with
//!   [`Vm::set_local_reply_encoding`]).
//! - Header maps exist only while Envoy lends them: e.g. reading a request
//!   header after `on_request_headers` returned Continue is `BadArgument`
//!   (a panic in the Rust SDK). Names added by the filter are lowercased.
//! - `proxy_http_call` requires `:method`, `:path`, `:authority`; its
//!   response arrives on the root context (the SDK dispatches it to the
//!   stream). Same for gRPC.
//! - Shared data: missing key is NotFound; `cas` 0 writes; a non-zero `cas`
//!   that does not match an existing key's token is CasMismatch (a missing key
//!   is written whatever the `cas`, as in Envoy); every write gets a new token.
//! - Metrics: counters accept only positive increments; histograms cannot be
//!   read back; same name, same id.
//! - `proxy_set_property` stores filter state `wasm.<name>` (NotFound outside
//!   a stream); plugin configuration is readable only during `on_configure`.
//! - Structured properties such as dynamic metadata
//!   ([`Stream::set_dynamic_metadata`]) resolve like Envoy's CEL view of a
//!   protobuf `Struct`: any key below the prefix can be asked for, strings
//!   come back raw, numbers as f64, maps in the pairs encoding.
//! - WASI stdout/stderr become info/error log lines; a guest trap returns
//!   `Err` and poisons the VM. Unknown imports are defined as traps, so a
//!   module loads even if it imports something the harness lacks, but calling
//!   it fails loudly.
//!
//! # What it does not own or emulate
//!
//! It does not build or edit the filter (it only runs `cargo build` for it in
//! [`Plugin::load_default`]), has no network, no router, no real upstream (the
//! test plays the upstream and every called service), no request buffer limit
//! (413), no timers (call [`Vm::tick`]), no gRPC streams beyond bookkeeping,
//! no `on_queue_ready` by itself, no gRPC metadata maps (types 4/5), and no
//! protobuf: a property set with [`Stream::set_property`] is the raw bytes the
//! test gives.

mod abi;
mod memory;
mod shared;
mod state;
mod stream;
mod types;
mod vm;
mod wasi;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, bail, Context as _, Result};
use wasmtime::{Config, Engine, InstancePre, Linker, Module};

pub use memory::{deserialize_pairs, serialize_pairs, split_property_path};
pub use shared::{MetricKind, DEFAULT_START_MS};
pub use stream::Stream;
pub use types::{Action, GrpcCall, HttpCall, LocalResponse, ResponseSeen, Upstream};
pub use vm::Vm;

use shared::Shared;
use state::HostState;

// Vm must move to other threads; Plugin is shared between them.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<Vm>();
    send_sync::<Plugin>();
};

/// Environment variable naming the `.wasm` that [`Plugin::load_default`] loads.
pub const WASM_ENV: &str = "MCP_POLICY_WASM";

/// A compiled module, linked against the host functions, ready to instantiate.
struct Compiled {
    engine: Engine,
    pre: InstancePre<HostState>,
    /// Compiled with fuel metering (see [`Plugin::load_with_fuel`]).
    fuel: bool,
}

fn compile(engine: Engine, module: Module) -> Result<Compiled> {
    let mut linker: Linker<HostState> = Linker::new(&engine);
    abi::add_to_linker(&mut linker).map_err(|e| anyhow!("defining host functions: {e:?}"))?;
    wasi::add_to_linker(&mut linker).map_err(|e| anyhow!("defining WASI functions: {e:?}"))?;
    linker
        .define_unknown_imports_as_traps(&module)
        .map_err(|e| anyhow!("defining unknown imports: {e:?}"))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|e| anyhow!("linking the module: {e:?}"))?;
    let fuel = engine.get_consume_fuel();
    Ok(Compiled { engine, pre, fuel })
}

fn new_engine() -> Result<Engine> {
    new_engine_with(false)
}

/// Environment variable: when set (to anything but `0`), wasmtime writes
/// `/tmp/perf-<pid>.map` so that `perf record` / `perf report` can name the
/// guest's functions (keep the name section in the `.wasm` for useful names).
pub const PERFMAP_ENV: &str = "MCP_POLICY_PERFMAP";

fn new_engine_with(consume_fuel: bool) -> Result<Engine> {
    let mut config = Config::new();
    config.consume_fuel(consume_fuel);
    if std::env::var_os(PERFMAP_ENV).is_some_and(|v| v != "0") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config).map_err(|e| anyhow!("creating the wasmtime engine: {e:?}"))
}

/// A compiled proxy-wasm module plus the process-wide state shared by all
/// its VMs: shared data, metrics, shared queues and the clock.
///
/// Each `Plugin` value has its own shared state, so tests do not see each
/// other's counters; the compiled code is reused.
pub struct Plugin {
    compiled: Arc<Compiled>,
    pub(crate) shared: Arc<Shared>,
    path: Option<PathBuf>,
}

impl Plugin {
    fn with(compiled: Arc<Compiled>, path: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            compiled,
            shared: Arc::new(Shared::new()),
            path,
        })
    }

    /// Compiles the `.wasm` at `wasm_path`.
    pub fn load(wasm_path: &Path) -> Result<Arc<Plugin>> {
        let engine = new_engine()?;
        let module = Module::from_file(&engine, wasm_path)
            .map_err(|e| anyhow!("compiling {}: {e:?}", wasm_path.display()))?;
        Ok(Self::with(
            Arc::new(compile(engine, module)?),
            Some(wasm_path.to_path_buf()),
        ))
    }

    /// Compiles the `.wasm` at `wasm_path` with fuel metering, so that
    /// [`Vm::fuel_consumed`] counts the guest's work: about one unit per wasm
    /// instruction executed (`nop`, `drop` and block markers are free), plus
    /// one per byte moved by `memory.copy`/`memory.fill`. The count does not
    /// depend on the machine or its load, which makes it a deterministic cost
    /// figure; host functions cost nothing. Metered code runs slower, so time
    /// a plugin from [`load`](Self::load) instead.
    pub fn load_with_fuel(wasm_path: &Path) -> Result<Arc<Plugin>> {
        let engine = new_engine_with(true)?;
        let module = Module::from_file(&engine, wasm_path)
            .map_err(|e| anyhow!("compiling {}: {e:?}", wasm_path.display()))?;
        Ok(Self::with(
            Arc::new(compile(engine, module)?),
            Some(wasm_path.to_path_buf()),
        ))
    }

    /// A new `Plugin` running the same compiled code (nothing is recompiled)
    /// with fresh shared data, metrics, queues and clock, as a second Envoy
    /// process would.
    pub fn with_fresh_state(&self) -> Arc<Plugin> {
        Self::with(self.compiled.clone(), self.path.clone())
    }

    /// Whether this plugin was compiled with fuel metering
    /// ([`load_with_fuel`](Self::load_with_fuel)).
    pub fn meters_fuel(&self) -> bool {
        self.compiled.fuel
    }

    /// Compiles a module from bytes: binary wasm or WAT text (handy for
    /// testing the harness itself).
    pub fn from_bytes(wasm_or_wat: &[u8]) -> Result<Arc<Plugin>> {
        let engine = new_engine()?;
        let module =
            Module::new(&engine, wasm_or_wat).map_err(|e| anyhow!("compiling module: {e:?}"))?;
        Ok(Self::with(Arc::new(compile(engine, module)?), None))
    }

    /// Loads the real filter. The `.wasm` is `$MCP_POLICY_WASM` if set
    /// (absolute, or relative to the workspace root); otherwise the filter is
    /// built once per process with `cargo build --release --target
    /// wasm32-wasip1 -p mcp-policy-filter --target-dir <workspace>/target/harness-wasm`
    /// (a separate target dir, because an outer `cargo test` holds the lock
    /// of `target/`) and `<that dir>/wasm32-wasip1/release/mcp_policy.wasm` is
    /// loaded. Compilation is cached for the process; every call returns a
    /// new `Plugin` with fresh shared state.
    pub fn load_default() -> Result<Arc<Plugin>> {
        static DEFAULT: OnceLock<std::result::Result<(PathBuf, Arc<Compiled>), String>> =
            OnceLock::new();
        let cached = DEFAULT.get_or_init(|| {
            let path = default_wasm_path().map_err(|e| format!("{e:#}"))?;
            let engine = new_engine().map_err(|e| format!("{e:#}"))?;
            let module = Module::from_file(&engine, &path)
                .map_err(|e| format!("compiling {}: {e:?}", path.display()))?;
            let compiled = compile(engine, module).map_err(|e| format!("{e:#}"))?;
            Ok((path, Arc::new(compiled)))
        });
        match cached {
            Ok((path, compiled)) => Ok(Self::with(compiled.clone(), Some(path.clone()))),
            Err(e) => bail!("{e}"),
        }
    }

    /// The file this plugin was loaded from, if any.
    pub fn wasm_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.compiled.engine
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<HostState> {
        &self.compiled.pre
    }

    /// A new VM (own store and instance) sharing this plugin's shared data,
    /// metrics and clock. Call [`Vm::configure`] next.
    pub fn new_vm(self: &Arc<Self>) -> Result<Vm> {
        Vm::new(self.clone())
    }

    /// Sets the clock (`proxy_get_current_time_nanoseconds`, WASI clocks) to
    /// `ms` milliseconds since the epoch. It starts at [`DEFAULT_START_MS`]
    /// (2026-01-01T00:00:30Z) and moves only when told to.
    pub fn set_time_ms(&self, ms: u64) {
        self.shared.set_ns(ms.saturating_mul(1_000_000));
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.shared.advance_ns(ms.saturating_mul(1_000_000));
    }

    /// The clock, in milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.shared.now_ns() / 1_000_000
    }

    /// A copy of the shared data: key -> (value, cas token).
    pub fn shared_data(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        self.shared.data_snapshot()
    }

    /// Writes shared data as a guest would with cas 0 (to seed a test).
    pub fn set_shared_data(&self, key: &str, value: &[u8]) {
        self.shared.set_data(key, value, 0);
    }

    /// Every metric defined so far: name -> (kind, value). A histogram's value
    /// is the number of samples recorded; see [`histogram`](Self::histogram).
    pub fn metrics(&self) -> BTreeMap<String, (MetricKind, i64)> {
        self.shared.metrics_snapshot()
    }

    /// One metric's value (0 if never defined).
    pub fn metric(&self, name: &str) -> i64 {
        self.metrics().get(name).map_or(0, |(_, v)| *v)
    }

    /// The samples recorded in histogram `name`.
    pub fn histogram(&self, name: &str) -> Vec<u64> {
        self.shared.histogram_samples(name)
    }
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where [`Plugin::load_default`] gets the `.wasm`, building it if needed.
fn default_wasm_path() -> Result<PathBuf> {
    let root = workspace_root();
    if let Some(p) = std::env::var_os(WASM_ENV) {
        let p = PathBuf::from(p);
        let p = if p.is_relative() && !p.exists() {
            root.join(p)
        } else {
            p
        };
        if !p.is_file() {
            bail!("{WASM_ENV}={} does not name a file", p.display());
        }
        return Ok(p);
    }
    let target_dir = root.join("target").join("harness-wasm");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "mcp-policy-filter",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&root)
        .output()
        .with_context(|| format!("running {cargo:?} to build the filter"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "building the filter failed ({}); set {WASM_ENV} to use a prebuilt .wasm.\n{}",
            output.status,
            tail.join("\n")
        );
    }
    let wasm = target_dir.join("wasm32-wasip1/release/mcp_policy.wasm");
    if !wasm.is_file() {
        bail!("the filter built but {} is missing", wasm.display());
    }
    Ok(wasm)
}
