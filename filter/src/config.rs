//! The plugin configuration (SPEC §2): policies, grants, identity, MCP
//! endpoints, responses and audit.
//!
//! Owns: reading and validating the configuration (every error at once, each
//! with its JSON path), a bare policy standing for `{"policy": ...}`, and
//! naming the caller: which identity source speaks first, which grant it
//! matches, which policy that grant uses. Each identity source is its own
//! namespace: a grant `match` entry belongs to one source, and a value from
//! another source never matches it (a header can never pose as a bearer
//! digest or a JWT claim).
//!
//! Does not own: the policy language (`policy`), or how headers and
//! properties are fetched (the `RequestFacts` the host gives).

use crate::digest::sha256_hex;
use crate::fields::{expect_array, expect_str, ConfigError, Fields, Loc, Report};
use crate::json::write::quote;
use crate::json::{self, Json, Num};
use crate::names::Names;
use crate::outside::approval::{ApprovalService, OnUnavailable};
use crate::outside::rls::RlsService;
use crate::policy::{read_policy, Policy};
use std::borrow::Cow;

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Named policies; the single `policy` is named "".
    pub policies: Vec<(String, Policy)>,
    pub grants: Vec<Grant>,
    /// Identity (as matched) -> index into `grants`.
    grant_index: Names<usize>,
    /// Whether callers are sorted by a grant table (`policies`), rather than
    /// all given the one `policy`.
    pub uses_grants: bool,
    /// The policy of callers no grant matches; `None` denies them.
    pub unmatched: Option<usize>,
    pub identity: Vec<IdentitySource>,
    /// `counters.namespace`: counters are shared with every plugin
    /// configuration that names the same namespace. `None`: the host's
    /// default, unique to this plugin configuration.
    pub counter_namespace: Option<String>,
    /// Remove `Authorization` before the request goes upstream.
    pub strip_authorization: bool,
    pub mcp: Mcp,
    pub deny_as: DenyAs,
    pub audit: Audit,
    /// `approval`: the service that holds `require_approval` calls for a
    /// person (SPEC §7.2). `None`: such calls are denied.
    pub approval: Option<ApprovalService>,
    /// `rls`: Envoy's Rate Limit Service, which counts the counters with
    /// `"backend": "rls"` for a whole fleet (SPEC §7.1).
    pub rls: Option<RlsService>,
    pub warnings: Vec<ConfigError>,
}

