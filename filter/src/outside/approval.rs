//! Human approval (SPEC §7.2): what the filter asks the approval service
//! about one call, and what the service answers.
//!
//! Owns: the call digest an approval is bound to, the question's JSON, and
//! reading the answer. Pure: the HTTP call itself is the stream's (`stream`,
//! through its `Host`), the service is the CLI's (`mcp-policy approvals
//! serve`), and the reply to the agent is `respond`'s.
//!
//! The service's API, as the filter uses it: `POST /v1/check` with the
//! question; `200` with `{"status":"approved","approver":..}`,
//! `{"status":"denied","approver":..,"reason":..}` or
//! `{"status":"pending","url":..,"elicitation_id":..}`. Anything else (another
//! status, a body that does not read so, a timeout, a reset) is the service
//! being unavailable. The check consumes an approval; nothing on it approves.

use crate::json::write::{binding, push_json, push_str};
use crate::json::{Json, Object};

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
    /// What an approval is bound to (`call_digest`).
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
    pub identity: Option<&'a str>,
    pub grant: Option<&'a str>,
    pub session: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub policy_sha256: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
}

/// SHA-256 over the canonical JSON of the tool, its arguments (`{}` when
/// none), the caller's identity (with its source, `null` for an anonymous
/// caller) and the policy digest: another argument, caller or policy is
/// another call, which needs its own approval. Integers keep every digit
/// (`json::write::binding`): readers that differ beyond 2^53 still see two
/// calls.
pub fn call_digest(
    tool: &str,
    arguments: Option<&Object<'_>>,
    identity: Option<&str>,
    policy_sha256: &str,
) -> String {
    let mut text = String::with_capacity(256);
    text.push_str("{\"arguments\":");
    match arguments {
        Some(a) => text.push_str(&binding(&Json::Obj(a.clone()))),
        None => text.push_str("{}"),
    }
    text.push_str(",\"identity\":");
    match identity {
        Some(i) => push_str(&mut text, i),
        None => text.push_str("null"),
    }
    text.push_str(",\"policy_sha256\":");
    push_str(&mut text, policy_sha256);
    text.push_str(",\"tool\":");
    push_str(&mut text, tool);
    text.push('}');
    crate::digest::sha256_hex(text.as_bytes())
}

/// The question about a call of `tool` with `arguments`.
pub fn question(tool: &str, arguments: Option<&Object<'_>>, asker: Asker<'_>) -> Question {
    let digest = call_digest(tool, arguments, asker.identity, asker.policy_sha256);
    let mut body = String::with_capacity(512);
    body.push_str("{\"digest\":");
    push_str(&mut body, &digest);
    body.push_str(",\"tool\":");
    push_str(&mut body, tool);
    body.push_str(",\"arguments\":");
    match arguments {
        Some(a) => push_json(&mut body, &Json::Obj(a.clone())),
        None => body.push_str("{}"),
    }
    for (key, value) in [
        ("identity", asker.identity),
        ("grant", asker.grant),
        ("session", asker.session),
        ("request_id", asker.request_id),
        ("policy_sha256", Some(asker.policy_sha256)),
        ("rule", Some(asker.rule)),
        ("reason", Some(asker.reason)),
    ] {
        body.push_str(",\"");
        body.push_str(key);
        body.push_str("\":");
        match value {
            Some(v) => push_str(&mut body, v),
            None => body.push_str("null"),
        }
    }
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

    fn args(text: &str) -> Object<'static> {
        match parse(text.as_bytes()).unwrap().into_owned() {
            Json::Obj(o) => o,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn the_digest_binds_tool_arguments_caller_and_policy() {
        let a = args(r#"{"amount":100,"to":"acct-1"}"#);
        let base = call_digest("pay", Some(&a), Some("h:x\u{1f}agent-a"), "p1");
        // Spelling does not matter...
        let respelled = args(r#"{ "to":"acct-\u0031", "amount":100 }"#);
        assert_eq!(
            call_digest("pay", Some(&respelled), Some("h:x\u{1f}agent-a"), "p1"),
            base
        );
        // ...every part does.
        let other = args(r#"{"amount":101,"to":"acct-1"}"#);
        for d in [
            call_digest("pay", Some(&other), Some("h:x\u{1f}agent-a"), "p1"),
            call_digest("pay2", Some(&a), Some("h:x\u{1f}agent-a"), "p1"),
            call_digest("pay", Some(&a), Some("h:x\u{1f}agent-b"), "p1"),
            call_digest("pay", Some(&a), None, "p1"),
            call_digest("pay", Some(&a), Some("h:x\u{1f}agent-a"), "p2"),
            call_digest("pay", None, Some("h:x\u{1f}agent-a"), "p1"),
        ] {
            assert_ne!(d, base);
        }
        // No arguments and empty arguments are one call.
        assert_eq!(
            call_digest("pay", None, None, "p"),
            call_digest("pay", Some(&args("{}")), None, "p")
        );
    }

    #[test]
    fn integers_one_double_apart_are_two_calls() {
        let a = args(r#"{"amount":9007199254740992}"#);
        let b = args(r#"{"amount":9007199254740993}"#);
        assert_ne!(
            call_digest("pay", Some(&a), None, "p"),
            call_digest("pay", Some(&b), None, "p")
        );
        // Decimals are doubles to every reader: one spelling is one call.
        let c = args(r#"{"amount":0.1}"#);
        let d = args(r#"{"amount":1e-1}"#);
        assert_eq!(
            call_digest("pay", Some(&c), None, "p"),
            call_digest("pay", Some(&d), None, "p")
        );
    }

    #[test]
    fn the_question_is_strict_json_with_every_fact() {
        let a = args(r#"{"note":"a \"quoted\" </script>"}"#);
        let q = question(
            "pay",
            Some(&a),
            Asker {
                identity: Some("h:x-agent-id\u{1f}agent-a"),
                grant: Some("billing"),
                session: None,
                request_id: Some("r-1"),
                policy_sha256: "abc",
                rule: "/tools/pay/action",
                reason: "Payments need a human",
            },
        );
        let v = parse(q.body.as_bytes()).unwrap();
        assert_eq!(
            v.get("digest").and_then(Json::as_str),
            Some(q.digest.as_str())
        );
        assert_eq!(v.get("tool").and_then(Json::as_str), Some("pay"));
        assert_eq!(
            v.get("arguments")
                .and_then(|a| a.get("note"))
                .and_then(Json::as_str),
            Some("a \"quoted\" </script>")
        );
        assert_eq!(v.get("session"), Some(&Json::Null));
        assert_eq!(v.get("grant").and_then(Json::as_str), Some("billing"));
        assert_eq!(
            v.get("rule").and_then(Json::as_str),
            Some("/tools/pay/action")
        );
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
