//! The plugin configuration: forms, errors with paths, and naming callers.

use super::*;
use std::collections::HashMap;

#[derive(Default, Clone)]
struct Facts {
    headers: HashMap<String, String>,
    properties: HashMap<Vec<String>, Vec<u8>>,
}

impl Facts {
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.insert(k.into(), v.into());
        self
    }
    fn property(self, path: &[&str], v: &str) -> Self {
        self.raw_property(path, v.as_bytes())
    }
    fn raw_property(mut self, path: &[&str], v: &[u8]) -> Self {
        self.properties
            .insert(path.iter().map(|s| s.to_string()).collect(), v.to_vec());
        self
    }
}

impl RequestFacts for Facts {
    fn header(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.headers
            .get(name)
            .map(|v| std::borrow::Cow::Borrowed(v.as_str()))
    }
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.properties.get(&key).cloned()
    }
}

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text.as_bytes()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_error(text: &str, expected: &str) {
    let found = errors(text);
    assert!(
        found.iter().any(|e| e.starts_with(expected)),
        "expected {expected:?} in {found:#?}"
    );
}

const P: &str = r#"{"version":"1","default":"deny","tools":{"t":{}}}"#;

#[test]
fn a_bare_policy_is_a_whole_configuration() {
    let c = Config::parse(P.as_bytes()).unwrap();
    assert_eq!(c.policies.len(), 1);
    assert!(!c.uses_grants);
    assert_eq!(c.mcp.paths, ["/mcp"]);
    assert_eq!(c.mcp.max_body_bytes, 1 << 20);
    assert_eq!(c.deny_as, DenyAs::ToolError);
    // Errors in a bare policy have paths from the policy's root.
    assert_error(
        r#"{"version":"1","tools":{"t":{"rulez":[]}}}"#,
        "tools.t.rulez: unknown field",
    );
    assert_error(
        &format!(r#"{{"policy":{P},"polices":{{}}}}"#),
        "polices: unknown field",
    );
    // A policy that forgot `tools` is still read as a policy.
    assert_eq!(
        errors(r#"{"version":"1","default":"deny","hide":"*"}"#),
        [r#"missing field "tools""#]
    );
}

#[test]
fn the_full_configuration() {
    let text = format!(
        r#"{{"policies":{{"readonly":{P},"ops":{P}}},
            "grants":{{"billing-agent":{{"policy":"ops","match":["spiffe://corp/agent/billing","sub:1234"]}},
                      "nobody":{{"match":["nobody"]}}}},
            "unmatched":"readonly",
            "identity":[{{"header":"X-Agent-Id"}},{{"jwt_claim":{{"provider":"agents","claim":"sub"}}}},{{"peer":"uri_san"}},{{"bearer_sha256":true,"strip_authorization":true}}],
            "mcp":{{"paths":["/mcp","/v2/mcp"],"max_body_bytes":2048}},
            "deny_as":"jsonrpc_error",
            "audit":{{"log":false,"arguments":"sha256"}}}}"#
    );
    let c = Config::parse(text.as_bytes()).unwrap();
    assert_eq!(c.identity[0], IdentitySource::Header("x-agent-id".into()));
    assert!(c.strip_authorization);
    assert_eq!(c.mcp.max_body_bytes, 2048);
    assert!(c.is_mcp_path("/v2/mcp?x=1"));
    assert!(!c.is_mcp_path("/health"));
    assert_eq!(c.deny_as, DenyAs::JsonRpcError);
    assert!(!c.audit.log);
    assert_eq!(c.audit.arguments, ArgumentAudit::Sha256);

    let name = |facts: Facts| {
        let caller = c.caller(&facts);
        (
            caller.grant,
            caller.policy.map(|i| c.policies[i].0.clone()),
            caller.denied_by,
        )
    };
    // "spiffe://..." is the peer's entry: a header saying it is nobody.
    assert_eq!(
        name(Facts::default().header("x-agent-id", "spiffe://corp/agent/billing")),
        (None, Some("readonly".into()), "/unmatched".into())
    );
    let spiffe_peer = Facts::default().property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://corp/agent/billing",
    );
    assert_eq!(
        name(spiffe_peer.clone()).0,
        Some("billing-agent".into()),
        "the peer matches its own entry"
    );
    // The first source that yields a value decides, even if it matches nothing.
    assert_eq!(
        name(spiffe_peer.header("x-agent-id", "someone")).1,
        Some("readonly".into())
    );
    let jwt = &[
        "metadata",
        "filter_metadata",
        "envoy.filters.http.jwt_authn",
        "agents",
        "sub",
    ];
    assert_eq!(
        name(Facts::default().property(jwt, "1234")).0,
        Some("billing-agent".into()),
        "sub:1234 is the claim's entry"
    );
    assert_eq!(
        name(Facts::default().header("x-agent-id", "sub:1234")).0,
        None,
        "a header never poses as a JWT claim"
    );
    // Envoy hands a numeric claim over as the 8 bytes of a double, a
    // boolean as one byte.
    assert_eq!(
        name(Facts::default().raw_property(jwt, &1234f64.to_le_bytes())).0,
        Some("billing-agent".into()),
        "a numeric claim reads as its integer"
    );
    // A claim that is there but unreadable (an object, a list) is an
    // identity no grant matches, never a reason to try a forgeable header.
    let odd_claim = Facts::default()
        .raw_property(jwt, b"\x0a\x80\xff\x12")
        .header("x-agent-id", "spiffe://corp/agent/billing");
    let c2 = Config::parse(
        text.replace(r#"{"header":"X-Agent-Id"},"#, "")
            .replace(
                r#"{"peer":"uri_san"},"#,
                r#"{"peer":"uri_san"},{"header":"X-Agent-Id"},"#,
            )
            .as_bytes(),
    )
    .unwrap();
    let odd = c2.caller(&odd_claim);
    assert_eq!((odd.grant, odd.denied_by.as_str()), (None, "/unmatched"));
    assert_eq!(
        name(Facts::default().header("x-agent-id", "nobody")),
        (Some("nobody".into()), None, "/grants/nobody".into()),
        "a plain string is the header's"
    );
    assert_eq!(
        name(Facts::default()),
        (None, Some("readonly".into()), "/unmatched".into())
    );
    assert_eq!(
        name(Facts::default().header("x-agent-id", "  ")).1,
        Some("readonly".into()),
        "blank is no value"
    );
}

#[test]
fn bearer_tokens_match_by_digest_and_never_appear() {
    let digest = crate::digest::sha256_hex(b"s3cret-token");
    let text = format!(
        r#"{{"policies":{{"p":{P}}},"grants":{{"g":{{"policy":"p","match":["{}"]}}}},"identity":[{{"bearer_sha256":true}}]}}"#,
        digest.to_uppercase()
    );
    let c = Config::parse(text.as_bytes()).unwrap();
    let caller = c.caller(&Facts::default().header("authorization", "Bearer s3cret-token"));
    assert_eq!(caller.grant.as_deref(), Some("g"));
    assert_eq!(
        caller.identity.as_deref(),
        Some(format!("b\u{1f}{digest}").as_str())
    );
    assert!(!format!("{caller:?}").contains("s3cret"));
    let unmatched = c.caller(&Facts::default().header("authorization", "Basic czNjcmV0"));
    assert_eq!(
        (unmatched.grant, unmatched.policy),
        (None, None),
        "unmatched defaults to deny"
    );
}

/// SPEC §4.1: each identity source is its own namespace.
#[test]
fn identity_sources_are_namespaces() {
    let digest = crate::digest::sha256_hex(b"tok");
    let text = format!(
        r#"{{"policies":{{"p":{P}}},
            "grants":{{"bearer":{{"policy":"p","match":["{digest}"]}},
                      "claim":{{"policy":"p","match":[{{"jwt_claim":"sub","value":"42"}}]}},
                      "head":{{"policy":"p","match":[{{"header":"X-Agent-Id","value":"ops"}},"dev"]}},
                      "peer":{{"policy":"p","match":[{{"peer":"uri_san","value":"a.corp"}}]}}}},
            "identity":[{{"header":"x-agent-id"}},{{"jwt_claim":{{"provider":"idp","claim":"sub"}}}},
                        {{"peer":"uri_san"}},{{"bearer_sha256":true}}]}}"#
    );
    let c = Config::parse(text.as_bytes()).unwrap();
    let grant = |facts: Facts| c.caller(&facts).grant;
    let jwt = [
        "metadata",
        "filter_metadata",
        "envoy.filters.http.jwt_authn",
        "idp",
        "sub",
    ];
    let bearer = || Facts::default().header("authorization", "Bearer tok");
    assert_eq!(grant(bearer()), Some("bearer".into()));
    assert_eq!(grant(Facts::default().header("x-agent-id", &digest)), None);
    assert_eq!(
        grant(Facts::default().property(&jwt, "42")),
        Some("claim".into())
    );
    assert_eq!(grant(Facts::default().header("x-agent-id", "42")), None);
    assert_eq!(
        grant(Facts::default().header("x-agent-id", "ops")),
        Some("head".into())
    );
    assert_eq!(
        grant(Facts::default().header("x-agent-id", "dev")),
        Some("head".into())
    );
    assert_eq!(grant(Facts::default().property(&jwt, "ops")), None);
    let dns = ["connection", "uri_san_peer_certificate"];
    assert_eq!(
        grant(Facts::default().property(&dns, "a.corp")),
        Some("peer".into())
    );
    assert_eq!(grant(Facts::default().header("x-agent-id", "a.corp")), None);
    // Callers no grant matches share one count, whatever they bring.
    let a = c
        .caller(&Facts::default().header("x-agent-id", "x"))
        .identity;
    let b = c
        .caller(&Facts::default().header("x-agent-id", "y"))
        .identity;
    let anonymous = c.caller(&Facts::default()).identity;
    assert_eq!((&a, &b), (&anonymous, &anonymous));
    // Without a grant table, counters key on the namespaced identity: one
    // value from two sources is two callers.
    let single = Config::parse(
        format!(
            r#"{{"policy":{P},"identity":[{{"header":"x-agent-id"}},{{"jwt_claim":{{"provider":"idp","claim":"sub"}}}}]}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    let a = single
        .caller(&Facts::default().header("x-agent-id", "x"))
        .identity;
    let b = single
        .caller(&Facts::default().property(&jwt, "x"))
        .identity;
    assert_ne!(a, b);
    // A string every source could hold is refused.
    let ambiguous = format!(
        r#"{{"policies":{{"p":{P}}},"grants":{{"g":{{"policy":"p","match":["ops"]}}}},
            "identity":[{{"header":"a"}},{{"peer":"dns_san"}}]}}"#
    );
    assert_error(
        &ambiguous,
        "grants.g.match[0]: identity \"ops\" could be the value of more than one",
    );
    let missing = format!(
        r#"{{"policies":{{"p":{P}}},"grants":{{"g":{{"policy":"p","match":[{{"header":"c","value":"x"}}]}}}},
            "identity":[{{"header":"a"}}]}}"#
    );
    assert_error(
        &missing,
        "grants.g.match[0]: no identity source reads the header c",
    );
    // Strings are read by form, and `check` says how.
    assert!(c
        .warnings
        .iter()
        .any(|w| w.to_string().contains("read as the bearer_sha256's value")));
}

