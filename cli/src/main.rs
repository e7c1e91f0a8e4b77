//! `mcp-policy`: check, explain and convert policies with the filter's own
//! engine, so the command line and the proxy can never disagree.
//!
//! - `check CONFIG`: exit 0 when valid, 1 when not; every error on stderr with
//!   its JSON path, warnings too.
//! - `explain CONFIG REQUEST.json [--grant G] [--session S] [--header K=V]...
//!   [--exit-code]`: the decision of SPEC §6 on stdout, as the filter would
//!   log it for the first such request (counters start empty); on stderr,
//!   which grant and policy judged it. With `--exit-code` the exit status is
//!   the decision's (`EXIT_*`).
//! - `convert POLICY.yaml`: the same policy as JSON, once it validates as
//!   `check` validates it (exit 1 and nothing on stdout when it does not).
//! - `rls-config CONFIG --format limitador|envoy-ratelimit`: the Rate Limit
//!   Service's limits file for the configuration's `"backend": "rls"`
//!   counters (`rls_config`).
//! - `approvals serve --listen ADDR --db FILE --approver NAME=SHA256HEX...`:
//!   the human approval service of SPEC §7.2 (`mcp_policy_approvals`).
//!
//! CONFIG is the filter's JSON configuration or a bare policy; a `.yaml` or
//! `.yml` file is converted first, so Intercept policies check as they are.

mod rls_config;

