//! The one policy model that both policy forms desugar into.
//!
//! Owns: the types the engine judges with (`Policy`, `Tool`, `Check`,
//! `Condition`, `Counter`) and reading a policy document into them
//! (`read`), whichever form it is written in: PolicyLayer
//! (`require`/`deny_if`/`limits`/`hide`/`all_tools`) or Intercept
//! (`rules` with `action`/`conditions`/`state`/`rate_limit`, `"*"`), and the
//! extensions of both (`action`, `reason`, `rate_limit`, `scope`). Every
//! element keeps the JSON pointer of the text it came from, so a decision can
//! name the rule that made it.
//!
//! Does not own: judging (`engine`), grants and identity (`config`).

mod condition;
mod read;

pub use condition::{read_condition, ArgPath, Condition, Subject, Test};
pub use read::{read_policy, GLOBAL};

use crate::json::Num;
use crate::names::Names;

/// A validated policy, ready to judge calls.
#[derive(Debug)]
pub struct Policy {
    pub default: Posture,
    /// Whether `default` was written (absent means allow, with a warning).
    pub default_explicit: bool,
    /// `hide: "*"` (or `["*"]`): pointer of the entry.
    pub hide_all: Option<String>,
    /// Hidden tool name -> pointer of its `hide` entry.
    pub hidden: Names<String>,
    pub tools: Names<Tool>,
    /// `"*"` rules and `all_tools` limits: apply to every call of a listed
    /// tool (and of any tool under `default: allow`).
    pub wildcard: Tool,
    /// Every counter of the policy; tools and conditions refer to them by index.
    pub counters: Vec<Counter>,
    /// Hex SHA-256 of the policy document as configured (compact JSON).
    pub sha256: String,
    /// Whether the configuration names an approval service: then a
    /// `require_approval` tool can run, once a person approves the call.
    pub can_approve: bool,
}

/// What happens to a tool the policy does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posture {
    Allow,
    Deny,
}

/// Everything a policy says about one tool (or about all tools, for `"*"`).
#[derive(Debug, Default)]
pub struct Tool {
    pub pointer: String,
    pub action: Option<Action>,
    /// Rules, `deny_if` and `require` items, in evaluation order.
    pub checks: Vec<Check>,
    /// Counters every allowed call of this tool adds to (indices into
    /// `Policy::counters`).
    pub counters: Vec<usize>,
}

/// A tool-level `action`, or an Intercept rule with `action: deny`.
#[derive(Debug, Clone)]
pub struct Action {
    pub kind: ActionKind,
    pub reason: Option<String>,
    pub pointer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Allow,
    Deny,
    RequireApproval,
}

/// One rule or item that can deny a call.
#[derive(Debug)]
pub struct Check {
    pub kind: CheckKind,
    pub name: Option<String>,
    pub conditions: Vec<Condition>,
    /// The `on_deny` text shown to the agent.
    pub message: Option<String>,
    pub pointer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// Intercept `action: deny`: denies unconditionally.
    Deny,
    /// Intercept `evaluate` rule or PolicyLayer `require`: denies unless
    /// every condition holds.
    Require,
    /// PolicyLayer `deny_if`: denies when every condition holds.
    DenyIf,
}

/// A counter: a limit, an Intercept `state` block or a `rate_limit`.
#[derive(Debug)]
pub struct Counter {
    pub name: String,
    /// The tool it belongs to, or `_global` for `"*"` and `all_tools`.
    pub namespace: String,
    pub window: Window,
    pub scope: Scope,
    pub increment: Increment,
    /// The counter may not pass this (limits and `rate_limit`); `state`
    /// counters are bounded by the conditions that read them instead.
    pub max: Option<Num>,
    /// The `on_deny` text of the limit or rule that defined it.
    pub message: Option<String>,
    pub pointer: String,
    /// Where it is written in the configuration (a JSON path), for errors
    /// found once the whole configuration is read.
    pub path: String,
    /// Stable prefix of the counter's store key: the same counter keeps its
    /// count across a configuration reload.
    pub key_prefix: String,
    /// Who counts it: this proxy's shared data, or the fleet's Rate Limit
    /// Service (SPEC §7.1).
    pub backend: Backend,
}

/// Where a counter is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Proxy-wasm shared data: one Envoy process (the default).
    #[default]
    Local,
    /// `"backend": "rls"`: Envoy's Rate Limit Service, shared by a fleet.
    Rls,
}

/// Fixed windows aligned to the epoch: `minute`, `hour` and `day` are the
/// UTC calendar ones, since Unix time has no leap seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Minute,
    Hour,
    Day,
    Seconds(u64),
}

impl Window {
    pub fn length_ms(self) -> u64 {
        match self {
            Window::Minute => 60_000,
            Window::Hour => 3_600_000,
            Window::Day => 86_400_000,
            Window::Seconds(s) => s.saturating_mul(1000).max(1),
        }
    }

    pub fn label(self) -> String {
        match self {
            Window::Minute => "minute".into(),
            Window::Hour => "hour".into(),
            Window::Day => "day".into(),
            Window::Seconds(s) => format!("{s}s"),
        }
    }
}

/// Whose calls a counter counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Per caller identity (the default).
    Grant,
    /// Per `Mcp-Session-Id`.
    Session,
    /// Every caller of the policy.
    Global,
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Grant => "grant",
            Scope::Session => "session",
            Scope::Global => "global",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Increment {
    By(Num),
    /// `increment_from`: the number at this argument path.
    From(ArgPath),
}

impl Policy {
    /// Whether `tool` may appear in the caller's `tools/list`: not when it is
    /// hidden, unlisted under `default: deny`, or denied unconditionally.
    /// `require_approval` counts as a denial while the filter has no
    /// approval service (SPEC §7.2): such a call can never run.
    pub fn lists(&self, tool: &str) -> bool {
        if self.hide_all.is_some() || self.hidden.contains_key(tool) {
            return false;
        }
        let entry = self.tools.get(tool);
        if entry.is_none() && self.default == Posture::Deny {
            return false;
        }
        let denies = |t: &Tool| {
            t.action.as_ref().is_some_and(|a| {
                a.kind == ActionKind::Deny
                    || (a.kind == ActionKind::RequireApproval && !self.can_approve)
            }) || t.checks.iter().any(|c| c.kind == CheckKind::Deny)
        };
        !(entry.is_some_and(denies) || denies(&self.wildcard))
    }
}

#[cfg(test)]
mod tests;