#[test]
fn counter_namespace() {
    let c =
        Config::parse(format!(r#"{{"policy":{P},"counters":{{"namespace":"gw"}}}}"#).as_bytes())
            .unwrap();
    assert_eq!(c.counter_namespace.as_deref(), Some("gw"));
    assert_error(
        &format!(r#"{{"policy":{P},"counters":{{"namespace":" "}}}}"#),
        "counters.namespace: namespace must not be empty",
    );
    assert_error(
        &format!(r#"{{"policy":{P},"counters":{{"space":"x"}}}}"#),
        "counters.space: unknown field",
    );
}

#[test]
fn configuration_errors_have_paths() {
    let grants = |g: &str| format!(r#"{{"policies":{{"p":{P}}},"grants":{g}}}"#);
    assert_error(
        &grants(r#"{"g":{"policy":"q","match":["a"]}}"#),
        r#"grants.g.policy: grant names a missing policy "q""#,
    );
    assert_error(
        &grants(r#"{"g":{"policy":"p"}}"#),
        r#"grants.g: missing field "match""#,
    );
    assert_error(
        &grants(r#"{"g":{"policy":"p","match":["a"],"role":"x"}}"#),
        r#"grants.g.role: unknown field"#,
    );
    assert_error(
        &grants(r#"{"g":{"policy":"p","match":["a"]},"h":{"policy":"p","match":["a"]}}"#),
        r#"grants.h.match[0]: identity "a" is already matched by grant "g""#,
    );
    assert_error(
        &format!(r#"{{"policies":{{"p":{P}}},"unmatched":"q"}}"#),
        r#"unmatched: names a missing policy "q""#,
    );
    assert_error(
        &format!(r#"{{"policy":{P},"policies":{{"p":{P}}}}}"#),
        "use \"policy\" or \"policies\", not both",
    );
    assert_error(
        &format!(r#"{{"policy":{P},"grants":{{}}}}"#),
        "grants: grants need named \"policies\"",
    );
    assert_error(r#"{"identity":[]}"#, "missing field \"policy\"");
    let with = |k: &str, v: &str| format!(r#"{{"policy":{P},"{k}":{v}}}"#);
    assert_error(
        &with("identity", r#"[{"cookie":"x"}]"#),
        "identity[0].cookie: unknown field",
    );
    assert_error(
        &with("identity", r#"[{"peer":"ip"}]"#),
        r#"identity[0].peer: peer must be "uri_san", "dns_san" or "subject""#,
    );
    assert_error(
        &with("identity", r#"[{"header":"a","peer":"uri_san"}]"#),
        "identity[0]: an identity source names one of",
    );
    assert_error(
        &with("identity", r#"[{"header":"a","strip_authorization":true}]"#),
        "identity[0].strip_authorization: strip_authorization belongs with",
    );
    assert_error(
        &with("identity", r#"[{"jwt_claim":{"provider":"a"}}]"#),
        "identity[0].jwt_claim: jwt_claim needs",
    );
    assert_error(
        &with("mcp", r#"{"paths":["mcp"]}"#),
        r#"mcp.paths[0]: path must start with "/""#,
    );
    assert_error(
        &with("mcp", r#"{"max_body_bytes":0}"#),
        "mcp.max_body_bytes: max_body_bytes must be a whole number",
    );
    assert_error(
        &with("deny_as", r#""http_403""#),
        r#"deny_as: deny_as must be "tool_error" or "jsonrpc_error""#,
    );
    assert_error(
        &with("audit", r#"{"arguments":"values"}"#),
        r#"audit.arguments: arguments must be "none", "keys" or "sha256""#,
    );
    assert_error(
        r#"{"policies":{"ops":{"version":"1","tools":{"create_charge":{"rules":[{"name":"a","conditions":[{"path":"args.x","op":"gt","value":1}]},{"name":"b","conditions":[{"path":"args.x","op":"gtt","value":1}]}]}}}}}"#,
        r#"policies.ops.tools.create_charge.rules[1].conditions[0].op: unknown operator "gtt""#,
    );
    assert_error("{not json", "configuration is not valid JSON");
    assert_error(
        r#"{"policy":{},"policy":{}}"#,
        "configuration is not valid JSON: duplicate object key",
    );
}

#[test]
fn rls_section_and_its_counters() {
    let rls_tool = r#"{"version":"1","default":"deny","tools":{"t":{"limits":[{"counter":"c","window":"minute","max":3,"backend":"rls"}]}}}"#;
    // A bare policy with an RLS counter has no service to ask.
    assert_error(
        rls_tool,
        "tools.t.limits[0]: backend \"rls\" needs the \"rls\" section",
    );
    assert_error(
        &format!(r#"{{"policies":{{"ops":{rls_tool}}},"grants":{{}}}}"#),
        "policies.ops.tools.t.limits[0]: backend \"rls\" needs the \"rls\" section",
    );
    assert_error(
        &format!(r#"{{"policy":{rls_tool},"rls":{{"cluster":"rl"}}}}"#),
        "rls: missing field \"domain\"",
    );
    assert_error(
        &format!(
            r#"{{"policy":{rls_tool},"rls":{{"cluster":"rl","domain":"mcp","timeout_ms":0,"on_unavailable":"maybe","x":1}}}}"#
        ),
        "rls.timeout_ms: timeout_ms must be a whole number from 1 to 60000",
    );
    let config = Config::parse(
        format!(r#"{{"policy":{rls_tool},"rls":{{"cluster":"rl","domain":"mcp","on_unavailable":"allow"}}}}"#)
            .as_bytes(),
    )
    .unwrap();
    let rls = config.rls.unwrap();
    assert_eq!(
        (rls.cluster.as_str(), rls.domain.as_str(), rls.timeout_ms),
        ("rl", "mcp", 100)
    );
    assert_eq!(
        rls.on_unavailable,
        crate::outside::approval::OnUnavailable::Allow
    );
}
