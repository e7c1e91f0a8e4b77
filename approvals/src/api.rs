//! The filter's API: `POST /v1/check` (see `filter/src/approval.rs`).
//!
//! Owns: reading and validating the question, and writing the answer
//! (`approved`, `denied` or `pending` with the approval URL). Does not own:
//! the decision logic (`store::Store::check`, one transaction) or anything
//! that approves: this API can only consume an approval a person made.
//! Deliberately outside the approvers' session, CSRF and origin rules: it
//! changes nothing a person decided.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::store::{Call, Check};
use crate::App;

/// The question's JSON, as the filter writes it. The call itself (digest,
/// tool, arguments) is required; what only explains it to a person may be
/// missing.
#[derive(Deserialize)]
struct Question {
    digest: String,
    tool: String,
    arguments: Box<RawValue>,
    identity: Option<String>,
    grant: Option<String>,
    session: Option<String>,
    request_id: Option<String>,
    #[serde(default)]
    policy_sha256: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    reason: String,
}

pub async fn check(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    // JSON only: a cross-site HTML form cannot send it, so a page an agent
    // shows cannot fill the queue from an approver's browser.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return bad_request("content-type must be application/json".into());
    }
    let question: Question = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return bad_request(format!("not a check: {e}")),
    };
    let call = match to_call(question) {
        Ok(c) => c,
        Err(why) => return bad_request(why),
    };
    let ttl = app.ttl();
    let answer = app
        .with_store(move |store, now| store.check(&call, now, ttl))
        .await;
    match answer {
        Ok(Ok(Check::Approved { approver, .. })) => {
            Json(json!({"status": "approved", "approver": approver})).into_response()
        }
        Ok(Ok(Check::Denied {
            approver, reason, ..
        })) => {
            let reason = if reason.is_empty() {
                "no reason given".to_owned()
            } else {
                reason
            };
            Json(json!({"status": "denied", "approver": approver, "reason": reason}))
                .into_response()
        }
        Ok(Ok(Check::Pending { id, .. })) => Json(json!({
            "status": "pending",
            "url": format!("{}/approvals/{id}", app.public_url()),
            "elicitation_id": id,
        }))
        .into_response(),
        Ok(Err(e)) => server_error(&e.to_string()),
        Err(e) => server_error(&e),
    }
}

fn to_call(q: Question) -> Result<Call, String> {
    let digest = q.digest.to_ascii_lowercase();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("digest must be 64 hex digits".into());
    }
    if q.tool.is_empty() {
        return Err("tool must not be empty".into());
    }
    // Kept as sent: the approver sees exactly the numbers and strings the
    // filter asked about.
    let arguments = q.arguments.get().trim();
    if !arguments.starts_with('{') {
        return Err("arguments must be a JSON object".into());
    }
    Ok(Call {
        digest,
        tool: q.tool,
        arguments: arguments.to_owned(),
        identity: q.identity,
        grant: q.grant,
        session: q.session,
        request_id: q.request_id,
        policy_sha256: q.policy_sha256,
        rule: q.rule,
        reason: q.reason,
    })
}

fn bad_request(why: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
}

fn server_error(why: &str) -> Response {
    eprintln!("approvals: check failed: {why}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "the approval store failed" })),
    )
        .into_response()
}
