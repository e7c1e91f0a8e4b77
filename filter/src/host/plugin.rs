//! What the root context makes and every stream uses: the validated
//! configuration with its metric ids (`Plugin`), and shared data as the
//! counter store's cells. Its own module so that `root` (which makes HTTP
//! contexts) and `http` (which uses the plugin) do not import each other.

use super::abi;
use crate::config::Config;
use crate::decision::Verdict;
use crate::engine::counters::CasCells;
use crate::names::Names;

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
    pub rls_errors: Option<u32>,
}

pub const VERDICTS: [Verdict; 5] = [
    Verdict::Allow,
    Verdict::ApprovalPending,
    Verdict::RateLimited,
    Verdict::Deny,
    Verdict::Invalid,
];

impl Metrics {
    pub fn define(config: &Config) -> Metrics {
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
        m.rls_errors = abi::define_counter("mcp_policy.rls.errors");
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