use clap::{Parser, Subcommand};
use mcp_policy::config::{Caller, Config, RequestFacts};
use mcp_policy::decision::Verdict;
use mcp_policy::engine::counters::MemoryStore;
use mcp_policy::engine::Fleet;
use mcp_policy::json::{Json, Num};
use mcp_policy::judge::{judge_request, refused, Context, Routing};
use mcp_policy::policy::Posture;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mcp-policy",
    version,
    about = "Check, explain and convert MCP tool policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration or policy (exit 0 valid, 1 invalid).
    Check { config: PathBuf },
    /// Print the decision for one JSON-RPC request body.
    Explain {
        config: PathBuf,
        request: PathBuf,
        /// Judge as this grant (instead of naming the caller from headers).
        #[arg(long)]
        grant: Option<String>,
        /// The Mcp-Session-Id.
        #[arg(long)]
        session: Option<String>,
        /// A request header, K=V (repeatable).
        #[arg(long = "header", value_name = "K=V")]
        headers: Vec<String>,
        /// Exit with the decision: 0 allow, 3 approval_pending,
        /// 4 rate_limited, 5 deny, 6 invalid (1 is an error, 2 a usage error).
        #[arg(long)]
        exit_code: bool,
    },
    /// Print an Intercept YAML policy as JSON, if it is valid (exit 1 if not).
    Convert { policy: PathBuf },
    /// The Rate Limit Service's limits file for every counter with
    /// "backend": "rls" (SPEC §7.1), for Limitador or envoyproxy/ratelimit.
    RlsConfig {
        config: PathBuf,
        #[arg(long, value_enum)]
        format: rls_config::Format,
    },
    /// The human approval service (SPEC §7.2).
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Serve the filter's check API and the approvers' web pages until SIGTERM or SIGINT.
    Serve {
        /// Where to listen, HOST:PORT (port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// The SQLite database (created if absent; a restart loses nothing).
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// An approver: a name and the SHA-256 (hex) of their secret token (repeatable).
        #[arg(
            long = "approver",
            value_name = "NAME=SHA256HEX",
            required = true,
            value_parser = mcp_policy_approvals::Approver::parse
        )]
        approvers: Vec<mcp_policy_approvals::Approver>,
        /// Where approvers reach the pages (default: http://ADDR as bound).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Seconds a request waits for a person.
        #[arg(long, value_name = "N", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
        pending_ttl_secs: u64,
        /// Seconds an approval waits for the retry (and a denial keeps applying).
        #[arg(long, value_name = "N", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
        approved_ttl_secs: u64,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { config } => check(&config),
        Command::Explain {
            config,
            request,
            grant,
            session,
            headers,
            exit_code,
        } => explain(
            &config,
            &request,
            grant.as_deref(),
            session,
            &headers,
            exit_code,
        ),
        Command::Convert { policy } => convert(&policy),
        Command::RlsConfig { config, format } => rls_limits(&config, format),
        Command::Approvals {
            command:
                ApprovalsCommand::Serve {
                    listen,
                    db,
                    approvers,
                    public_url,
                    pending_ttl_secs,
                    approved_ttl_secs,
                },
        } => {
            let options = mcp_policy_approvals::Options {
                listen,
                db,
                approvers,
                public_url,
                pending_ttl: std::time::Duration::from_secs(pending_ttl_secs),
                approved_ttl: std::time::Duration::from_secs(approved_ttl_secs),
            };
            match mcp_policy_approvals::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

/// `explain --exit-code`: the exit status of each decision. 1 and 2 stay
/// what they are for every command (an error; a usage error, from clap).
const EXIT_APPROVAL_PENDING: u8 = 3;
const EXIT_RATE_LIMITED: u8 = 4;
const EXIT_DENY: u8 = 5;
const EXIT_INVALID: u8 = 6;

/// `rls-config`: the limits file on stdout, or why it cannot be written.
fn rls_limits(path: &Path, format: rls_config::Format) -> ExitCode {
    let config = match load(path) {
        Ok((_, Ok(config))) => config,
        Ok((_, Err(errors))) => return report_invalid(path, &errors),
        Err(message) => return fail(&message),
    };
    match rls_config::render(&config, format) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(errors) => report_invalid(path, &errors),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("mcp-policy: {message}");
    ExitCode::FAILURE
}

/// Reads CONFIG, converting YAML; `Err` is a message for stderr. With the
/// configuration, the JSON text it was read from.
fn load(path: &Path) -> Result<(String, Result<Config, Vec<String>>), String> {
    let text = if is_yaml(path) {
        serde_json::to_string(&yaml_to_json(path)?).map_err(|e| e.to_string())?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    };
    let config = Config::parse(text.as_bytes())
        .map_err(|errors| errors.iter().map(ToString::to_string).collect());
    Ok((text, config))
}

/// Prints every error, and the verdict, on stderr.
fn report_invalid(path: &Path, errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!(
        "{}: invalid ({} error{})",
        path.display(),
        errors.len(),
        plural(errors.len())
    );
    ExitCode::FAILURE
}

/// The configuration's warnings, and the CLI's own: a policy that hides
/// tools under `default: allow`.
fn warnings(text: &str, config: &Config) -> Vec<String> {
    let mut out: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    // Where the one policy sits: the document itself, or its `policy`.
    let wrapped = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("policy").is_some());
    for (name, policy) in &config.policies {
        let hides = policy.hide_all.is_some() || !policy.hidden.is_empty();
        if !hides || policy.default != Posture::Allow {
            continue;
        }
        let at = match (name.as_str(), wrapped) {
            ("", false) => "hide".to_owned(),
            ("", true) => "policy.hide".to_owned(),
            (name, _) => format!("policies.{name}.hide"),
        };
        out.push(format!(
            "{at}: tools are hidden under \"default\": \"allow\": a call of a tool the server \
             does not have goes to the server, which answers it in its own words, so an agent \
             can tell a hidden tool from a missing one; with \"default\": \"deny\" the filter \
             answers both alike"
        ));
    }
    out
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Err(e) => fail(&e),
        Ok((_, Err(errors))) => report_invalid(path, &errors),
        Ok((text, Ok(config))) => {
            for w in warnings(&text, &config) {
                eprintln!("warning: {w}");
            }
            let tools: usize = config.policies.iter().map(|(_, p)| p.tools.len()).sum();
            println!(
                "{}: valid ({} polic{}, {tools} tool{}, {} grant{})",
                path.display(),
                config.policies.len(),
                if config.policies.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                plural(tools),
                config.grants.len(),
                plural(config.grants.len()),
            );
            ExitCode::SUCCESS
        }
    }
}

