//! The call binding: the one JSON object an approval is bound to, and the
//! only source of what the approver's page shows as the call.
//!
//! Owns: reading and validating the binding's text, and its digest (lower
//! hex SHA-256 of the text's exact bytes). Does not own: HTTP (`api` takes
//! the text out of the check body with `RawValue`), storage (`store` keeps
//! the text and parses it again on every read) or markup (`html`).
//!
//! The filter writes the binding compactly, keys in this order:
//! `{"arguments":{..},"authority":"..","grant":..,"identity":..,"namespace":"..","path":"..","policy_sha256":..,"reason":..,"rule":..,"tool":..}`.
//! `authority` and `path` name where the call was sent (the request's
//! `:authority` and its path without the query) and `namespace` which of
//! the filter's listeners or configurations saw it: an approval for a call
//! to one endpoint is not one for the same call to another.
//! The service does not depend on that order or spelling: whatever text
//! arrives is what is hashed *and* what is shown, so a caller of the check
//! cannot have a person approve one call while the digest names another.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::sha256_hex;

/// A call binding, parsed from its exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The binding's JSON exactly as received: what the digest is over.
    pub text: String,
    pub tool: String,
    /// The arguments' JSON, a slice of `text`: member order, number
    /// spellings and string escapes as the agent wrote them.
    pub arguments: String,
    /// `<source tag>` U+001F `<value>`, or `None` for an anonymous caller.
    pub identity: Option<String>,
    pub grant: Option<String>,
    /// The request's `:authority` (`Host`) as the filter saw it; may be empty.
    pub authority: String,
    /// The request path without its query string.
    pub path: String,
    /// The filter's counter namespace: its listener or plugin
    /// configuration; may be empty.
    pub namespace: String,
    pub policy_sha256: String,
    pub rule: String,
    pub reason: String,
}

/// Every key is required (`RawValue` has no default), none other is
/// accepted, and a repeated key is refused (serde's derive).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Members<'a> {
    #[serde(borrow)]
    arguments: &'a RawValue,
    #[serde(borrow)]
    authority: &'a RawValue,
    #[serde(borrow)]
    grant: &'a RawValue,
    #[serde(borrow)]
    identity: &'a RawValue,
    #[serde(borrow)]
    namespace: &'a RawValue,
    #[serde(borrow)]
    path: &'a RawValue,
    #[serde(borrow)]
    policy_sha256: &'a RawValue,
    #[serde(borrow)]
    reason: &'a RawValue,
    #[serde(borrow)]
    rule: &'a RawValue,
    #[serde(borrow)]
    tool: &'a RawValue,
}

impl Binding {
    /// Reads a binding; `Err` says what is wrong with it, for a 400.
    pub fn parse(text: &str) -> Result<Binding, String> {
        // A struct also deserializes from an array, by position: only an
        // object is a binding.
        if !text.trim_start().starts_with('{') {
            return Err("binding must be a JSON object".into());
        }
        let m: Members<'_> =
            serde_json::from_str(text).map_err(|e| format!("binding: {}", plain(&e)))?;
        let string = |name: &str, raw: &RawValue| {
            serde_json::from_str::<String>(raw.get())
                .map_err(|_| format!("binding.{name} must be a string"))
        };
        let nullable = |name: &str, raw: &RawValue| {
            serde_json::from_str::<Option<String>>(raw.get())
                .map_err(|_| format!("binding.{name} must be a string or null"))
        };
        let tool = string("tool", m.tool)?;
        if tool.is_empty() {
            return Err("binding.tool must not be empty".into());
        }
        let arguments = m.arguments.get();
        if !arguments.starts_with('{') {
            return Err("binding.arguments must be a JSON object".into());
        }
        Ok(Binding {
            text: text.to_owned(),
            tool,
            arguments: arguments.to_owned(),
            identity: nullable("identity", m.identity)?,
            grant: nullable("grant", m.grant)?,
            authority: string("authority", m.authority)?,
            path: string("path", m.path)?,
            namespace: string("namespace", m.namespace)?,
            policy_sha256: string("policy_sha256", m.policy_sha256)?,
            rule: string("rule", m.rule)?,
            reason: string("reason", m.reason)?,
        })
    }

    /// The call digest: lower-hex SHA-256 of the binding's exact bytes.
    pub fn digest(&self) -> String {
        sha256_hex(&self.text)
    }
}

