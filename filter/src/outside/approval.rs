//! Human approval (SPEC §7.2): what the filter asks the approval service
//! about one call, and what the service answers.
//!
//! Owns: the binding an approval is tied to and its digest, the question's
//! JSON, and reading the answer. Pure: the HTTP call itself is the stream's (`stream`,
//! through its `Host`), the service is the CLI's (`mcp-policy approvals
//! serve`), and the reply to the agent is `respond`'s.
//!
//! The service's API, as the filter uses it: `POST /v1/check` with
//! `{"binding": {...}, "digest": sha256(binding's text), "session", "request_id"}`
//! (the service recomputes the digest from the binding it shows); `200`
//! with `{"status":"approved","approver":..}`,
//! `{"status":"denied","approver":..,"reason":..}` or
//! `{"status":"pending","url":..,"elicitation_id":..}`. Anything else (another
//! status, a body that does not read so, a timeout, a reset) is the service
//! being unavailable. The check consumes an approval; nothing on it approves.

use crate::json::write::push_str;
use crate::json::Json;

/// The path of the service's check, on the `approval.cluster`.
pub const CHECK_PATH: &str = "/v1/check";

/// `approval` in the plugin configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalService {
    /// The Envoy cluster of the approval service.
    pub cluster: String,
    pub timeout_ms: u64,
    pub on_unavailable: OnUnavailable,
}

pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;

/// What a call that needs approval becomes when the service cannot say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnavailable {
    Deny,
    Allow,
}

/// One call, as the approval service is asked about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// What an approval is bound to: SHA-256 of the binding's text.
    pub digest: String,
    /// The JSON body of the check.
    pub body: String,
    /// Whether the agent's client said it opens URL elicitations (a
    /// 2026-07-28 request): how a pending answer is put to it.
    pub elicits_url: bool,
}

/// Facts about the call that go into the question besides the call itself.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// Where the call goes: the request's `:authority` and path (without
    /// its query), and the counter namespace (the listener and plugin
    /// configuration). An approval for one endpoint is not one for another.
    pub authority: &'a str,
    pub path: &'a str,
    pub namespace: &'a str,
    pub identity: Option<&'a str>,
    pub grant: Option<&'a str>,
    pub session: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub policy_sha256: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
}

/// What an approval is bound to, as JSON text: the call's arguments as the
/// agent wrote them (whitespace removed; member order, number spellings and
/// escapes kept, since a server reads all three: `1e2` and `100` are a
/// float and an int to Python, two keys in another order reach a tool in
/// another order, and integers past 2^64 keep every digit), the tool, the
/// caller's identity (with its source; `null` when anonymous) and grant,
/// the policy's digest, the rule and reason that asked for approval, and
/// where the call goes (authority, path, namespace).
/// Nothing in it changes between two sends of one call, and anything that
/// makes another call changes it. The approval service hashes exactly this
/// text and shows the approver exactly what it says, so a check cannot
/// show one call and bind another.
pub fn binding(tool: &str, arguments: &str, asker: Asker<'_>) -> String {
    let mut text = String::with_capacity(arguments.len().saturating_add(256));
    text.push_str("{\"arguments\":");
    text.push_str(arguments);
    push_members(
        &mut text,
        &[
            ("authority", Some(asker.authority)),
            ("grant", asker.grant),
            ("identity", asker.identity),
            ("namespace", Some(asker.namespace)),
            ("path", Some(asker.path)),
            ("policy_sha256", Some(asker.policy_sha256)),
            ("reason", Some(asker.reason)),
            ("rule", Some(asker.rule)),
            ("tool", Some(tool)),
        ],
    );
    text.push('}');
    text
}

/// Appends `,"key":value` for each member: a string, or `null`.
fn push_members(out: &mut String, members: &[(&str, Option<&str>)]) {
    for (key, value) in members {
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        match value {
            Some(v) => push_str(out, v),
            None => out.push_str("null"),
        }
    }
}

