//! The root context: configuration and metrics, shared by every stream of
//! this VM.

use super::abi::{self, LogLevel};
use super::http::Http;
use crate::config::Config;
use crate::decision::Verdict;
use crate::engine::counters::{CasCells, CasStore};
use crate::names::Names;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::rc::Rc;

/// A validated configuration and the metric ids that go with it.
pub struct Plugin {
    pub config: Config,
    pub metrics: Metrics,
    /// The plugin's `name` in the Envoy configuration: part of the default
    /// counter namespace.
    pub name: String,
}

/// Metric ids. Names come only from the configuration, never from requests,
/// so their number is bounded by the policy.
#[derive(Default)]
pub struct Metrics {
    pub decisions: [Option<u32>; 5],
    /// Tool name -> (allowed, blocked).
    pub tools: Names<(Option<u32>, Option<u32>)>,
    /// Calls of tools no policy names.
    pub other_tools: (Option<u32>, Option<u32>),
    pub cas_retries: Option<u32>,
    pub rollbacks: Option<u32>,
    pub approval_errors: Option<u32>,
}

pub const VERDICTS: [Verdict; 5] = [
    Verdict::Allow,
    Verdict::ApprovalPending,
    Verdict::RateLimited,
    Verdict::Deny,
    Verdict::Invalid,
];

impl Metrics {
    fn define(config: &Config) -> Metrics {
        let mut m = Metrics::default();
        for (slot, verdict) in m.decisions.iter_mut().zip(VERDICTS) {
            *slot = abi::define_counter(&format!("mcp_policy.decision.{}", verdict.label()));
        }
        let tool_pair = |name: &str| {
            let name = metric_safe(name);
            (
                abi::define_counter(&format!("mcp_policy.tool.{name}.allowed")),
                abi::define_counter(&format!("mcp_policy.tool.{name}.blocked")),
            )
        };
        // Every tool a policy names: listed, or hidden (calls to a hidden
        // tool are worth seeing by name).
        for (_, policy) in &config.policies {
            for tool in policy.tools.keys().chain(policy.hidden.keys()) {
                if !m.tools.contains_key(tool) {
                    m.tools.insert(tool.to_owned(), tool_pair(tool));
                }
            }
        }
        // Defined with the others so it reads 0 until a reload is refused.
        abi::define_counter("mcp_policy.config.errors");
        m.other_tools = tool_pair("_other");
        m.cas_retries = abi::define_counter("mcp_policy.counter.cas_retries");
        m.rollbacks = abi::define_counter("mcp_policy.counter.rollbacks");
        m.approval_errors = abi::define_counter("mcp_policy.approval.errors");
        m
    }
}

/// Stats names are dot-separated: keep tool names to one plain segment.
fn metric_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Shared data as the counter store's cells.
pub struct SharedCells;

impl CasCells for SharedCells {
    fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, String> {
        abi::shared_get(key)
    }
    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<bool, String> {
        abi::shared_set(key, value, cas)
    }
}

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
