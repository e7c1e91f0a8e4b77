//! `mcp-policy rls-config CONFIG --format limitador|envoy-ratelimit`: the Rate
//! Limit Service's own limits file for every counter of CONFIG with
//! `"backend": "rls"` (SPEC §7.1), written from the same descriptors the
//! filter sends (`mcp_policy::outside::rls`), so policy and service never
//! drift.
//!
//! - Limitador: its YAML list of limits (`limitador-server LIMITS.yaml`),
//!   one per counter, addressed with CEL through `descriptors[0]`.
//! - envoyproxy/ratelimit: its config YAML (`domain`, `descriptors`), one
//!   `mcp_policy.counter` / `mcp_policy.scope` branch per counter. It counts
//!   per second, minute, hour or day only: other windows are refused with
//!   their path.

use mcp_policy::config::Config;
use mcp_policy::outside::rls::{self, COUNTER_KEY, SCOPE_KEY};
use mcp_policy::policy::{Backend, Counter, Scope, Window};

/// Which service's file to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Limitador,
    EnvoyRatelimit,
}

/// One counter the service keeps, and where it comes from.
struct Limit<'c> {
    policy: &'c str,
    counter: &'c Counter,
    max: u64,
}

/// The limits file, or every counter it cannot express, each with its path.
pub fn render(config: &Config, format: Format) -> Result<String, Vec<String>> {
    let Some(service) = &config.rls else {
        return Err(vec![
            "rls: the configuration names no Rate Limit Service (no \"rls\" section)".to_owned(),
        ]);
    };
    let mut limits = Vec::new();
    let mut errors = Vec::new();
    for (policy, p) in &config.policies {
        for counter in p.counters.iter().filter(|c| c.backend == Backend::Rls) {
            // Validation keeps an RLS counter's max whole and at least 1.
            let max = counter.max.map_or(0.0, |m| m.as_f64()) as u64;
            if format == Format::EnvoyRatelimit {
                if unit(counter.window).is_none() {
                    errors.push(format!(
                        "{}: a window of {} cannot be counted by envoyproxy/ratelimit, which counts per second, minute, hour or day",
                        counter.path,
                        counter.window.label()
                    ));
                }
                if max > u64::from(u32::MAX) {
                    errors.push(format!(
                        "{}: envoyproxy/ratelimit counts up to 4294967295 per unit, not {max}",
                        counter.path
                    ));
                }
            }
            limits.push(Limit {
                policy,
                counter,
                max,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(match format {
        Format::Limitador => limitador(
            &service.domain,
            config.counter_namespace.as_deref(),
            &limits,
        ),
        Format::EnvoyRatelimit => envoy_ratelimit(
            &service.domain,
            config.counter_namespace.as_deref(),
            &limits,
        ),
    })
}

fn limitador(domain: &str, namespace: Option<&str>, limits: &[Limit<'_>]) -> String {
    let mut out = format!(
        "# Limitador limits for the RLS domain {} ({} counter{}), written by mcp-policy rls-config.\n\
         # Limitador counts a window from a counter's first hit.\n",
        quoted(domain),
        limits.len(),
        if limits.len() == 1 { "" } else { "s" }
    );
    if limits.is_empty() {
        out.push_str("[]\n");
    }
    for l in limits {
        let key = rls::entry_key(l.counter, namespace);
        let address = format!("descriptors[0]['{key}']");
        out.push_str(&format!("- namespace: {}\n", quoted(domain)));
        out.push_str(&format!("  name: {}\n", quoted(&describe(l))));
        out.push_str(&format!("  max_value: {}\n", l.max));
        out.push_str(&format!(
            "  seconds: {}\n",
            l.counter.window.length_ms() / 1000
        ));
        out.push_str(&format!(
            "  conditions:\n  - {}\n",
            quoted(&format!("{address} != ''"))
        ));
        match l.counter.scope {
            // One count for every caller: the value is always `_`.
            Scope::Global => out.push_str("  variables: []\n"),
            _ => out.push_str(&format!("  variables:\n  - {}\n", quoted(&address))),
        }
    }
    out
}

fn envoy_ratelimit(domain: &str, namespace: Option<&str>, limits: &[Limit<'_>]) -> String {
    let mut out = format!(
        "# envoyproxy/ratelimit configuration for the RLS domain {} ({} counter{}), written by mcp-policy rls-config.\n\
         # It counts calendar units (second, minute, hour, day).\n\
         domain: {}\ndescriptors:\n",
        quoted(domain),
        limits.len(),
        if limits.len() == 1 { "" } else { "s" },
        quoted(domain)
    );
    if limits.is_empty() {
        out.push_str("  []\n");
    }
    for l in limits {
        let unit = unit(l.counter.window).unwrap_or("minute");
        out.push_str(&format!("  # {}\n", describe(l).replace('\n', " ")));
        out.push_str(&format!("  - key: {COUNTER_KEY}\n"));
        out.push_str(&format!(
            "    value: {}\n",
            quoted(&rls::counter_id(l.counter, namespace))
        ));
        out.push_str("    descriptors:\n");
        out.push_str(&format!("      - key: {SCOPE_KEY}\n"));
        out.push_str("        rate_limit:\n");
        out.push_str(&format!("          unit: {unit}\n"));
        out.push_str(&format!("          requests_per_unit: {}\n", l.max));
    }
    out
}

/// The envoyproxy/ratelimit unit of exactly one `window`.
fn unit(window: Window) -> Option<&'static str> {
    match window.length_ms() {
        1_000 => Some("second"),
        60_000 => Some("minute"),
        3_600_000 => Some("hour"),
        86_400_000 => Some("day"),
        _ => None,
    }
}

/// Where a limit comes from, for people reading the file.
fn describe(l: &Limit<'_>) -> String {
    let policy = if l.policy.is_empty() {
        String::new()
    } else {
        format!("policy {}, ", l.policy)
    };
    let owner = if l.counter.namespace == mcp_policy::policy::GLOBAL {
        "every tool".to_owned()
    } else {
        format!("tool {}", l.counter.namespace)
    };
    format!(
        "{policy}{owner}, counter {}: {} per {}, per {} ({})",
        l.counter.name,
        l.max,
        l.counter.window.label(),
        l.counter.scope.label(),
        l.counter.pointer
    )
}

/// A YAML double-quoted scalar (JSON's string syntax is a subset of it).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"policies":{"ops":{"version":"1","default":"deny","tools":{
        "pay":{"limits":[{"counter":"calls","window":"minute","max":30,"backend":"rls"},
                         {"counter":"spend","window":"day","max":1000,"increment_from":"args.amount","scope":"global","backend":"rls"},
                         {"counter":"local","window":"hour","max":5}]}}}},
        "grants":{},"rls":{"cluster":"ratelimit","domain":"mcp"}}"#;

    #[test]
    fn limitador_limits_address_the_filters_descriptors() {
        let config = Config::parse(CONFIG.as_bytes()).unwrap();
        let out = render(&config, Format::Limitador).unwrap();
        let counter = &config.policies[0].1.counters[0];
        let key = rls::entry_key(counter, None);
        assert!(
            out.contains(&format!("descriptors[0]['{key}'] != ''")),
            "{out}"
        );
        assert!(out.contains("max_value: 30\n  seconds: 60\n"), "{out}");
        assert!(out.contains("max_value: 1000\n  seconds: 86400\n"), "{out}");
        assert!(
            out.contains("variables: []"),
            "a global counter has one count"
        );
        assert!(!out.contains("local"), "local counters stay local");
    }

    #[test]
    fn envoy_ratelimit_refuses_windows_it_cannot_count() {
        let config = Config::parse(CONFIG.as_bytes()).unwrap();
        let out = render(&config, Format::EnvoyRatelimit).unwrap();
        assert!(out.contains("domain: \"mcp\""));
        assert!(
            out.contains("unit: minute\n          requests_per_unit: 30"),
            "{out}"
        );
        let odd = CONFIG.replace(r#""window":"minute""#, r#""window":90"#);
        let config = Config::parse(odd.as_bytes()).unwrap();
        let errors = render(&config, Format::EnvoyRatelimit).unwrap_err();
        assert_eq!(
            errors,
            vec!["policies.ops.tools.pay.limits[0]: a window of 90s cannot be counted by envoyproxy/ratelimit, which counts per second, minute, hour or day"]
        );
        // Limitador counts any number of seconds.
        assert!(render(&config, Format::Limitador)
            .unwrap()
            .contains("seconds: 90"));
    }
}
