//! The proxy-wasm shell: the only module that talks to the host.
//!
//! Owns: the root context (`root`: read the configuration, refuse to start on
//! any error, define the metrics), what it makes for every stream (`plugin`:
//! the configuration, metric ids, shared-data counter cells), the HTTP
//! context (`http`: hand each callback, and each outside answer, to the pure
//! `stream::Stream`, implementing its `Host` with real host calls), the raw
//! calls (`abi`), and the panic hook. Built only for wasm32.

mod abi;
mod http;
mod plugin;
mod root;

/// Called once when the module is instantiated.
pub fn start() {
    // A panic traps the VM; say why at critical level first, so the cause is
    // in Envoy's log and not only a "wasm trap".
    std::panic::set_hook(Box::new(|info| {
        abi::log(
            abi::LogLevel::Critical,
            &format!("mcp_policy panicked: {info}"),
        );
    }));
    proxy_wasm::set_root_context(|_| Box::new(root::Root::default()));
}
