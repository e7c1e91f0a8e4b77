//! The configurations the targets judge against.
//!
//! Built-in: the policies in `fuzz/policies/` (written for fuzzing: every
//! operator, both policy forms, counters of every scope, grants, identity
//! sources). Real: every `*.json` in `corpus/_policies/`, which
//! `build_corpus.py` fills from `../shared/policies` (the Intercept YAML
//! converted by `mcp-policy convert`); another directory can be named with
//! `MCP_POLICY_FUZZ_POLICIES`. Without it the targets use the built-ins only.
//!
//! A bare policy is also wrapped in a few configurations (`STYLES`), so every
//! policy is judged with each `deny_as`, audit mode and a grant table.

use mcp_policy::config::Config;
use std::sync::OnceLock;

pub const BUILTIN: &[(&str, &str)] = &[
    ("ops", include_str!("../policies/ops.json")),
    ("charges", include_str!("../policies/charges.json")),
    ("grants", include_str!("../policies/grants.json")),
    ("lockdown", include_str!("../policies/lockdown.json")),
];

/// Ways to wrap a bare policy `P` into a configuration.
pub const STYLES: usize = 6;

/// The configuration text of policy `policy` in style `style`. Texts that are
/// already configurations (no top-level `version`) are returned as they are.
pub fn wrap(policy: &str, style: usize) -> String {
    let bare = policy.trim_start().starts_with('{')
        && serde_json::from_str::<serde_json::Value>(policy)
            .ok()
            .is_some_and(|v| v.get("version").is_some());
    if !bare {
        return policy.to_owned();
    }
    match style % STYLES {
        0 => policy.to_owned(),
        1 => format!(r#"{{"policy":{policy}}}"#),
        2 => format!(r#"{{"policy":{policy},"deny_as":"jsonrpc_error"}}"#),
        3 => format!(r#"{{"policy":{policy},"audit":{{"log":true,"arguments":"sha256"}}}}"#),
        4 => format!(
            r#"{{"policies":{{"p":{policy}}},"grants":{{"g":{{"policy":"p","match":["agent-a"]}},"none":{{"match":["agent-x"]}}}},"unmatched":"deny","identity":[{{"header":"x-agent-id"}}]}}"#
        ),
        _ => format!(
            r#"{{"policy":{policy},"mcp":{{"paths":["/"],"max_body_bytes":300}},"audit":{{"log":false,"arguments":"none"}}}}"#
        ),
    }
}

/// Every policy text: the built-ins, then the real ones sorted by name.
pub fn all() -> &'static [(String, String)] {
    static ALL: OnceLock<Vec<(String, String)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        out.extend(real());
        out
    })
}

fn real() -> Vec<(String, String)> {
    let dir = std::env::var("MCP_POLICY_FUZZ_POLICIES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/_policies").to_owned());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let name = p.file_stem()?.to_string_lossy().into_owned();
            Some((name, text))
        })
        .collect()
}

/// One parsed configuration, with where it came from.
pub struct Parsed {
    pub name: String,
    pub style: usize,
    pub text: String,
    pub config: Config,
}

/// Every policy in every style, parsed once. Those that do not validate
/// are left out (the `config` target looks at those).
pub fn parsed() -> &'static [Parsed] {
    static PARSED: OnceLock<Vec<Parsed>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut out = Vec::new();
        for (name, text) in all() {
            let full = !text_is_bare(text);
            for style in 0..STYLES {
                let text = wrap(text, style);
                if let Ok(config) = Config::parse(text.as_bytes()) {
                    out.push(Parsed {
                        name: name.clone(),
                        style,
                        text,
                        config,
                    });
                }
                if full {
                    // A full configuration has one style only.
                    break;
                }
            }
        }
        out
    })
}

fn text_is_bare(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("version").is_some())
}

/// The parsed configuration `index` (modulo their number).
pub fn pick(index: usize) -> &'static Parsed {
    let all = parsed();
    &all[index % all.len()]
}

/// The built-in policy `name` in `style`, parsed.
pub fn builtin(name: &str, style: usize) -> &'static Parsed {
    parsed()
        .iter()
        .find(|p| p.name == name && p.style == style % STYLES)
        .or_else(|| parsed().iter().find(|p| p.name == name))
        .expect("built-in policies validate")
}