/// `convert`: the YAML as JSON, only once it validates (as `check` would
/// say), so a converted policy never hides an error until it is loaded.
fn convert(path: &Path) -> ExitCode {
    let json = match yaml_to_json(path) {
        Ok(json) => json,
        Err(e) => return fail(&e),
    };
    let text = match serde_json::to_string(&json) {
        Ok(text) => text,
        Err(e) => return fail(&e.to_string()),
    };
    match Config::parse(text.as_bytes()) {
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            report_invalid(path, &errors)
        }
        Ok(config) => {
            for w in warnings(&text, &config) {
                eprintln!("warning: {w}");
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

struct Headers(HashMap<String, String>);

impl RequestFacts for Headers {
    fn header(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.0
            .get(name)
            .map(|v| std::borrow::Cow::Borrowed(v.as_str()))
    }
    fn property(&self, _path: &[&str]) -> Option<Vec<u8>> {
        None
    }
}

fn explain(
    config_path: &Path,
    request: &Path,
    grant: Option<&str>,
    session: Option<String>,
    headers: &[String],
    exit_code: bool,
) -> ExitCode {
    let config = match load(config_path) {
        Err(e) => return fail(&e),
        Ok((_, Err(errors))) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return fail(&format!("{} is invalid", config_path.display()));
        }
        Ok((_, Ok(config))) => config,
    };
    let mut facts = HashMap::new();
    for h in headers {
        let Some((k, v)) = h.split_once('=') else {
            return fail(&format!("--header wants K=V, got {h:?}"));
        };
        facts.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let facts = Headers(facts);
    let caller = match grant {
        Some(g) => match config.caller_for_grant(g) {
            Some(c) => c,
            None => {
                let names: Vec<&str> = config.grants.iter().map(|g| g.name.as_str()).collect();
                return fail(&format!("no grant {g:?} (grants: {})", names.join(", ")));
            }
        },
        None => config.caller(&facts),
    };
    let body = match std::fs::read(request) {
        Ok(b) => b,
        Err(e) => return fail(&format!("cannot read {}: {e}", request.display())),
    };
    let session = session.or_else(|| {
        facts
            .header("mcp-session-id")
            .map(std::borrow::Cow::into_owned)
    });
    let request_id = facts.header("x-request-id");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let ctx = Context {
        caller: &caller,
        namespace: config.counter_namespace.as_deref().unwrap_or(""),
        session: session.as_deref(),
        request_id: request_id.as_deref(),
        now_ms,
    };
    // The filter's own order of checks (judge_request), with fresh counters.
    let method = facts.header("mcp-method");
    let name = facts.header("mcp-name");
    // explain never asks the approval service: where the call goes is moot.
    let routing = Routing {
        method: method.as_deref(),
        name: name.as_deref(),
        ..Routing::default()
    };
    let mut store = MemoryStore::default();
    let decision = match judge_request(&config, &body, routing, ctx, &mut store, None, Fleet::Local)
    {
        Ok((_, judgement)) => judgement.decision,
        Err(refusal) => refused(&refusal, ctx),
    };
    // The decision's own JSON (the audit line's), pretty-printed in its order.
    let text = decision.to_json();
    let pretty = mcp_policy::json::parse(text.as_bytes())
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    println!("{pretty}");
    eprintln!("{}", judged_as(&config, &caller));
    if !exit_code {
        return ExitCode::SUCCESS;
    }
    ExitCode::from(match decision.decision {
        Verdict::Allow => 0,
        Verdict::ApprovalPending => EXIT_APPROVAL_PENDING,
        Verdict::RateLimited => EXIT_RATE_LIMITED,
        Verdict::Deny => EXIT_DENY,
        Verdict::Invalid => EXIT_INVALID,
    })
}

/// Which grant and which policy judged the request: the decision's `rule`
/// points into that policy, and its `grant` is null for a caller no grant
/// matches.
fn judged_as(config: &Config, caller: &Caller) -> String {
    if !config.uses_grants {
        return "judged by the configuration's one policy".to_owned();
    }
    let why = match &caller.grant {
        Some(g) => format!("grant {}", quote(g)),
        None => match caller.policy {
            Some(_) => "no grant matches the caller; \"unmatched\" names it".to_owned(),
            None => "no grant matches the caller; \"unmatched\": \"deny\"".to_owned(),
        },
    };
    match caller
        .policy
        .and_then(|i| config.policies.get(i))
        .map(|(name, _)| name.as_str())
    {
        Some(p) => format!("judged by policy {} ({why})", quote(p)),
        None => format!(
            "judged by no policy ({why}{}, {}): every call is denied",
            if caller.grant.is_some() {
                " names none"
            } else {
                ""
            },
            caller.denied_by
        ),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Reads YAML into JSON, strictly (duplicate keys are errors). A numeric
/// `version` becomes a string, as Intercept reads it.
fn yaml_to_json(path: &Path) -> Result<Json<'static>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Json<'_> = serde_saphyr::from_str(&text)
        .map_err(|e| format!("{} is not valid YAML: {e}", path.display()))?;
    let mut value = value.into_owned();
    if let Json::Obj(members) = &mut value {
        for (key, v) in &mut members.0 {
            if key == "version" {
                if let Json::Num(n) = v {
                    let text = match n {
                        Num::F(f) | Num::D(f, _) if f.fract() == 0.0 => format!("{}", *f as i64),
                        other => other.to_string(),
                    };
                    *v = Json::Str(Cow::Owned(text));
                }
            }
        }
    }
    Ok(value)
}
