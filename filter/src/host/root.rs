//! The root context: reads the configuration (refusing to start on any
//! error), defines the metrics, and gives every stream of this VM the
//! resulting `Plugin`.

use super::abi::{self, LogLevel};
use super::http::Http;
use super::plugin::{Metrics, Plugin, SharedCells};
use crate::config::Config;
use crate::engine::counters::CasStore;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::rc::Rc;

#[derive(Default)]
pub struct Root {
    plugin: Option<Rc<Plugin>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let text = abi::buffer(abi::PLUGIN_CONFIGURATION, 0, plugin_configuration_size)
            .unwrap_or_default();
        match Config::parse(&text) {
            Ok(config) => {
                for w in &config.warnings {
                    abi::log(
                        LogLevel::Warn,
                        &format!("mcp_policy: configuration warning: {w}"),
                    );
                }
                let mut store = CasStore::new(SharedCells);
                if let Err(e) = store.prepare() {
                    abi::log(
                        LogLevel::Error,
                        &format!("mcp_policy: shared data unavailable: {e}"),
                    );
                    return false;
                }
                let metrics = Metrics::define(&config);
                let policies = config.policies.len();
                let name = abi::property(&["plugin_name"])
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                self.plugin = Some(Rc::new(Plugin {
                    config,
                    metrics,
                    name,
                }));
                abi::log(
                    LogLevel::Info,
                    &format!(
                        "mcp_policy: configuration accepted ({policies} polic{})",
                        if policies == 1 { "y" } else { "ies" }
                    ),
                );
                true
            }
            Err(errors) => {
                // Nothing runs with a half-understood policy: refuse, and
                // say everything that is wrong.
                for e in &errors {
                    abi::log(
                        LogLevel::Critical,
                        &format!("mcp_policy: configuration error: {e}"),
                    );
                }
                abi::log(
                    LogLevel::Critical,
                    &format!(
                        "mcp_policy: configuration refused ({} error{})",
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    ),
                );
                if let Some(id) = abi::define_counter("mcp_policy.config.errors") {
                    abi::increment(id, i64::try_from(errors.len()).unwrap_or(1));
                }
                self.plugin = None;
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Always a context (the SDK traps on None); without a configuration
        // it refuses every request.
        Some(Box::new(Http::new(self.plugin.clone())))
    }
}