/// The question about a call of `tool` whose arguments are `arguments`
/// (compact JSON text of an object, `{}` when there are none).
pub fn question(tool: &str, arguments: &str, asker: Asker<'_>) -> Question {
    let binding = binding(tool, arguments, asker);
    let digest = crate::digest::sha256_hex(binding.as_bytes());
    let mut body = String::with_capacity(binding.len().saturating_add(160));
    body.push_str("{\"binding\":");
    body.push_str(&binding);
    body.push_str(",\"digest\":");
    push_str(&mut body, &digest);
    // Context for the approver, not bound: they differ between sends.
    push_members(
        &mut body,
        &[("session", asker.session), ("request_id", asker.request_id)],
    );
    body.push('}');
    Question {
        digest,
        body,
        elicits_url: false,
    }
}

/// The service's answer about one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A person approved this exact call; the approval is now used.
    Approved {
        approver: String,
    },
    /// The service refused the question itself (a 4xx): the call is
    /// denied, whatever `on_unavailable` says, since a caller can provoke a
    /// refusal (a body too large for the service) at will.
    Refused {
        why: String,
    },
    Denied {
        approver: String,
        reason: String,
    },
    /// Nobody has decided yet: a person approves it at `url`.
    Pending {
        url: String,
        elicitation_id: String,
    },
    /// No answer that reads as one of the above.
    Unavailable {
        why: String,
    },
}