/// serde's message without its ` at line 1 column N` tail, which says
/// nothing to the filter's operator that the message does not.
fn plain(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"arguments":{"b":1,"a":18446744073709551617},"authority":"mcp.example:8443","grant":"billing","identity":"h:x-agent-id\u001fagent-a","namespace":"mcp_a","path":"/mcp","policy_sha256":"ab","reason":"Payments need a person","rule":"/tools/pay/action","tool":"pay"}"#;

    #[test]
    fn a_binding_reads_and_keeps_its_text() {
        let b = Binding::parse(GOOD).unwrap();
        assert_eq!(b.text, GOOD);
        assert_eq!(b.tool, "pay");
        assert_eq!(b.arguments, r#"{"b":1,"a":18446744073709551617}"#);
        assert_eq!(b.identity.as_deref(), Some("h:x-agent-id\u{1f}agent-a"));
        assert_eq!(b.grant.as_deref(), Some("billing"));
        assert_eq!(b.authority, "mcp.example:8443");
        assert_eq!(b.path, "/mcp");
        assert_eq!(b.namespace, "mcp_a");
        assert_eq!(b.policy_sha256, "ab");
        assert_eq!(b.rule, "/tools/pay/action");
        assert_eq!(b.reason, "Payments need a person");
        assert_eq!(b.digest(), sha256_hex(GOOD));
        let nulls = GOOD
            .replace(r#""billing""#, "null")
            .replace(r#""h:x-agent-id\u001fagent-a""#, "null");
        let b = Binding::parse(&nulls).unwrap();
        assert_eq!((b.grant, b.identity), (None, None));
        // Where the call goes may be empty, but is always said.
        let empty = GOOD
            .replace(r#""mcp.example:8443""#, r#""""#)
            .replace(r#""mcp_a""#, r#""""#);
        let b = Binding::parse(&empty).unwrap();
        assert_eq!((b.authority.as_str(), b.namespace.as_str()), ("", ""));
    }

    #[test]
    fn a_binding_has_exactly_its_keys_with_their_types() {
        let bad = [
            (GOOD.replace(r#","tool":"pay""#, ""), "missing field `tool`"),
            (
                GOOD.replace(r#""grant":"billing","#, ""),
                "missing field `grant`",
            ),
            (
                GOOD.replace(r#""tool":"pay""#, r#""tool":"pay","extra":1"#),
                "unknown field `extra`",
            ),
            (
                GOOD.replace(r#""tool":"pay""#, r#""tool":"pay","tool":"x""#),
                "duplicate field `tool`",
            ),
            (
                GOOD.replace(r#""tool":"pay""#, r#""tool":"""#),
                "tool must not be empty",
            ),
            (
                GOOD.replace(r#""tool":"pay""#, r#""tool":1"#),
                "tool must be a string",
            ),
            (
                GOOD.replace(r#""grant":"billing""#, r#""grant":1"#),
                "grant must be a string or null",
            ),
            (
                GOOD.replace(r#""rule":"/tools/pay/action""#, r#""rule":null"#),
                "rule must be a string",
            ),
            (
                GOOD.replace(r#"{"b":1,"a":18446744073709551617}"#, "[1]"),
                "arguments must be a JSON object",
            ),
            (
                GOOD.replace(r#"{"b":1,"a":18446744073709551617}"#, "null"),
                "arguments must be a JSON object",
            ),
            (
                GOOD.replace(r#""authority":"mcp.example:8443","#, ""),
                "missing field `authority`",
            ),
            (
                GOOD.replace(r#""namespace":"mcp_a","#, ""),
                "missing field `namespace`",
            ),
            (
                GOOD.replace(r#""path":"/mcp","#, ""),
                "missing field `path`",
            ),
            (
                GOOD.replace(r#""authority":"mcp.example:8443""#, r#""authority":null"#),
                "authority must be a string",
            ),
            (
                GOOD.replace(r#""namespace":"mcp_a""#, r#""namespace":null"#),
                "namespace must be a string",
            ),
            (
                GOOD.replace(r#""path":"/mcp""#, r#""path":["/mcp"]"#),
                "path must be a string",
            ),
            ("[1]".to_owned(), "must be a JSON object"),
            ("{".to_owned(), "binding:"),
        ];
        for (text, why) in bad {
            let e = Binding::parse(&text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
