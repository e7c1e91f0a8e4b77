//! The approvers' side: pages, sign-in and sign-out, and approve / deny.
//!
//! Owns: who may see and do what. A page needs a session (an HttpOnly,
//! SameSite=Strict cookie whose token only SQLite's SHA-256 of it knows);
//! every state-changing POST also needs the session's CSRF token in the form
//! and a same-origin `Origin` header, because SameSite alone does not stop
//! a sibling site or an old browser. Does not own: markup (`html`), state
//! (`store`), or the filter's API (`api`), which can approve nothing.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::config::normalize_origin;
use crate::html::{self, Frame, User};
use crate::store::{DecideError, Decision, Request, Session, Status};
use crate::{App, Approver};

pub const COOKIE: &str = "mcp_approvals_session";

/// A denial's reason is shown to the agent and kept in the audit: bounded.
const MAX_REASON_CHARS: usize = 500;

/// The largest body of an approver's form (sign-in, sign-out, approve,
/// deny): a token, a CSRF token and a reason of at most 500 characters.
pub const FORM_BODY_LIMIT: usize = 64 * 1024;

/// A signed-in approver: the cookie's token and its session.
struct Signed {
    token: String,
    session: Session,
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn index(State(app): State<App>, headers: HeaderMap) -> Response {
    let signed = match signed_in(&app, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(signed) = signed else {
        return html_response(
            StatusCode::OK,
            html::sign_in(&frame(&app, None), "/approvals", None),
        );
    };
    match app
        .with_store(|store, now| store.overview(now, 50).map(|o| (o, now)))
        .await
    {
        Ok(Ok(((pending, recent), now))) => html_response(
            StatusCode::OK,
            html::list(&frame(&app, Some(&signed)), &pending, &recent, now),
        ),
        Ok(Err(e)) => server_error(&app, &e.to_string()),
        Err(e) => server_error(&app, &e),
    }
}

pub async fn request_page(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let signed = match signed_in(&app, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !valid_id(&id) {
        return not_found_page(&app, signed.as_ref());
    }
    let path = format!("/approvals/{id}");
    let Some(signed) = signed else {
        // A link followed from another site (chat, mail) arrives without
        // the Strict cookie; reload once from here, where it is sent.
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site");
        if cross_site && session_cookie(&headers).is_none() {
            return html_response(StatusCode::OK, html::reload(&frame(&app, None), &path));
        }
        return html_response(
            StatusCode::OK,
            html::sign_in(&frame(&app, None), &path, None),
        );
    };
    let lookup = id.clone();
    match app
        .with_store(move |store, now| store.request(&lookup, now).map(|r| (r, now)))
        .await
    {
        Ok(Ok((Some(request), now))) => html_response(
            StatusCode::OK,
            html::detail(&frame(&app, Some(&signed)), &request, now),
        ),
        Ok(Ok((None, _))) => not_found_page(&app, Some(&signed)),
        Ok(Err(e)) => server_error(&app, &e.to_string()),
        Err(e) => server_error(&app, &e),
    }
}

pub async fn approve(
    State(app): State<App>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    decide(app, id, uri, headers, form, true).await
}

pub async fn deny(
    State(app): State<App>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Response {
    decide(app, id, uri, headers, form, false).await
}

async fn decide(
    app: App,
    id: String,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<DecisionForm>, FormRejection>,
    approve: bool,
) -> Response {
    let signed = match signed_in(&app, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return forbidden(&app, None, "Sign in to decide on requests."),
        Err(r) => return r,
    };
    let form = form.ok().map(|Form(f)| f);
    let csrf = form.as_ref().map_or("", |f| f.csrf.as_str());
    if let Err(why) = same_site_post(&app, &uri, &headers, &signed.session, csrf) {
        return forbidden(&app, Some(&signed), why);
    }
    if !valid_id(&id) {
        return not_found_page(&app, Some(&signed));
    }
    let decision = if approve {
        Decision::Approve
    } else {
        let reason = form.map(|f| f.reason).unwrap_or_default();
        Decision::Deny {
            reason: reason.trim().chars().take(MAX_REASON_CHARS).collect(),
        }
    };
    let approver = signed.session.approver.clone();
    let ttl = app.ttl();
    let target = id.clone();
    let outcome = app
        .with_store(move |store, now| store.decide(&target, &approver, &decision, now, ttl))
        .await;
    let path = format!("/approvals/{id}");
    match outcome {
        Ok(Ok(request)) => {
            log_decision(&request);
            redirect(&app, &path)
        }
        Ok(Err(DecideError::NotFound)) => not_found_page(&app, Some(&signed)),
        Ok(Err(DecideError::NotPending(request))) => {
            let (title, text) = why_not_pending(&request);
            html_response(
                StatusCode::CONFLICT,
                html::message(&frame(&app, Some(&signed)), title, &text, Some(&path)),
            )
        }
        Ok(Err(DecideError::Store(e))) => server_error(&app, &e.to_string()),
        Err(e) => server_error(&app, &e),
    }
}

/// One line per decision on stdout; values quoted so a tool name cannot
/// forge log lines.
fn log_decision(r: &Request) {
    let Some(d) = &r.decision else { return };
    if d.approved {
        println!(
            "approvals: request {} approved by {:?} (tool {:?}, digest {})",
            r.id, d.approver, r.call.binding.tool, r.call.digest
        );
    } else {
        println!(
            "approvals: request {} denied by {:?} (tool {:?}, digest {}, reason {:?})",
            r.id, d.approver, r.call.binding.tool, r.call.digest, d.reason
        );
    }
}

fn why_not_pending(r: &Request) -> (&'static str, String) {
    let by = r
        .decision
        .as_ref()
        .map(|d| d.approver.as_str())
        .unwrap_or_default();
    match r.status {
        Status::Approved => (
            "Already decided",
            format!("This request was already approved by {by}."),
        ),
        Status::Used => (
            "Already decided",
            format!("This request was approved by {by} and the approval has been used."),
        ),
        Status::Denied => (
            "Already decided",
            format!("This request was already denied by {by}."),
        ),
        Status::Expired if r.decision.is_some() => (
            "Approval expired",
            format!("This request was approved by {by} but never used, and has expired."),
        ),
        Status::Expired | Status::Pending => (
            "Request expired",
            "This request expired before anyone decided; the agent's next retry opens a new one."
                .into(),
        ),
    }
}

pub async fn login_page(State(app): State<App>, headers: HeaderMap) -> Response {
    match signed_in(&app, &headers).await {
        Ok(Some(_)) => redirect(&app, "/approvals"),
        Ok(None) => html_response(
            StatusCode::OK,
            html::sign_in(&frame(&app, None), "/approvals", None),
        ),
        Err(r) => r,
    }
}

pub async fn login(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    // A sign-in posted from another site would sign the browser in as the
    // attacker's approver; browsers send Origin on every POST, curl need not.
    if headers.contains_key(header::ORIGIN) && !same_origin(&app, &uri, &headers) {
        return forbidden(&app, None, "The sign-in form was not sent from this site.");
    }
    let form = form.ok().map(|Form(f)| f);
    let (token, next) = form.map(|f| (f.token, f.next)).unwrap_or_default();
    let next = local_path(&next).to_owned();
    let Some(approver) = Approver::find(app.approvers(), &token).cloned() else {
        eprintln!("approvals: a sign-in with an unknown token was refused");
        return html_response(
            StatusCode::UNAUTHORIZED,
            html::sign_in(
                &frame(&app, None),
                &next,
                Some("That token does not match any approver."),
            ),
        );
    };
    let ttl = app.ttl();
    let created = app
        .with_store(move |store, now| {
            store.create_session(&approver.name, &approver.key(), now, ttl)
        })
        .await;
    let token = match created {
        Ok(Ok((token, _))) => token,
        Ok(Err(e)) => return server_error(&app, &e.to_string()),
        Err(e) => return server_error(&app, &e),
    };
    let secure = if app.public().secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ttl.session_ms / 1000
    );
    let mut response = redirect(&app, &next);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn logout(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let signed = match signed_in(&app, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect(&app, "/approvals"),
        Err(r) => return r,
    };
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Err(why) = same_site_post(&app, &uri, &headers, &signed.session, &csrf) {
        return forbidden(&app, Some(&signed), why);
    }
    let token = signed.token.clone();
    match app
        .with_store(move |store, _| store.end_session(&token))
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return server_error(&app, &e.to_string()),
        Err(e) => return server_error(&app, &e),
    }
    let secure = if app.public().secure { "; Secure" } else { "" };
    let mut response = redirect(&app, "/approvals");
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
        .into_response()
}

pub async fn not_found(State(app): State<App>) -> Response {
    not_found_page(&app, None)
}

/// The session the request's cookie names, if it is live and its approver
/// is still configured with the same token (a removed or re-keyed approver
/// is signed out). `Err` is the response to send (the store failed).
async fn signed_in(app: &App, headers: &HeaderMap) -> Result<Option<Signed>, Response> {
    let Some(token) = session_cookie(headers) else {
        return Ok(None);
    };
    let lookup = token.clone();
    let found = app
        .with_store(move |store, now| store.session(&lookup, now))
        .await;
    let session = match found {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(server_error(app, &e.to_string())),
        Err(e) => return Err(server_error(app, &e)),
    };
    Ok(session
        .filter(|s| {
            app.approvers()
                .iter()
                .any(|a| a.name == s.approver && a.key() == s.approver_key)
        })
        .map(|session| Signed { token, session }))
}

/// The session token from `Cookie` (64 hex digits, else none).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// A state-changing POST must come from this site's own page: same origin,
/// and the session's CSRF token (compared in constant time).
fn same_site_post(
    app: &App,
    uri: &Uri,
    headers: &HeaderMap,
    session: &Session,
    csrf: &str,
) -> Result<(), &'static str> {
    if !same_origin(app, uri, headers) {
        return Err("The form was not sent from this site (its Origin does not match).");
    }
    if csrf.is_empty() || !bool::from(csrf.as_bytes().ct_eq(session.csrf.as_bytes())) {
        return Err(
            "The form's security token is missing or out of date. Reload the page and try again.",
        );
    }
    Ok(())
}

/// `Origin` is the public URL's origin, or `http://` + the Host this
/// request was sent to.
fn same_origin(app: &App, uri: &Uri, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin = normalize_origin(origin);
    if origin == "null" || origin.is_empty() {
        return false;
    }
    if origin == app.public().origin {
        return true;
    }
    // HTTP/2 carries the host as `:authority`, which lands in the URI.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(ToString::to_string));
    host.is_some_and(|h| !h.is_empty() && origin == normalize_origin(&format!("http://{h}")))
}

/// `next` if it is a path on this site, else the list: `//host` and
/// `/\host` leave the site in browsers, so neither is local.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if local {
        next
    } else {
        "/approvals"
    }
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn frame<'a>(app: &'a App, signed: Option<&'a Signed>) -> Frame<'a> {
    Frame {
        base: &app.public().path,
        user: signed.map(|s| User {
            name: &s.session.approver,
            csrf: &s.session.csrf,
        }),
    }
}

fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// 303 to a local path under the public URL's path.
fn redirect(app: &App, path: &str) -> Response {
    let location = HeaderValue::from_str(&format!("{}{path}", app.public().path))
        .or_else(|_| HeaderValue::from_str(&format!("{}/approvals", app.public().path)))
        .unwrap_or_else(|_| HeaderValue::from_static("/approvals"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn forbidden(app: &App, signed: Option<&Signed>, why: &str) -> Response {
    html_response(
        StatusCode::FORBIDDEN,
        html::message(&frame(app, signed), "Forbidden", why, None),
    )
}

fn not_found_page(app: &App, signed: Option<&Signed>) -> Response {
    html_response(
        StatusCode::NOT_FOUND,
        html::message(
            &frame(app, signed),
            "Not found",
            "There is no such approval request.",
            None,
        ),
    )
}

fn server_error(app: &App, why: &str) -> Response {
    eprintln!("approvals: {why}");
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        html::message(
            &frame(app, None),
            "Something went wrong",
            "The approval store failed; nothing was changed. Try again.",
            None,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path("/approvals/abc"), "/approvals/abc");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "approvals",
            "/a b",
            "/a\r\nSet-Cookie: x",
        ] {
            assert_eq!(local_path(bad), "/approvals", "{bad:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        let token = "ab".repeat(32);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=1; {COOKIE}={token}; b=2")).unwrap(),
        );
        assert_eq!(session_cookie(&h), Some(token));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("mcp_approvals_session=short"),
        );
        assert_eq!(session_cookie(&h), None);
    }
}
