//! The filter's API: `POST /v1/check` (see `filter/src/outside/approval.rs`).
//!
//! Owns: reading and validating the question, and writing the answer
//! (`approved`, `denied` or `pending` with the approval URL). Does not own:
//! the decision logic (`store::Store::check`, one transaction), the binding
//! (`binding`), or anything that approves: this API can only consume an
//! approval a person made. Deliberately outside the approvers' session,
//! CSRF and origin rules: it changes nothing a person decided.
//!
//! The question, `Content-Type: application/json`:
//!
//! ```json
//! {"binding":{"arguments":{..},"authority":"..","grant":..,"identity":..,"namespace":"..","path":"..","policy_sha256":..,"reason":..,"rule":..,"tool":..},
//!  "digest":"<64 hex, optional>","session":"..." or null,"request_id":"..." or null}
//! ```
//!
//! The call digest is computed here, over the exact bytes of `binding` in
//! the body; a `digest` that differs from it is refused (400). What the
//! page shows as the call comes from that same `binding`, so the call a
//! person approves is the call the digest names. `session` and
//! `request_id` are context for the person only, not bound. Any other
//! top-level field (the old `tool`, `arguments`, ... among them) is refused.
//!
//! The body may be large (see [`CHECK_BODY_LIMIT`]): a call's arguments
//! are in it, and a check refused for its size would read to the filter as
//! an unavailable service rather than as a call nobody approved.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::binding::Binding;
use crate::store::{Call, Check};
use crate::App;

/// The largest check body accepted: the filter reads request bodies of at
/// most 64 MiB, and the binding is no larger than the body plus a few
/// hundred bytes of its other members. Only this route has it; the
/// approvers' forms keep small limits (`web::FORM_BODY_LIMIT`).
pub const CHECK_BODY_LIMIT: usize = 80 * 1024 * 1024;

/// The question's JSON, as the filter writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    /// The call: its exact text is hashed, parsed and shown.
    binding: Box<RawValue>,
    /// The filter's own digest of `binding`; checked when present.
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
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
    // A struct also deserializes from an array, by position.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return bad_request("not a check: the body must be a JSON object".into());
    }
    let question: Question = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => {
            return bad_request(format!(
                "not a check: {e} (a check is {{\"binding\": {{..}}, \"digest\", \"session\", \"request_id\"}})"
            ))
        }
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
    // The exact text of the binding in the body: what is hashed is what is
    // shown.
    let binding = Binding::parse(q.binding.get())?;
    let call = Call::new(binding, q.session, q.request_id);
    if let Some(sent) = q.digest {
        if !sent.eq_ignore_ascii_case(&call.digest) {
            return Err(format!(
                "digest {sent:?} is not the SHA-256 of the binding as sent ({})",
                call.digest
            ));
        }
    }
    Ok(call)
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