#[derive(Debug)]
pub struct Grant {
    pub name: String,
    /// `None`: every call of this grant is denied.
    pub policy: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IdentitySource {
    Header(String),
    /// A claim of the payload Envoy's `jwt_authn` verified and stored in
    /// dynamic metadata under `provider`; `claim` is a dotted path.
    JwtClaim {
        provider: String,
        claim: Vec<String>,
    },
    Peer(PeerField),
    /// `Authorization: Bearer T`, matched as hex `sha256(T)`.
    BearerSha256,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PeerField {
    UriSan,
    DnsSan,
    Subject,
}

impl IdentitySource {
    /// The source's namespace, written into every identity it yields, so
    /// values from two sources are never one identity.
    fn push_tag(&self, out: &mut String) {
        match self {
            IdentitySource::Header(name) => {
                out.push_str("h:");
                out.push_str(name);
            }
            IdentitySource::JwtClaim { provider, claim } => {
                out.push_str("j:");
                out.push_str(provider);
                for (i, part) in claim.iter().enumerate() {
                    out.push(if i == 0 { ':' } else { '.' });
                    out.push_str(part);
                }
            }
            IdentitySource::Peer(field) => {
                out.push_str("p:");
                out.push_str(field.label());
            }
            IdentitySource::BearerSha256 => out.push('b'),
        }
    }

    /// How the source is named in messages.
    fn describe(&self) -> String {
        match self {
            IdentitySource::Header(name) => format!("header {name}"),
            IdentitySource::JwtClaim { provider, claim } => {
                format!("jwt_claim {} of provider {provider}", claim.join("."))
            }
            IdentitySource::Peer(field) => format!("peer {}", field.label()),
            IdentitySource::BearerSha256 => "bearer_sha256".into(),
        }
    }
}

/// The identity key every caller no grant matches counts under.
const UNMATCHED: &str = "\u{1f}unmatched";

/// The identity key of a value from a source: the source's tag (`h:` and
/// the header's name, `j:` the provider and claim, `p:` the peer field,
/// `b`), a unit separator, the value.
fn identity_key(source: &IdentitySource, value: &str) -> String {
    let mut key = String::with_capacity(value.len().saturating_add(24));
    source.push_tag(&mut key);
    key.push('\u{1f}');
    key.push_str(value);
    key
}

impl PeerField {
    fn label(self) -> &'static str {
        match self {
            PeerField::UriSan => "uri_san",
            PeerField::DnsSan => "dns_san",
            PeerField::Subject => "subject",
        }
    }

    pub fn property(self) -> &'static str {
        match self {
            PeerField::UriSan => "uri_san_peer_certificate",
            PeerField::DnsSan => "dns_san_peer_certificate",
            PeerField::Subject => "subject_peer_certificate",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Mcp {
    /// Path prefixes of the MCP endpoints.
    pub paths: Vec<String>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DenyAs {
    ToolError,
    JsonRpcError,
}

#[derive(Debug, Clone, Copy)]
pub struct Audit {
    pub log: bool,
    pub arguments: ArgumentAudit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArgumentAudit {
    None,
    Keys,
    Sha256,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
const MAX_MAX_BODY_BYTES: u64 = 64 << 20;

/// What the host can tell about the request, for naming the caller.
pub trait RequestFacts {
    /// A request header by lower-case name (every value, joined).
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;
    /// An Envoy property (`get_property`), as bytes.
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
}

/// Who is calling, and under which policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The identity with its source's namespace (`header:x-agent-id`, a
    /// unit separator, the value): the key of `grant`-scoped counters.
    pub identity: Option<String>,
    pub grant: Option<String>,
    /// Index into `Config::policies`; `None` when every call is denied.
    pub policy: Option<usize>,
    /// Why a caller has no policy: a pointer into the configuration.
    pub denied_by: String,
}

impl Config {
    /// Reads the configuration text. `Err` holds every error found.
    pub fn parse(text: &[u8]) -> Result<Config, Vec<ConfigError>> {
        let value = json::parse(text).map_err(|e| {
            vec![ConfigError {
                path: String::new(),
                message: format!("configuration is not valid JSON: {e}"),
            }]
        })?;
        let mut report = Report::default();
        let config = read_config(&value, &mut report);
        if let Some(config) = &config {
            config.check_rls_counters(&mut report);
        }
        match config {
            Some(mut config) if report.errors.is_empty() => {
                config.warnings = report.warnings;
                Ok(config)
            }
            _ => Err(report.errors),
        }
    }

    /// A counter the Rate Limit Service keeps needs the service named.
    fn check_rls_counters(&self, report: &mut Report) {
        if self.rls.is_some() {
            return;
        }
        for counter in self
            .policies
            .iter()
            .flat_map(|(_, p)| p.counters.iter())
            .filter(|c| c.backend == crate::policy::Backend::Rls)
        {
            report.errors.push(ConfigError {
                path: counter.path.clone(),
                message: "backend \"rls\" needs the \"rls\" section of the plugin configuration (the Rate Limit Service's cluster and domain)".into(),
            });
        }
    }

    /// The caller of a request, from the first identity source that yields a
    /// value. Only grant entries of that source can match it.
    pub fn caller(&self, facts: &dyn RequestFacts) -> Caller {
        let identity = self
            .identity
            .iter()
            .find_map(|source| identify(source, facts).map(|value| identity_key(source, &value)));
        let Some(identity) = identity else {
            return self.unmatched_caller(None);
        };
        if !self.uses_grants {
            return Caller {
                identity: Some(identity),
                grant: None,
                policy: Some(0),
                denied_by: String::new(),
            };
        }
        match self
            .grant_index
            .get(&identity)
            .and_then(|&i| self.grants.get(i))
        {
            Some(grant) => self.grant_caller(grant, Some(identity)),
            None => self.unmatched_caller(Some(identity)),
        }
    }

    /// The caller as grant `name` (for `mcp-policy explain --grant`); the
    /// grant name stands in for the identity.
    pub fn caller_for_grant(&self, name: &str) -> Option<Caller> {
        let grant = self.grants.iter().find(|g| g.name == name)?;
        Some(self.grant_caller(grant, Some(name.to_owned())))
    }

    fn grant_caller(&self, grant: &Grant, identity: Option<String>) -> Caller {
        Caller {
            identity,
            grant: Some(grant.name.clone()),
            policy: grant.policy,
            denied_by: match grant.policy {
                Some(_) => String::new(),
                None => format!("/grants/{}", pointer_escape(&grant.name)),
            },
        }
    }

    fn unmatched_caller(&self, identity: Option<String>) -> Caller {
        if !self.uses_grants {
            return Caller {
                identity,
                grant: None,
                policy: Some(0),
                denied_by: String::new(),
            };
        }
        // Callers no grant knows share one count, whatever identity they
        // bring: a client could otherwise mint a fresh one per call (a new
        // header value, a made-up bearer token) and with it fresh quota.
        Caller {
            identity: Some(UNMATCHED.to_owned()),
            grant: None,
            policy: self.unmatched,
            denied_by: "/unmatched".into(),
        }
    }

    /// Whether any policy counts calls (so counter keys need a namespace).
    pub fn has_counters(&self) -> bool {
        self.policies.iter().any(|(_, p)| !p.counters.is_empty())
    }

    pub fn policy(&self, index: usize) -> Option<&Policy> {
        self.policies.get(index).map(|(_, p)| p)
    }

    /// Whether `path` is one of the MCP endpoints.
    pub fn is_mcp_path(&self, path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        self.mcp.paths.iter().any(|p| path.starts_with(p.as_str()))
    }
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The value a source yields for this request, if any.
fn identify(source: &IdentitySource, facts: &dyn RequestFacts) -> Option<String> {
    let non_empty = |s: &str| {
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_owned())
    };
    match source {
        IdentitySource::Header(name) => facts.header(name).as_deref().and_then(non_empty),
        IdentitySource::Peer(field) => facts
            .property(&["connection", field.property()])
            .and_then(|b| String::from_utf8(b).ok())
            .as_deref()
            .and_then(non_empty),
        IdentitySource::JwtClaim { provider, claim } => {
            let mut path = vec![
                "metadata",
                "filter_metadata",
                "envoy.filters.http.jwt_authn",
                provider.as_str(),
            ];
            path.extend(claim.iter().map(String::as_str));
            claim_text(facts.property(&path)?)
                .as_deref()
                .and_then(non_empty)
        }
        IdentitySource::BearerSha256 => {
            let header = facts.header("authorization")?;
            let (scheme, token) = header.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
                .then(|| sha256_hex(token.as_bytes()))
        }
    }
}

/// A JWT claim as Envoy hands it over: a string's bytes, a number as the
/// 8 bytes of a little-endian double, a boolean as one byte. A claim present
/// in another form (an object, a list) is an identity no grant matches, not
/// a reason to try the next identity source, which may be easier to forge.
fn claim_text(bytes: Vec<u8>) -> Option<String> {
    const UNREADABLE: &str = "\0unreadable claim";
    let readable_text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| !t.chars().any(char::is_control));
    if let Some(text) = readable_text {
        return Some(text.to_owned());
    }
    let text = match bytes.as_slice() {
        [b] if *b <= 1 => (if *b == 1 { "true" } else { "false" }).to_owned(),
        eight => match <[u8; 8]>::try_from(eight) {
            Ok(raw) => {
                // As JSON spells the number (ECMAScript): `42`, `0.5`, `1e+21`.
                let n = f64::from_le_bytes(raw);
                if n.is_finite() {
                    let mut text = String::new();
                    crate::json::write::push_f64(&mut text, n);
                    text
                } else {
                    UNREADABLE.to_owned()
                }
            }
            Err(_) => UNREADABLE.to_owned(),
        },
    };
    Some(text)
}

/// True when `value` is a policy document rather than a configuration.
fn is_bare_policy(value: &Json<'_>) -> bool {
    // `version` is a policy's, never a configuration's; with any other
    // policy field beside it, errors are reported as a policy's ("missing
    // field tools"), not as unknown configuration fields.
    let policy_field = ["tools", "hide", "default", "all_tools"]
        .iter()
        .any(|k| value.get(k).is_some());
    value.get("version").is_some()
        && policy_field
        && value.get("policy").is_none()
        && value.get("policies").is_none()
}

fn read_config(value: &Json<'_>, report: &mut Report) -> Option<Config> {
    let root = Loc::root();
    if is_bare_policy(value) {
        let policy = read_policy(value, &root.as_policy_root(), "", report)?;
        return Some(Config::single(policy));
    }
    let mut f = Fields::of(value, &root, report)?;
    let mut config = Config::single_placeholder();

    let single = f.take("policy");
    let named = f.take("policies");
    match (single, named) {
        (Some(_), Some(_)) => report.error(&root, "use \"policy\" or \"policies\", not both"),
        (None, None) => report.error(
            &root,
            "missing field \"policy\" (or \"policies\" with \"grants\")",
        ),
        (Some((pv, ploc)), None) => {
            if let Some(p) = read_policy(pv, &ploc.as_policy_root(), "", report) {
                config.policies.push((String::new(), p));
            }
        }
        (None, Some((pv, ploc))) => {
            config.uses_grants = true;
            if let Some(mut pf) = Fields::of(pv, &ploc, report) {
                if let Json::Obj(members) = pv {
                    for (name, policy) in &members.0 {
                        let loc = ploc.key(name);
                        if name.trim().is_empty() {
                            report.error(&loc, "policy name must not be empty");
                        } else if let Some(p) =
                            read_policy(policy, &loc.as_policy_root(), name, report)
                        {
                            config.policies.push((name.to_string(), p));
                        }
                    }
                }
                pf.mark_all_known();
                pf.finish(report);
            }
        }
    }
    let policy_index =
        |name: &str, policies: &[(String, Policy)]| policies.iter().position(|(n, _)| n == name);
    let all_policy_names: Vec<String> = match value.get("policies") {
        Some(Json::Obj(o)) => o.keys().map(str::to_owned).collect(),
        _ => Vec::new(),
    };

    if let Some((iv, iloc)) = f.take("identity") {
        read_identity(iv, &iloc, &mut config, report);
    }
    if let Some((gv, gloc)) = f.take("grants") {
        if !config.uses_grants {
            report.error(&gloc, "grants need named \"policies\" to refer to");
        }
        read_grants(gv, &gloc, &all_policy_names, &mut config, report);
    }
    if let Some((uv, uloc)) = f.string("unmatched", report) {
        if uv != "deny" {
            if !config.uses_grants {
                report.error(&uloc, "unmatched needs named \"policies\" to refer to");
            } else if !all_policy_names.iter().any(|n| n == uv) {
                report.error(
                    &uloc,
                    format!(
                        "names a missing policy {} (expected \"deny\" or one of: {})",
                        quote(uv),
                        all_policy_names.join(", ")
                    ),
                );
            }
            config.unmatched = policy_index(uv, &config.policies);
        }
    }
    if let Some((cv, cloc)) = f.take("counters") {
        if let Some(mut cf) = Fields::of(cv, &cloc, report) {
            if let Some((ns, nloc)) = cf.string("namespace", report) {
                if ns.trim().is_empty() {
                    report.error(&nloc, "namespace must not be empty");
                } else {
                    config.counter_namespace = Some(ns.to_owned());
                }
            }
            cf.finish(report);
        }
    }
    if let Some((mv, mloc)) = f.take("mcp") {
        read_mcp(mv, &mloc, &mut config, report);
    }
    if let Some((dv, dloc)) = f.string("deny_as", report) {
        match dv {
            "tool_error" => config.deny_as = DenyAs::ToolError,
            "jsonrpc_error" => config.deny_as = DenyAs::JsonRpcError,
            other => report.error(
                &dloc,
                format!(
                    "deny_as must be \"tool_error\" or \"jsonrpc_error\", got {}",
                    quote(other)
                ),
            ),
        }
    }
    if let Some((av, aloc)) = f.take("audit") {
        if let Some(mut af) = Fields::of(av, &aloc, report) {
            if let Some(log) = af.boolean("log", report) {
                config.audit.log = log;
            }
            if let Some((a, aloc)) = af.string("arguments", report) {
                config.audit.arguments = match a {
                    "none" => ArgumentAudit::None,
                    "keys" => ArgumentAudit::Keys,
                    "sha256" => ArgumentAudit::Sha256,
                    other => {
                        report.error(
                            &aloc,
                            format!(
                                "arguments must be \"none\", \"keys\" or \"sha256\", got {}",
                                quote(other)
                            ),
                        );
                        ArgumentAudit::Keys
                    }
                };
            }
            af.finish(report);
        }
    }
    if let Some((av, aloc)) = f.take("approval") {
        config.approval = read_approval(av, &aloc, report);
        let can_approve = config.approval.is_some();
        for (_, policy) in &mut config.policies {
            policy.can_approve = can_approve;
        }
    }
    if let Some((rv, rloc)) = f.take("rls") {
        config.rls = read_rls(rv, &rloc, report);
    }
    f.finish(report);
    Some(config)
}

/// `rls`: `cluster` and `domain` (required), `timeout_ms`, `on_unavailable`.
fn read_rls(value: &Json<'_>, loc: &Loc, report: &mut Report) -> Option<RlsService> {
    let mut f = Fields::of(value, loc, report)?;
    let mut service = RlsService {
        cluster: String::new(),
        domain: String::new(),
        timeout_ms: crate::outside::rls::DEFAULT_TIMEOUT_MS,
        on_unavailable: OnUnavailable::Deny,
    };
    for (key, slot, what) in [
        (
            "cluster",
            &mut service.cluster,
            "the Rate Limit Service's Envoy cluster",
        ),
        (
            "domain",
            &mut service.domain,
            "the RLS domain its limits are written for",
        ),
    ] {
        match f.string(key, report) {
            Some((c, _)) if !c.trim().is_empty() => *slot = c.to_owned(),
            Some((_, cloc)) => report.error(&cloc, format!("{key} must not be empty")),
            None if value.get(key).is_none() => {
                report.error(loc, format!("missing field \"{key}\" ({what})"))
            }
            None => {}
        }
    }
    if service.cluster.len() > MAX_GRPC_CLUSTER {
        report.error(
            &loc.key("cluster"),
            format!("cluster must be at most {MAX_GRPC_CLUSTER} bytes"),
        );
    }
    read_outside_common(
        &mut f,
        &mut service.timeout_ms,
        &mut service.on_unavailable,
        report,
    );
    f.finish(report);
    (!service.cluster.is_empty() && !service.domain.is_empty()).then_some(service)
}

/// `timeout_ms` and `on_unavailable`, as both outside services take them.
fn read_outside_common(
    f: &mut Fields<'_, '_>,
    timeout_ms: &mut u64,
    on_unavailable: &mut OnUnavailable,
    report: &mut Report,
) {
    if let Some((tv, tloc)) = f.take("timeout_ms") {
        match tv {
            Json::Num(Num::U(n)) if (1..=MAX_TIMEOUT_MS).contains(n) => *timeout_ms = *n,
            other => report.error(
                &tloc,
                format!(
                    "timeout_ms must be a whole number from 1 to {MAX_TIMEOUT_MS}, got {}",
                    other.to_text()
                ),
            ),
        }
    }
    if let Some((u, uloc)) = f.string("on_unavailable", report) {
        match u {
            "deny" => *on_unavailable = OnUnavailable::Deny,
            "allow" => *on_unavailable = OnUnavailable::Allow,
            other => report.error(
                &uloc,
                format!(
                    "on_unavailable must be \"deny\" or \"allow\", got {}",
                    quote(other)
                ),
            ),
        }
    }
}

/// `approval`: `cluster` (required), `timeout_ms`, `on_unavailable`.
fn read_approval(value: &Json<'_>, loc: &Loc, report: &mut Report) -> Option<ApprovalService> {
    let mut f = Fields::of(value, loc, report)?;
    let mut service = ApprovalService {
        cluster: String::new(),
        timeout_ms: crate::outside::approval::DEFAULT_TIMEOUT_MS,
        on_unavailable: OnUnavailable::Deny,
    };
    match f.string("cluster", report) {
        Some((c, _)) if !c.trim().is_empty() => service.cluster = c.to_owned(),
        Some((_, cloc)) => report.error(&cloc, "cluster must not be empty"),
        None if value.get("cluster").is_none() => report.error(
            loc,
            "missing field \"cluster\" (the approval service's Envoy cluster)",
        ),
        None => {}
    }
    read_outside_common(
        &mut f,
        &mut service.timeout_ms,
        &mut service.on_unavailable,
        report,
    );
    f.finish(report);
    (!service.cluster.is_empty()).then_some(service)
}

/// The longest gRPC cluster name: the host is handed a `GrpcService`
/// message naming it, whose one-byte lengths keep it valid text.
const MAX_GRPC_CLUSTER: usize = 120;

/// The longest an outside answer may be waited for: the request is held
/// meanwhile.
const MAX_TIMEOUT_MS: u64 = 60_000;

fn read_grants(
    value: &Json<'_>,
    loc: &Loc,
    policy_names: &[String],
    config: &mut Config,
    report: &mut Report,
) {
    let Some(mut gf) = Fields::of(value, loc, report) else {
        return;
    };
    gf.mark_all_known();
    gf.finish(report);
    let Json::Obj(members) = value else { return };
    let mut seen: Names<String> = Names::default();
    for (name, grant) in &members.0 {
        let gloc = loc.key(name);
        let Some(mut f) = Fields::of(grant, &gloc, report) else {
            continue;
        };
        let policy = match f.string("policy", report) {
            Some((p, ploc)) => {
                if !policy_names.iter().any(|n| n == p) {
                    report.error(
                        &ploc,
                        format!(
                            "grant names a missing policy {} (expected one of: {})",
                            quote(p),
                            policy_names.join(", ")
                        ),
                    );
                }
                config.policies.iter().position(|(n, _)| n == p)
            }
            None => None,
        };
        let index = config.grants.len();
        if let Some((mv, mloc)) = f.require("match", report) {
            if let Some(items) = expect_array(mv, &mloc, report) {
                for (i, item) in items.iter().enumerate() {
                    let iloc = mloc.index(i);
                    let Some(key) = read_match_entry(item, &iloc, &config.identity, report) else {
                        continue;
                    };
                    if let Some(other) = seen.get(&key) {
                        report.error(
                            &iloc,
                            format!(
                                "identity {} is already matched by grant {}",
                                quote(key.rsplit('\u{1f}').next().unwrap_or_default()),
                                quote(other)
                            ),
                        );
                    } else {
                        seen.insert(key.clone(), name.to_string());
                        config.grant_index.insert(key, index);
                    }
                }
            }
        }
        f.finish(report);
        config.grants.push(Grant {
            name: name.to_string(),
            policy,
        });
    }
}

/// A grant `match` entry: the identity key it matches (`identity_key`).
///
/// An object names its source: `{"header": "x-agent-id", "value": "ops"}`,
/// `{"jwt_claim": "sub", "value": "1234"}` (or the claim with its
/// `provider`, as in `identity`), `{"peer": "uri_san", "value": "..."}`,
/// `{"bearer_sha256": "<hex>"}`. A string is given to a source by its form
/// (README, "Grants and identity namespaces"): a 64-digit hex digest is
/// `bearer_sha256`'s, `<claim>:<value>` a JWT claim's, a URI (`://`) the
/// peer `uri_san`'s; any other string belongs to the one configured source
/// it can, and is refused as ambiguous when more could take it.
fn read_match_entry(
    item: &Json<'_>,
    loc: &Loc,
    sources: &[IdentitySource],
    report: &mut Report,
) -> Option<String> {
    if let Json::Obj(_) = item {
        return read_match_object(item, loc, sources, report);
    }
    let entry = expect_str(item, loc, report)?.trim();
    if entry.is_empty() {
        report.error(loc, "identity must not be empty");
        return None;
    }
    if sources.is_empty() {
        // No source can yield it; kept, so duplicates are still found.
        return Some(format!("\u{1f}{entry}"));
    }
    let hex = entry.len() == 64 && entry.bytes().all(|b| b.is_ascii_hexdigit());
    let mut specific: Vec<(&IdentitySource, String)> = Vec::new();
    for source in sources {
        let value = match source {
            IdentitySource::BearerSha256 if hex => Some(entry.to_ascii_lowercase()),
            IdentitySource::JwtClaim { claim, .. } => entry
                .strip_prefix(claim.join(".").as_str())
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::to_owned),
            IdentitySource::Peer(PeerField::UriSan) if entry.contains("://") => {
                Some(entry.to_owned())
            }
            _ => None,
        };
        if let Some(value) = value {
            if !specific.iter().any(|(s, _)| *s == source) {
                specific.push((source, value));
            }
        }
    }
    let generic: Vec<&IdentitySource> = sources
        .iter()
        .filter(|s| {
            sources.len() == 1
                || matches!(
                    s,
                    IdentitySource::Header(_)
                        | IdentitySource::Peer(PeerField::DnsSan | PeerField::Subject)
                )
        })
        .collect();
    let candidates: Vec<(&IdentitySource, String)> = if specific.is_empty() {
        generic.iter().map(|s| (*s, entry.to_owned())).collect()
    } else {
        specific
    };
    let (source, value) = match candidates.as_slice() {
        [(IdentitySource::BearerSha256, _)] if !hex => {
            report.error(
                loc,
                "a bearer_sha256 identity is the 64-digit hex SHA-256 of the token",
            );
            return None;
        }
        [(source, value)] => (*source, value.clone()),
        [] => {
            report.error(
                loc,
                format!(
                    "identity {} fits no identity source by its form; say which, e.g. {{\"header\": \"x-agent-id\", \"value\": {}}}",
                    quote(entry),
                    quote(entry)
                ),
            );
            return None;
        }
        many => {
            let could: Vec<String> = many.iter().map(|(s, _)| s.describe()).collect();
            report.error(
                loc,
                format!(
                    "identity {} could be the value of more than one identity source ({}); say which, e.g. {{\"header\": \"x-agent-id\", \"value\": {}}}",
                    quote(entry),
                    could.join(", "),
                    quote(entry)
                ),
            );
            return None;
        }
    };
    if sources.len() > 1 {
        report.warn(
            loc,
            format!(
                "identity {} is read as the {}'s value {}",
                quote(entry),
                source.describe(),
                quote(&value)
            ),
        );
    }
    Some(identity_key(source, &value))
}

/// The source a `match` object names.
enum Named {
    Header(String),
    Jwt {
        provider: Option<String>,
        claim: String,
    },
    Peer(PeerField),
    Bearer,
}

impl Named {
    fn fits(&self, source: &IdentitySource) -> bool {
        match (self, source) {
            (Named::Header(h), IdentitySource::Header(n)) => h == n,
            (
                Named::Jwt { provider, claim },
                IdentitySource::JwtClaim {
                    provider: p,
                    claim: c,
                },
            ) => c.join(".") == *claim && provider.as_ref().is_none_or(|want| want == p),
            (Named::Peer(f), IdentitySource::Peer(g)) => f == g,
            (Named::Bearer, IdentitySource::BearerSha256) => true,
            _ => false,
        }
    }

    fn label(&self) -> String {
        match self {
            Named::Header(h) => format!("header {h}"),
            Named::Jwt { claim, .. } => format!("jwt_claim {claim}"),
            Named::Peer(f) => format!("peer {}", f.label()),
            Named::Bearer => "bearer_sha256".into(),
        }
    }
}

/// A `match` entry written as an object naming its source.
fn read_match_object(
    item: &Json<'_>,
    loc: &Loc,
    sources: &[IdentitySource],
    report: &mut Report,
) -> Option<String> {
    let mut f = Fields::of(item, loc, report)?;
    let mut named: Option<Named> = None;
    let mut value: Option<String> = None;
    if let Some((h, _)) = f.string("header", report) {
        named = Some(Named::Header(h.trim().to_ascii_lowercase()));
    }
    if let Some((jv, jloc)) = f.take("jwt_claim") {
        named = Some(match jv {
            Json::Str(c) => Named::Jwt {
                provider: None,
                claim: c.to_string(),
            },
            other => {
                let mut jf = Fields::of(other, &jloc, report)?;
                let provider = jf.string("provider", report).map(|(p, _)| p.to_owned());
                let claim = jf.string("claim", report).map(|(c, _)| c.to_owned());
                jf.finish(report);
                Named::Jwt {
                    provider,
                    claim: claim.unwrap_or_default(),
                }
            }
        });
    }
    if let Some((p, ploc)) = f.string("peer", report) {
        let field = match p {
            "uri_san" => PeerField::UriSan,
            "dns_san" => PeerField::DnsSan,
            "subject" => PeerField::Subject,
            other => {
                report.error(
                    &ploc,
                    format!(
                        "peer must be \"uri_san\", \"dns_san\" or \"subject\", got {}",
                        quote(other)
                    ),
                );
                return None;
            }
        };
        named = Some(Named::Peer(field));
    }
    if let Some((b, bloc)) = f.string("bearer_sha256", report) {
        let b = b.trim();
        if b.len() != 64 || !b.bytes().all(|c| c.is_ascii_hexdigit()) {
            report.error(
                &bloc,
                "bearer_sha256 is the 64-digit hex SHA-256 of the token",
            );
            return None;
        }
        value = Some(b.to_ascii_lowercase());
        named = Some(Named::Bearer);
    }
    if let Some((v, vloc)) = f.string("value", report) {
        if value.is_some() {
            report.error(&vloc, "a bearer_sha256 entry holds its digest itself");
        }
        value = Some(v.trim().to_owned());
    }
    f.finish(report);
    let Some(named) = named else {
        report.error(
            loc,
            "a match entry names one of: header, jwt_claim, peer, bearer_sha256",
        );
        return None;
    };
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        report.error(
            loc,
            format!(
                "missing field \"value\" (the {}'s value to match)",
                named.label()
            ),
        );
        return None;
    };
    let found: Vec<&IdentitySource> = sources.iter().filter(|s| named.fits(s)).collect();
    match found.as_slice() {
        [source] => Some(identity_key(source, &value)),
        [] => {
            report.error(
                loc,
                format!(
                    "no identity source reads the {}: add it to \"identity\"",
                    named.label()
                ),
            );
            None
        }
        _ => {
            report.error(
                loc,
                format!(
                    "more than one identity source reads the {}: name its \"provider\"",
                    named.label()
                ),
            );
            None
        }
    }
}

fn read_identity(value: &Json<'_>, loc: &Loc, config: &mut Config, report: &mut Report) {
    let Some(items) = expect_array(value, loc, report) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let iloc = loc.index(i);
        let Some(mut f) = Fields::of(item, &iloc, report) else {
            continue;
        };
        let mut found: Vec<IdentitySource> = Vec::new();
        if let Some((h, _)) = f.string("header", report) {
            let h = h.trim().to_ascii_lowercase();
            if h.is_empty() {
                report.error(&iloc.key("header"), "header name must not be empty");
            } else {
                found.push(IdentitySource::Header(h));
            }
        }
        if let Some((jv, jloc)) = f.take("jwt_claim") {
            if let Some(mut jf) = Fields::of(jv, &jloc, report) {
                let provider = jf.string("provider", report).map(|(s, _)| s.to_owned());
                let claim = jf.string("claim", report).map(|(s, _)| s.to_owned());
                if provider.is_none() || claim.is_none() {
                    report.error(&jloc, "jwt_claim needs \"provider\" and \"claim\"");
                }
                jf.finish(report);
                if let (Some(provider), Some(claim)) = (provider, claim) {
                    let claim: Vec<String> = claim.split('.').map(str::to_owned).collect();
                    if provider.is_empty() || claim.iter().any(String::is_empty) {
                        report.error(&jloc, "jwt_claim provider and claim must not be empty");
                    } else {
                        found.push(IdentitySource::JwtClaim { provider, claim });
                    }
                }
            }
        }
        if let Some((p, ploc)) = f.string("peer", report) {
            match p {
                "uri_san" => found.push(IdentitySource::Peer(PeerField::UriSan)),
                "dns_san" => found.push(IdentitySource::Peer(PeerField::DnsSan)),
                "subject" => found.push(IdentitySource::Peer(PeerField::Subject)),
                other => report.error(
                    &ploc,
                    format!(
                        "peer must be \"uri_san\", \"dns_san\" or \"subject\", got {}",
                        quote(other)
                    ),
                ),
            }
        }
        if let Some(b) = f.boolean("bearer_sha256", report) {
            if b {
                found.push(IdentitySource::BearerSha256);
            }
        }
        if let Some(strip) = f.boolean("strip_authorization", report) {
            if !item
                .get("bearer_sha256")
                .is_some_and(|v| matches!(v, Json::Bool(true)))
            {
                report.error(
                    &iloc.key("strip_authorization"),
                    "strip_authorization belongs with \"bearer_sha256\": true",
                );
            }
            config.strip_authorization = strip;
        }
        f.finish(report);
        match found.len() {
            1 => config.identity.extend(found),
            0 if item.get("bearer_sha256").is_some() => {}
            0 => report.error(&iloc, "an identity source needs one of: header, jwt_claim, peer, bearer_sha256"),
            _ => report.error(&iloc, "an identity source names one of header, jwt_claim, peer, bearer_sha256; use one entry per source"),
        }
    }
}

fn read_mcp(value: &Json<'_>, loc: &Loc, config: &mut Config, report: &mut Report) {
    let Some(mut f) = Fields::of(value, loc, report) else {
        return;
    };
    if let Some((pv, ploc)) = f.take("paths") {
        if let Some(items) = expect_array(pv, &ploc, report) {
            let mut paths = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let iloc = ploc.index(i);
                if let Some(p) = expect_str(item, &iloc, report) {
                    if p.starts_with('/') {
                        paths.push(p.to_owned());
                    } else {
                        report.error(
                            &iloc,
                            format!("path must start with \"/\", got {}", quote(p)),
                        );
                    }
                }
            }
            config.mcp.paths = paths;
        }
    }
    if let Some((mv, mloc)) = f.take("max_body_bytes") {
        match mv {
            Json::Num(Num::U(n)) if (1..=MAX_MAX_BODY_BYTES).contains(n) => {
                config.mcp.max_body_bytes = usize::try_from(*n).unwrap_or(DEFAULT_MAX_BODY_BYTES);
            }
            other => report.error(
                &mloc,
                format!(
                    "max_body_bytes must be a whole number from 1 to {MAX_MAX_BODY_BYTES}, got {}",
                    other.to_text()
                ),
            ),
        }
    }
    f.finish(report);
}

impl Config {
    fn single(policy: Policy) -> Config {
        let mut c = Config::single_placeholder();
        c.policies.push((String::new(), policy));
        c
    }

    fn single_placeholder() -> Config {
        Config {
            policies: Vec::new(),
            grants: Vec::new(),
            grant_index: Names::default(),
            uses_grants: false,
            unmatched: None,
            identity: Vec::new(),
            counter_namespace: None,
            strip_authorization: false,
            mcp: Mcp {
                paths: vec!["/mcp".into()],
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            },
            deny_as: DenyAs::ToolError,
            audit: Audit {
                log: true,
                arguments: ArgumentAudit::Keys,
            },
            approval: None,
            rls: None,
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