/// Reads the service's HTTP answer (`None`: the call failed, no response).
pub fn read_answer(status: Option<u32>, body: &[u8]) -> Answer {
    let unavailable = |why: String| Answer::Unavailable { why };
    let Some(status) = status else {
        return unavailable("no response".into());
    };
    if (400..500).contains(&status) {
        return Answer::Refused {
            why: format!("status {status}"),
        };
    }
    if status != 200 {
        return unavailable(format!("status {status}"));
    }
    let Ok(value) = crate::json::parse(body) else {
        return unavailable("an answer that is not JSON".into());
    };
    let text = |key: &str| value.get(key).and_then(Json::as_str).map(str::to_owned);
    match value.get("status").and_then(Json::as_str) {
        Some("approved") => Answer::Approved {
            approver: text("approver").unwrap_or_default(),
        },
        Some("denied") => Answer::Denied {
            approver: text("approver").unwrap_or_default(),
            reason: text("reason").unwrap_or_default(),
        },
        Some("pending") => match (text("url"), text("elicitation_id")) {
            (Some(url), Some(elicitation_id)) if !url.is_empty() && !elicitation_id.is_empty() => {
                Answer::Pending {
                    url,
                    elicitation_id,
                }
            }
            _ => unavailable("a pending answer without url and elicitation_id".into()),
        },
        _ => unavailable("an answer without a known status".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    const ASKER: Asker<'static> = Asker {
        authority: "mcp.example",
        path: "/mcp",
        namespace: "mcp_policy@10000",
        identity: Some("h:x-agent-id\u{1f}agent-a"),
        grant: Some("billing"),
        session: None,
        request_id: Some("r-1"),
        policy_sha256: "abc",
        rule: "/tools/pay/action",
        reason: "Payments need a person",
    };

    fn digest(tool: &str, args: &str, asker: Asker<'_>) -> String {
        question(tool, args, asker).digest
    }

    #[test]
    fn the_digest_binds_every_part_of_the_call() {
        let base = digest("pay", r#"{"amount":100,"to":"acct-1"}"#, ASKER);
        for d in [
            digest("pay", r#"{"amount":101,"to":"acct-1"}"#, ASKER),
            // Another spelling a server reads differently.
            digest("pay", r#"{"amount":1e2,"to":"acct-1"}"#, ASKER),
            digest("pay", r#"{"amount":100.0,"to":"acct-1"}"#, ASKER),
            // Another member order: a tool may act in order.
            digest("pay", r#"{"to":"acct-1","amount":100}"#, ASKER),
            digest("pay2", r#"{"amount":100,"to":"acct-1"}"#, ASKER),
            digest(
                "pay",
                r#"{"amount":100,"to":"acct-1"}"#,
                Asker {
                    identity: Some("h:x-agent-id\u{1f}agent-b"),
                    ..ASKER
                },
            ),
            digest(
                "pay",
                r#"{"amount":100,"to":"acct-1"}"#,
                Asker {
                    identity: None,
                    ..ASKER
                },
            ),
            digest(
                "pay",
                r#"{"amount":100,"to":"acct-1"}"#,
                Asker {
                    policy_sha256: "abd",
                    ..ASKER
                },
            ),
            // Another endpoint or listener.
            digest(
                "pay",
                r#"{"amount":100,"to":"acct-1"}"#,
                Asker {
                    path: "/prod/mcp",
                    ..ASKER
                },
            ),
            digest(
                "pay",
                r#"{"amount":100,"to":"acct-1"}"#,
                Asker {
                    authority: "prod.example",
                    ..ASKER
                },
            ),
            digest(
                "pay",
                r#"{"amount":100,"to":"acct-1"}"#,
                Asker {
                    namespace: "mcp_policy@10001",
                    ..ASKER
                },
            ),
        ] {
            assert_ne!(d, base);
        }
        // What differs between two sends of one call is not bound.
        let again = Asker {
            session: Some("s-2"),
            request_id: Some("r-2"),
            ..ASKER
        };
        assert_eq!(
            digest("pay", r#"{"amount":100,"to":"acct-1"}"#, again),
            base
        );
    }

    #[test]
    fn the_question_is_strict_json_and_its_digest_is_the_bindings() {
        let args = r#"{"note":"a \"quoted\" </script>","n":18446744073709551617}"#;
        let q = question("pay", args, ASKER);
        let v = parse(q.body.as_bytes()).unwrap();
        let binding = binding("pay", args, ASKER);
        // The binding's text appears in the body as it was hashed.
        assert!(q.body.starts_with(&format!("{{\"binding\":{binding},")));
        assert_eq!(q.digest, crate::digest::sha256_hex(binding.as_bytes()));
        assert_eq!(
            v.get("digest").and_then(Json::as_str),
            Some(q.digest.as_str())
        );
        let b = v.get("binding").unwrap();
        assert_eq!(b.get("tool").and_then(Json::as_str), Some("pay"));
        assert_eq!(b.get("grant").and_then(Json::as_str), Some("billing"));
        assert_eq!(v.get("session"), Some(&Json::Null));
        assert!(q.body.contains("18446744073709551617"), "every digit");
    }

    #[test]
    fn answers_read_strictly() {
        assert_eq!(
            read_answer(Some(200), br#"{"status":"approved","approver":"alice"}"#),
            Answer::Approved {
                approver: "alice".into()
            }
        );
        assert_eq!(
            read_answer(
                Some(200),
                br#"{"status":"denied","approver":"bob","reason":"no"}"#
            ),
            Answer::Denied {
                approver: "bob".into(),
                reason: "no".into()
            }
        );
        assert_eq!(
            read_answer(
                Some(200),
                br#"{"status":"pending","url":"https://a/x","elicitation_id":"x"}"#
            ),
            Answer::Pending {
                url: "https://a/x".into(),
                elicitation_id: "x".into()
            }
        );
        assert!(matches!(
            read_answer(Some(413), b"payload too large"),
            Answer::Refused { .. }
        ));
        for (status, body) in [
            (None, &b""[..]),
            (Some(503), br#"{"status":"approved"}"#),
            (Some(200), b"approved"),
            (Some(200), br#"{"status":"maybe"}"#),
            (Some(200), br#"{"status":"pending"}"#),
            (Some(200), br#"{"status":"approved","status":"denied"}"#),
        ] {
            assert!(
                matches!(read_answer(status, body), Answer::Unavailable { .. }),
                "{status:?} {}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
