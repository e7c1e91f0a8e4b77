//! One VM: a wasm instance with its own store, as Envoy runs one per worker
//! thread. It drives the guest's exports and applies Envoy's stream rules
//! (holding, buffering, releasing, local replies) to the state in
//! [`HostState`].

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use wasmtime::{Instance, Store, Val};

use crate::memory::{status, Pairs};
use crate::state::{CallResponse, HostState, StreamState};
use crate::stream::Stream;
use crate::types::{Action, GrpcCall, HttpCall};
use crate::Plugin;

/// The fuel a metered VM starts with: more than any test can burn.
const FUEL_TANK: u64 = u64::MAX / 2;

/// A running instance of the plugin (one Envoy worker's VM).
///
/// Create it with [`Plugin::new_vm`], start it with [`Vm::configure`], then
/// open streams with [`Vm::stream`]. `Vm` is `Send`: VMs of one plugin can
/// run on different threads and share shared data, metrics and the clock.
///
/// If the guest traps (a Rust panic in the filter), the call returns `Err`
/// and the VM is poisoned: every later call returns `Err` too, as a failed
/// VM in Envoy fails every later request.
pub struct Vm {
    plugin: Arc<Plugin>,
    pub(crate) store: Store<HostState>,
    instance: Instance,
    poisoned: Option<String>,
    initialized: bool,
    root_created: bool,
    configured: Option<bool>,
    allow_on_headers_stop_iteration: bool,
    encode_local_replies: bool,
}

fn to_pairs(headers: &[(&str, &str)]) -> Pairs {
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn flag(b: bool) -> i32 {
    i32::from(b)
}

/// Lengths and counts passed to the guest are u32 in the ABI.
fn len(n: usize) -> i32 {
    n as u32 as i32
}

impl Vm {
    pub(crate) fn new(plugin: Arc<Plugin>) -> Result<Self> {
        let mut store = Store::new(plugin.engine(), HostState::new(plugin.shared.clone()));
        if plugin.meters_fuel() {
            // A metered store starts empty; fill it so nothing ever runs out, and
            // count what was burnt (see `fuel_consumed`).
            store
                .set_fuel(FUEL_TANK)
                .map_err(|e| anyhow!("setting fuel: {e:?}"))?;
        }
        let instance = plugin
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| anyhow!("instantiating the module failed: {e:?}"))?;
        Ok(Self {
            plugin,
            store,
            instance,
            poisoned: None,
            initialized: false,
            root_created: false,
            configured: None,
            allow_on_headers_stop_iteration: true,
            encode_local_replies: true,
        })
    }

    // ------------------------------------------------------------------
    // configuration and options
    // ------------------------------------------------------------------

    /// Starts the plugin as Envoy does: `_initialize` (if exported, once),
    /// `proxy_on_context_create(root_id, 0)` and `proxy_on_vm_start` (once),
    /// then `proxy_on_configure(root_id, len)` with `plugin_config` readable
    /// through buffer type 7 during that call only.
    ///
    /// Returns what `proxy_on_configure` returned (`true` = accepted; a missing
    /// export counts as accepted). A `proxy_on_vm_start` returning false also
    /// gives `Ok(false)`. May be called again to reconfigure.
    pub fn configure(&mut self, plugin_config: &str) -> Result<bool> {
        let root = self.root_context_id();
        if !self.initialized {
            self.initialized = true;
            self.call(0, "_initialize", &[])?;
        }
        if !self.root_created {
            self.root_created = true;
            self.call(root, "proxy_on_context_create", &[len(root as usize), 0])?;
            let vm_config_len = self.store.data().vm_config.len();
            let started = self.call(
                root,
                "proxy_on_vm_start",
                &[len(root as usize), len(vm_config_len)],
            )?;
            self.after_call()?;
            if started == Some(0) {
                self.configured = Some(false);
                return Ok(false);
            }
        }
        self.store.data_mut().plugin_config = Some(plugin_config.as_bytes().to_vec());
        let result = self.call(
            root,
            "proxy_on_configure",
            &[len(root as usize), len(plugin_config.len())],
        );
        self.store.data_mut().plugin_config = None;
        let accepted = result?.is_none_or(|v| v != 0);
        self.after_call()?;
        self.configured = Some(accepted);
        Ok(accepted)
    }

    /// Sets the VM configuration (buffer type 6, `vm_config_size` of
    /// `proxy_on_vm_start`). Call before [`configure`](Self::configure). Empty by default.
    pub fn set_vm_configuration(&mut self, bytes: &[u8]) {
        self.store.data_mut().vm_config = bytes.to_vec();
    }

    /// Makes `proxy_get_property(path)` return `value` in every context of this
    /// VM (stream properties set with [`Stream::set_property`] take precedence).
    /// `plugin_name`, `plugin_root_id` and `plugin_vm_id` default to `mcp_policy`.
    pub fn set_property(&mut self, path: &[&str], value: &[u8]) {
        let path = path.iter().map(|s| s.to_string()).collect();
        self.store
            .data_mut()
            .root_properties
            .insert(path, value.to_vec());
    }

    /// Like [`Stream::set_property_json`], for every context of this VM.
    pub fn set_property_json(&mut self, path: &[&str], value: serde_json::Value) {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let trees = &mut self.store.data_mut().root_trees;
        trees.retain(|(p, _)| *p != path);
        trees.push((path, value));
    }

    /// Makes `proxy_http_call` to cluster `upstream` fail with `BadArgument`, as
    /// Envoy does for a cluster it does not know.
    pub fn reject_upstream(&mut self, upstream: &str) {
        self.store
            .data_mut()
            .rejected_upstreams
            .insert(upstream.to_string());
    }

    /// Emulates the plugin option `allow_on_headers_stop_iteration` (default
    /// `true`, as the project's Envoy config sets it). With `false`, a Pause
    /// from `on_request_headers` becomes StopAllIteration: the body and trailer
    /// callbacks are not called (the request hangs) until the filter calls
    /// `proxy_continue_stream`.
    pub fn set_allow_on_headers_stop_iteration(&mut self, allow: bool) {
        self.allow_on_headers_stop_iteration = allow;
    }

    /// Whether a local reply sent while handling the request is passed through
    /// the filter's own response callbacks, as Envoy's filter chain does
    /// (default `true`). See [`Stream::downstream_response`].
    pub fn set_local_reply_encoding(&mut self, on: bool) {
        self.encode_local_replies = on;
    }

    /// The value `proxy_get_log_level` reports (0 trace .. 5 critical; default 0).
    pub fn set_log_level(&mut self, level: u32) {
        self.store.data_mut().log_level = level;
    }

    // ------------------------------------------------------------------
    // inspection
    // ------------------------------------------------------------------

    /// The plugin this VM belongs to.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The root context id (always 1).
    pub fn root_context_id(&self) -> u32 {
        self.store.data().root_id
    }

    /// Every log line so far: `(level, message)`, level 0 trace, 1 debug,
    /// 2 info, 3 warn, 4 error, 5 critical. WASI stdout/stderr writes appear as
    /// info/error lines, as in Envoy.
    pub fn logs(&self) -> Vec<(u32, String)> {
        self.store.data().logs.clone()
    }

    /// Returns the log lines so far and forgets them.
    pub fn take_logs(&mut self) -> Vec<(u32, String)> {
        std::mem::take(&mut self.store.data_mut().logs)
    }

    /// Whether any log line so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.store
            .data()
            .logs
            .iter()
            .any(|(_, m)| m.contains(needle))
    }

    /// The fuel the guest has burnt in this VM so far (every call since the VM
    /// was created), if the plugin was loaded with
    /// [`Plugin::load_with_fuel`]; `None` otherwise. Take the difference of
    /// two readings to cost one piece of work.
    pub fn fuel_consumed(&self) -> Option<u64> {
        if !self.plugin.meters_fuel() {
            return None;
        }
        self.store.get_fuel().ok().map(|left| FUEL_TANK - left)
    }

    /// Starts (or stops) keeping a fuel trace: every export the harness calls
    /// and every import the guest calls, with the fuel left at that moment.
    /// [`take_fuel_trace`](Self::take_fuel_trace) returns the guest's work
    /// between consecutive marks.
    pub fn trace_fuel(&mut self, on: bool) {
        self.store.data_mut().fuel_trace = on.then(Vec::new);
    }

    /// The fuel trace so far as (mark, fuel burnt since the previous mark),
    /// emptied.
    pub fn take_fuel_trace(&mut self) -> Vec<(String, u64)> {
        let trace = self
            .store
            .data_mut()
            .fuel_trace
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(trace.len());
        let mut prev: Option<u64> = None;
        for (name, left) in trace {
            let burnt = prev.map_or(0, |p| p.saturating_sub(left));
            out.push((name, burnt));
            prev = Some(left);
        }
        out
    }

    /// The period the filter set with `proxy_set_tick_period_milliseconds` (0 = none).
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }

    /// Outgoing HTTP calls not answered yet, by token order.
    pub fn http_calls(&self) -> Vec<HttpCall> {
        self.store.data().http_calls.values().cloned().collect()
    }

    /// Outgoing unary gRPC calls not answered yet, by token order.
    pub fn grpc_calls(&self) -> Vec<GrpcCall> {
        self.store.data().grpc_calls.values().cloned().collect()
    }

    /// How many times the guest called `proxy_done`.
    pub fn done_calls(&self) -> u32 {
        self.store.data().done_calls
    }

    /// `Some(reason)` once a guest call trapped; the VM then refuses every call.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    // ------------------------------------------------------------------
    // streams and root callbacks
    // ------------------------------------------------------------------

    /// Opens a new HTTP stream: `proxy_on_context_create(new_id, root_id)`.
    ///
    /// # Panics
    /// If [`configure`](Self::configure) was not called or was refused, if the
    /// VM is poisoned, or if the guest traps; use [`try_stream`](Self::try_stream)
    /// to get an `Err` instead.
    pub fn stream(&mut self) -> Stream<'_> {
        match self.try_stream() {
            Ok(s) => s,
            Err(e) => panic!("cannot open a stream: {e:#}"),
        }
    }

    /// Like [`stream`](Self::stream), returning an error instead of panicking.
    pub fn try_stream(&mut self) -> Result<Stream<'_>> {
        match self.configured {
            None => bail!("Vm::configure must be called before opening streams"),
            Some(false) => {
                bail!("the plugin refused its configuration; Envoy opens no streams on it")
            }
            Some(true) => {}
        }
        let st = self.store.data_mut();
        let id = st.next_context_id;
        st.next_context_id += 1;
        st.streams.insert(id, StreamState::default());
        let root = st.root_id;
        if let Err(e) = self.call(
            id,
            "proxy_on_context_create",
            &[len(id as usize), len(root as usize)],
        ) {
            self.store.data_mut().streams.remove(&id);
            return Err(e);
        }
        self.after_call()?;
        Ok(Stream::new(self, id))
    }

    /// Re-attaches to a stream left open with [`Stream::detach`].
    pub fn resume_stream(&mut self, id: u32) -> Result<Stream<'_>> {
        if !self.store.data().streams.contains_key(&id) {
            bail!("no open stream with context id {id}");
        }
        Ok(Stream::new(self, id))
    }

    /// Calls `proxy_on_tick(root_id)`.
    pub fn tick(&mut self) -> Result<()> {
        let root = self.root_context_id();
        self.call(root, "proxy_on_tick", &[len(root as usize)])?;
        self.after_call()
    }

    /// Calls `proxy_on_queue_ready(root_id, queue_id)` (the harness never
    /// calls it by itself).
    pub fn queue_ready(&mut self, queue_id: u32) -> Result<()> {
        let root = self.root_context_id();
        self.call(
            root,
            "proxy_on_queue_ready",
            &[len(root as usize), queue_id as i32],
        )?;
        self.after_call()
    }

    /// Answers the pending HTTP call `token`: `headers` should include
    /// `:status`. As in Envoy the callback goes to the root context
    /// (`proxy_on_http_call_response(root_id, token, n_headers, body_size, 0)`;
    /// the SDK then switches to the context that made the call), the response
    /// is readable through map types 6/7 and buffer type 4 during it, and
    /// `proxy_get_status` reports 0.
    pub fn http_call_response(
        &mut self,
        token: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        if self.store.data_mut().http_calls.remove(&token).is_none() {
            bail!("no pending http call with token {token}");
        }
        let st = self.store.data_mut();
        st.http_response = Some(CallResponse {
            headers: to_pairs(headers),
            body: body.to_vec(),
            trailers: Vec::new(),
        });
        st.status = (0, Vec::new());
        let root = st.root_id;
        let r = self.call(
            root,
            "proxy_on_http_call_response",
            &[
                len(root as usize),
                token as i32,
                len(headers.len()),
                len(body.len()),
                0,
            ],
        );
        self.store.data_mut().http_response = None;
        r?;
        self.after_call()
    }

    /// Fails the pending HTTP call `token` as Envoy does on a reset:
    /// `proxy_on_http_call_response(root_id, token, 0, 0, 0)` with
    /// `proxy_get_status` reporting BrokenConnection (11) "reset". (A timeout
    /// or an unreachable cluster is an ordinary response in Envoy: 504/503.)
    pub fn http_call_failure(&mut self, token: u32) -> Result<()> {
        if self.store.data_mut().http_calls.remove(&token).is_none() {
            bail!("no pending http call with token {token}");
        }
        let st = self.store.data_mut();
        st.status = (status::BROKEN_CONNECTION as u32, b"reset".to_vec());
        let root = st.root_id;
        let r = self.call(
            root,
            "proxy_on_http_call_response",
            &[len(root as usize), token as i32, 0, 0, 0],
        );
        self.store.data_mut().status = (0, Vec::new());
        r?;
        self.after_call()
    }

    /// Delivers the reply message of the pending unary gRPC call `token`:
    /// `proxy_on_grpc_receive(root_id, token, size)` with the message in buffer
    /// type 5. The call is then complete (Envoy does not call close after it).
    pub fn grpc_receive(&mut self, token: u32, message: &[u8]) -> Result<()> {
        if self.store.data_mut().grpc_calls.remove(&token).is_none() {
            bail!("no pending grpc call with token {token}");
        }
        let st = self.store.data_mut();
        st.grpc_receive = Some(message.to_vec());
        st.status = (0, Vec::new());
        let root = st.root_id;
        let r = self.call(
            root,
            "proxy_on_grpc_receive",
            &[len(root as usize), token as i32, len(message.len())],
        );
        self.store.data_mut().grpc_receive = None;
        r?;
        self.after_call()
    }

    /// Fails the pending gRPC call `token` with gRPC status `status` (e.g. 14
    /// UNAVAILABLE, 4 DEADLINE_EXCEEDED): `proxy_on_grpc_close(root_id, token,
    /// status)`, with `proxy_get_status` reporting it.
    pub fn grpc_close(&mut self, token: u32, status: u32) -> Result<()> {
        if self.store.data_mut().grpc_calls.remove(&token).is_none() {
            bail!("no pending grpc call with token {token}");
        }
        let st = self.store.data_mut();
        st.status = (status, Vec::new());
        let root = st.root_id;
        let r = self.call(
            root,
            "proxy_on_grpc_close",
            &[len(root as usize), token as i32, status as i32],
        );
        self.store.data_mut().status = (0, Vec::new());
        r?;
        self.after_call()
    }

    // ------------------------------------------------------------------
    // guest calls
    // ------------------------------------------------------------------

    /// Calls export `name` with context `ctx` current. `Ok(None)` if the
    /// export does not exist or returns nothing. A trap poisons the VM.
    pub(crate) fn call(&mut self, ctx: u32, name: &str, args: &[i32]) -> Result<Option<i64>> {
        if let Some(reason) = &self.poisoned {
            bail!("VM is poisoned by an earlier trap, refusing to call {name}: {reason}");
        }
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            return Ok(None);
        };
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            bail!(
                "export {name} takes {} parameters, the ABI passes {}",
                ty.params().len(),
                args.len()
            );
        }
        let params: Vec<Val> = ty
            .params()
            .zip(args)
            .map(|(t, a)| match t {
                wasmtime::ValType::I64 => Val::I64(i64::from(*a as u32)),
                _ => Val::I32(*a),
            })
            .collect();
        let mut results = vec![Val::I32(0); ty.results().len()];
        let left = self.store.get_fuel().unwrap_or(0);
        let st = self.store.data_mut();
        st.current = ctx;
        st.effective = 0;
        if let Some(t) = st.fuel_trace.as_mut() {
            t.push((format!("> {name}"), left));
        }
        let log_mark = st.logs.len();
        let outcome = func.call(&mut self.store, &params, &mut results);
        let left = self.store.get_fuel().unwrap_or(0);
        if let Some(t) = self.store.data_mut().fuel_trace.as_mut() {
            t.push((format!("< {name}"), left));
        }
        let st = self.store.data_mut();
        st.current = 0;
        st.effective = 0;
        match outcome {
            Ok(()) => Ok(results.first().map(|v| match v {
                Val::I32(x) => i64::from(*x),
                Val::I64(x) => *x,
                _ => 0,
            })),
            Err(e) => {
                let mut msg = format!("guest trapped in {name}{args:?}: {e:?}");
                let guest_said: Vec<&str> = st.logs[log_mark..]
                    .iter()
                    .filter(|(level, _)| *level >= 3)
                    .map(|(_, m)| m.as_str())
                    .collect();
                if !guest_said.is_empty() {
                    msg.push_str("\nguest log during the call:\n  ");
                    msg.push_str(&guest_said.join("\n  "));
                }
                self.poisoned = Some(msg.clone());
                Err(anyhow!(msg))
            }
        }
    }

    /// Runs what Envoy defers until a VM call returns: `proxy_continue_stream`
    /// releases, and the trip of a local reply through the response callbacks.
    pub(crate) fn after_call(&mut self) -> Result<()> {
        loop {
            let mut to_encode = None;
            for (id, s) in self.store.data_mut().streams.iter_mut() {
                if s.pending_continue_request {
                    s.pending_continue_request = false;
                    s.release_request();
                }
                if s.pending_continue_response {
                    s.pending_continue_response = false;
                    s.release_response();
                }
                if s.local_reply_to_encode && to_encode.is_none() {
                    s.local_reply_to_encode = false;
                    to_encode = Some(*id);
                }
            }
            match to_encode {
                Some(id) if self.encode_local_replies => self.encode_local_reply(id)?,
                Some(_) => {}
                None => return Ok(()),
            }
        }
    }

    /// Sends a local reply through the filter's response callbacks, as Envoy's
    /// `sendLocalReply` sends it through the encoder filter chain.
    fn encode_local_reply(&mut self, id: u32) -> Result<()> {
        let Some(lr) = self.stream_state(id)?.local_response.clone() else {
            return Ok(());
        };
        let mut headers: Pairs = vec![(":status".into(), lr.status.to_string())];
        headers.extend(lr.headers.iter().cloned());
        if !lr.body.is_empty() {
            headers.push(("content-length".into(), lr.body.len().to_string()));
            if !headers.iter().any(|(k, _)| k == "content-type") {
                headers.push(("content-type".into(), "text/plain".into()));
            }
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.response_headers(id, &headers, lr.body.is_empty())?;
        if !lr.body.is_empty() {
            self.response_body(id, &lr.body, true)?;
        }
        Ok(())
    }

    pub(crate) fn stream_state(&mut self, id: u32) -> Result<&mut StreamState> {
        self.store
            .data_mut()
            .streams
            .get_mut(&id)
            .with_context(|| format!("stream {id} is closed"))
    }

    pub(crate) fn stream_state_ref(&self, id: u32) -> Option<&StreamState> {
        self.store.data().streams.get(&id)
    }

    fn headers_block_body(&self, s: &StreamState) -> bool {
        !self.allow_on_headers_stop_iteration && s.req_headers_held
    }

    pub(crate) fn request_headers(
        &mut self,
        id: u32,
        headers: &[(&str, &str)],
        eos: bool,
    ) -> Result<Action> {
        let s = self.stream_state(id)?;
        s.req_headers = to_pairs(headers);
        s.req_headers_live = true;
        s.req_headers_seen = true;
        let r = self.call(
            id,
            "proxy_on_request_headers",
            &[len(id as usize), len(headers.len()), flag(eos)],
        )?;
        let action = r.map_or(Action::Continue, Action::from_abi);
        let s = self.stream_state(id)?;
        match action {
            Action::Continue => {
                s.req_headers_live = false;
                s.release_request();
            }
            Action::Pause => s.req_headers_held = s.upstream.is_none(),
        }
        self.after_call()?;
        Ok(action)
    }

    pub(crate) fn request_body(&mut self, id: u32, chunk: &[u8], eos: bool) -> Result<Action> {
        let blocked = {
            let s = self.stream_state(id)?;
            if !s.req_headers_seen {
                bail!("request_body before request_headers");
            }
            s.req_body.extend_from_slice(chunk);
            let s = self.stream_state_ref(id).expect("stream exists");
            self.headers_block_body(s)
        };
        if blocked {
            return Ok(Action::Pause);
        }
        let size = self.stream_state(id)?.req_body.len();
        let r = self.call(
            id,
            "proxy_on_request_body",
            &[len(id as usize), len(size), flag(eos)],
        )?;
        let action = r.map_or(Action::Continue, Action::from_abi);
        if action == Action::Continue {
            self.stream_state(id)?.release_request();
        }
        self.after_call()?;
        Ok(action)
    }

    pub(crate) fn request_trailers(
        &mut self,
        id: u32,
        trailers: &[(&str, &str)],
    ) -> Result<Action> {
        let blocked = {
            let s = self.stream_state(id)?;
            if !s.req_headers_seen {
                bail!("request_trailers before request_headers");
            }
            s.req_trailers = to_pairs(trailers);
            s.req_trailers_live = true;
            s.req_trailers_held = true;
            let s = self.stream_state_ref(id).expect("stream exists");
            self.headers_block_body(s)
        };
        if blocked {
            return Ok(Action::Pause);
        }
        let r = self.call(
            id,
            "proxy_on_request_trailers",
            &[len(id as usize), len(trailers.len())],
        )?;
        let action = r.map_or(Action::Continue, Action::from_abi);
        if action == Action::Continue {
            let s = self.stream_state(id)?;
            s.req_trailers_live = false;
            s.release_request();
        }
        self.after_call()?;
        Ok(action)
    }

    pub(crate) fn response_headers(
        &mut self,
        id: u32,
        headers: &[(&str, &str)],
        eos: bool,
    ) -> Result<Action> {
        let s = self.stream_state(id)?;
        s.resp_headers = to_pairs(headers);
        s.resp_headers_live = true;
        s.resp_started = true;
        let r = self.call(
            id,
            "proxy_on_response_headers",
            &[len(id as usize), len(headers.len()), flag(eos)],
        )?;
        let action = r.map_or(Action::Continue, Action::from_abi);
        if action == Action::Continue {
            let s = self.stream_state(id)?;
            s.resp_headers_live = false;
            s.release_response();
        }
        self.after_call()?;
        Ok(action)
    }

    pub(crate) fn response_body(&mut self, id: u32, chunk: &[u8], eos: bool) -> Result<Action> {
        let s = self.stream_state(id)?;
        if !s.resp_started {
            bail!("response_body before response_headers");
        }
        s.resp_body.extend_from_slice(chunk);
        let size = s.resp_body.len();
        let r = self.call(
            id,
            "proxy_on_response_body",
            &[len(id as usize), len(size), flag(eos)],
        )?;
        let action = r.map_or(Action::Continue, Action::from_abi);
        if action == Action::Continue {
            self.stream_state(id)?.release_response();
        }
        self.after_call()?;
        Ok(action)
    }

    pub(crate) fn response_trailers(
        &mut self,
        id: u32,
        trailers: &[(&str, &str)],
    ) -> Result<Action> {
        let s = self.stream_state(id)?;
        if !s.resp_started {
            bail!("response_trailers before response_headers");
        }
        s.resp_trailers = to_pairs(trailers);
        s.resp_trailers_live = true;
        s.resp_trailers_held = true;
        let r = self.call(
            id,
            "proxy_on_response_trailers",
            &[len(id as usize), len(trailers.len())],
        )?;
        let action = r.map_or(Action::Continue, Action::from_abi);
        if action == Action::Continue {
            let s = self.stream_state(id)?;
            s.resp_trailers_live = false;
            s.release_response();
        }
        self.after_call()?;
        Ok(action)
    }

    pub(crate) fn log_stream(&mut self, id: u32) -> Result<()> {
        self.stream_state(id)?.in_log = true;
        let r = self.call(id, "proxy_on_log", &[len(id as usize)]);
        if let Ok(s) = self.stream_state(id) {
            s.in_log = false;
        }
        r?;
        self.after_call()
    }

    pub(crate) fn finish_stream(&mut self, id: u32) -> Result<()> {
        self.stream_state(id)?;
        let done = self.call(id, "proxy_on_done", &[len(id as usize)]);
        let deleted = done.and_then(|_| self.call(id, "proxy_on_delete", &[len(id as usize)]));
        self.store.data_mut().streams.remove(&id);
        deleted?;
        self.after_call()
    }
}
