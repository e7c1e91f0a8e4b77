//! The approvers' pages as Rust functions that return HTML, and the
//! escaping every value in them goes through.
//!
//! Owns: markup, escaping (text and attribute contexts alike), how a caller
//! identity, a time and the arguments are shown. Does not own: who sees a
//! page or what a form does (`web`), or the data (`store`). Everything that
//! came from a call (tool, arguments, identity, grant, session, rule,
//! reason) or from a person (a denial's reason, an approver's name) is
//! attacker-controlled: it reaches the markup only through [`esc`], and
//! what came from a call through `reveal` as well (every character that
//! could hide or imitate text shown as a marked `\u{…}`).

use crate::binding::Binding;
use crate::reveal::{self, literal, literal_lines, Chars};
use crate::store::{Call, Request, Status};

/// Escapes for HTML text and for double- or single-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A one-line value from a call (grant, rule, reason, session, request
/// id, an approver's name) as HTML.
fn show(text: &str) -> String {
    literal(text, Chars::Text)
}

/// A name (tool, digest) as HTML: printable ASCII only.
fn name(text: &str) -> String {
    literal(text, Chars::Ascii)
}

/// What every page knows: where it lives and who is signed in.
pub struct Frame<'a> {
    /// The public URL's path (`""` or `/prefix`); links start with it.
    pub base: &'a str,
    pub user: Option<User<'a>>,
}

pub struct User<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
}

/// A whole page around `main`.
pub fn page(frame: &Frame<'_>, title: &str, main: &str) -> String {
    document(frame, title, "", main)
}

fn document(frame: &Frame<'_>, title: &str, head: &str, main: &str) -> String {
    let base = esc(frame.base);
    let who = match &frame.user {
        Some(user) => format!(
            r#"<div class="who"><span class="who-name">Signed in as <strong>{name}</strong></span><form method="post" action="{base}/logout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="btn btn-quiet btn-small">Sign out</button></form></div>"#,
            name = show(user.name),
            csrf = esc(user.csrf),
        ),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · mcp-policy approvals</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{base}/static/app.css">{head}
</head>
<body>
<header class="topbar"><div class="topbar-inner"><a class="brand" href="{base}/approvals"><span class="brand-mark" aria-hidden="true"></span>mcp-policy approvals</a>{who}</div></header>
<main class="container">
{main}
</main>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// The sign-in form; `next` is the local path to return to.
pub fn sign_in(frame: &Frame<'_>, next: &str, error: Option<&str>) -> String {
    let base = esc(frame.base);
    let error = error
        .map(|e| {
            format!(
                r#"<p class="alert alert-error" role="alert">{}</p>"#,
                esc(e)
            )
        })
        .unwrap_or_default();
    let main = format!(
        r#"<section class="card signin">
<h1>Sign in</h1>
<p class="muted">Sign in with your approver token to review calls that mcp-policy holds for a person.</p>
{error}
<form method="post" action="{base}/login" class="stack">
<input type="hidden" name="next" value="{next}">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit" class="btn btn-primary">Sign in</button>
</form>
</section>"#,
        next = esc(next),
    );
    page(frame, "Sign in", &main)
}

/// Sent instead of the sign-in form to a navigation from another site: the
/// session cookie is `SameSite=Strict`, so the browser left it out; this
/// page's own reload is same-site and carries it.
pub fn reload(frame: &Frame<'_>, path: &str) -> String {
    let url = esc(&format!("{}{path}", frame.base));
    document(
        frame,
        "Opening",
        &format!("\n<meta http-equiv=\"refresh\" content=\"0; url={url}\">"),
        &format!(
            r#"<section class="card"><h1>Opening the request…</h1><p><a href="{url}">Continue</a></p></section>"#
        ),
    )
}

/// A short page that says what happened (forbidden, not found, conflict).
pub fn message(frame: &Frame<'_>, title: &str, text: &str, back: Option<&str>) -> String {
    let back = back
        .map(|path| {
            format!(
                r#"<p><a href="{}{}">Back to the request</a></p>"#,
                esc(frame.base),
                esc(path)
            )
        })
        .unwrap_or_else(|| {
            format!(
                r#"<p><a href="{}/approvals">All requests</a></p>"#,
                esc(frame.base)
            )
        });
    page(
        frame,
        title,
        &format!(
            r#"<section class="card"><h1>{}</h1><p>{}</p>{back}</section>"#,
            esc(title),
            esc(text)
        ),
    )
}

/// The list: pending requests (newest first) and recent decisions.
pub fn list(frame: &Frame<'_>, pending: &[Request], recent: &[Request], now_ms: i64) -> String {
    let base = esc(frame.base);
    let mut main = format!(
        r#"<div class="heading"><h1>Pending requests <span class="count">{n}</span></h1><a class="btn btn-quiet btn-small" href="{base}/approvals">Refresh</a></div>
<section class="card card-flush">"#,
        n = pending.len()
    );
    if pending.is_empty() {
        main.push_str(r#"<p class="empty">Nothing is waiting for approval.</p>"#);
    } else {
        main.push_str(
            r#"<div class="table-wrap"><table><thead><tr><th scope="col">Tool</th><th scope="col">Endpoint</th><th scope="col">Caller</th><th scope="col">Policy reason</th><th scope="col">Requested</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Open</span></th></tr></thead><tbody>"#,
        );
        for r in pending {
            let href = format!("{base}/approvals/{}", esc(&r.id));
            main.push_str(&format!(
                r#"<tr><td data-label="Tool"><a href="{href}"><code class="name">{tool}</code></a></td><td data-label="Endpoint">{endpoint}</td><td data-label="Caller">{caller}</td><td data-label="Reason">{reason}</td><td data-label="Requested">{created}</td><td data-label="Expires">{expires}</td><td class="row-action"><a class="btn btn-small btn-outline" href="{href}">Review</a></td></tr>"#,
                tool = name(&r.call.binding.tool),
                endpoint = endpoint(&r.call.binding),
                caller = caller_cell(r),
                reason = show(&r.call.binding.reason),
                created = when(r.created_ms, now_ms),
                expires = when(r.expires_ms, now_ms),
            ));
        }
        main.push_str("</tbody></table></div>");
    }
    main.push_str("</section>\n<h2 class=\"section-title\">Recent decisions</h2>\n<section class=\"card card-flush\">");
    if recent.is_empty() {
        main.push_str(r#"<p class="empty">No decisions yet.</p>"#);
    } else {
        main.push_str(
            r#"<div class="table-wrap"><table><thead><tr><th scope="col">Tool</th><th scope="col">Caller</th><th scope="col">Outcome</th><th scope="col">By</th><th scope="col">Decided</th><th scope="col">Reason</th></tr></thead><tbody>"#,
        );
        for r in recent {
            let (by, at, why) = match &r.decision {
                Some(d) => (
                    show(&d.approver),
                    when(d.at_ms, now_ms),
                    literal_lines(&d.reason, Chars::Text),
                ),
                None => (String::new(), String::new(), String::new()),
            };
            main.push_str(&format!(
                r#"<tr><td data-label="Tool"><a href="{base}/approvals/{id}"><code class="name">{tool}</code></a></td><td data-label="Caller">{caller}</td><td data-label="Outcome">{badge}</td><td data-label="By">{by}</td><td data-label="Decided">{at}</td><td data-label="Reason">{why}</td></tr>"#,
                id = esc(&r.id),
                tool = name(&r.call.binding.tool),
                caller = caller_cell(r),
                badge = badge(r.status),
            ));
        }
        main.push_str("</tbody></table></div>");
    }
    main.push_str("</section>");
    page(frame, "Pending requests", &main)
}

/// One request: what was asked, and Approve / Deny while it is pending.
pub fn detail(frame: &Frame<'_>, r: &Request, now_ms: i64) -> String {
    let base = esc(frame.base);
    let call = &r.call;
    let b = &call.binding;
    let heading = if r.status == Status::Pending {
        "Approve this call?"
    } else {
        "Approval request"
    };
    let optional = |v: &Option<String>| match v {
        Some(v) => show(v),
        None => r#"<span class="muted">none</span>"#.to_owned(),
    };
    let expires_label = match r.status {
        Status::Pending => "Expires",
        Status::Approved => "Approval expires unused",
        Status::Denied => "Denial applies until",
        Status::Used => "Approval expired",
        Status::Expired => "Expired",
    };
    let expires = if r.status == Status::Used {
        String::from(r#"<span class="muted">n/a (used)</span>"#)
    } else {
        when(r.expires_ms, now_ms)
    };
    let view = reveal::arguments(&b.arguments);
    let summary = match view.keys.len() {
        0 => "No arguments.".to_owned(),
        n => format!(
            "<strong>{n} argument{}:</strong> {}",
            if n == 1 { "" } else { "s" },
            view.keys
                .iter()
                .map(|k| format!("<code>{k}</code>"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut main = format!(
        r#"<nav class="crumbs"><a href="{base}/approvals">← All requests</a></nav>
<div class="heading"><h1>{heading}</h1>{badge}</div>
<section class="card">
<h2>Request</h2>
{call_warning}<dl class="facts">
<dt>Tool</dt><dd><code class="tool">{tool}</code></dd>
<dt>Endpoint</dt><dd>{endpoint}</dd>
<dt>Listener</dt><dd>{listener}</dd>
<dt>Caller</dt><dd>{caller}</dd>
<dt>Grant</dt><dd>{grant}</dd>
<dt>Rule</dt><dd><code>{rule}</code></dd>
<dt>Policy reason</dt><dd>{reason}</dd>
<dt>Requested</dt><dd>{created}</dd>
<dt>{expires_label}</dt><dd>{expires}</dd>
</dl>
</section>
<section class="card">
<h2>Arguments</h2>
{arguments_warning}<p class="args-summary">{summary}</p>
<pre class="json"><code>{arguments}</code></pre>
</section>
"#,
        badge = badge(r.status),
        call_warning = warning(
            "Some of the call's text is not plain: look closely before approving.",
            &call_findings(call),
        ),
        tool = name(&b.tool),
        endpoint = endpoint(b),
        listener = listener(b),
        caller = identity_html(b.identity.as_deref()),
        grant = optional(&b.grant),
        rule = show(&b.rule),
        reason = show(&b.reason),
        created = when(r.created_ms, now_ms),
        arguments_warning = warning(
            "The arguments contain text that can hide or imitate other text: look closely before approving.",
            &view.findings,
        ),
        arguments = view.html,
    );
    main.push_str(r#"<section class="card decision"><h2>Decision</h2>"#);
    match (&frame.user, r.status) {
        (Some(user), Status::Pending) => {
            main.push_str(&format!(
                r#"<p>Approving lets this exact call (this tool, these arguments, this endpoint, this caller, this policy) through <strong>once</strong>, on the agent's retry.</p>
<div class="actions">
<form method="post" action="{base}/approvals/{id}/approve" class="approve-form">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="btn btn-primary btn-large">Approve</button>
</form>
<form method="post" action="{base}/approvals/{id}/deny" class="deny-form">
<input type="hidden" name="csrf" value="{csrf}">
<label for="deny-reason">Reason</label>
<div class="inline">
<input id="deny-reason" name="reason" type="text" maxlength="500" autocomplete="off" placeholder="Optional">
<button type="submit" class="btn btn-danger">Deny</button>
</div>
<p class="hint">The agent is told who denied the call, and the reason.</p>
</form>
</div>"#,
                id = esc(&r.id),
                csrf = esc(user.csrf),
            ));
        }
        _ => main.push_str(&outcome(r, now_ms)),
    }
    main.push_str("</section>\n");
    main.push_str(&format!(
        r#"<section class="card card-quiet">
<h2>Binding</h2>
<dl class="facts facts-small">
<dt>Call digest</dt><dd><code class="wrap">{digest}</code><br><span class="muted small">SHA-256 of the call binding: the tool, arguments, endpoint, listener, caller, grant, policy, rule and reason shown above</span></dd>
<dt>Policy SHA-256</dt><dd><code class="wrap">{policy}</code></dd>
<dt>MCP session</dt><dd>{session} <span class="muted small">(as first reported; not bound)</span></dd>
<dt>Request ID</dt><dd>{request_id} <span class="muted small">(as first reported; not bound)</span></dd>
<dt>Approval ID</dt><dd><code class="wrap">{id}</code></dd>
</dl>
</section>"#,
        digest = name(&call.digest),
        policy = name(&b.policy_sha256),
        session = optional(&call.session),
        request_id = optional(&call.request_id),
        id = esc(&r.id),
    ));
    page(
        frame,
        &format!("{} request", reveal::visible(&b.tool, Chars::Ascii)),
        &main,
    )
}

/// A banner over what it warns about: `title`, then each finding; nothing
/// when there is none.
fn warning(title: &str, findings: &[String]) -> String {
    if findings.is_empty() {
        return String::new();
    }
    let items: String = findings.iter().map(|f| format!("<li>{f}</li>")).collect();
    format!(
        r#"<div class="alert alert-warning" role="alert"><p class="alert-title"><strong>Warning.</strong> {}</p><ul class="findings">{items}</ul></div>
"#,
        esc(title)
    )
}

/// The call's fields besides its arguments with characters shown as
/// `\u{…}`.
fn call_findings(call: &Call) -> Vec<String> {
    let b = &call.binding;
    let identity = b.identity.as_deref().unwrap_or_default();
    let fields: [(&str, &str, Chars); 10] = [
        ("The tool name", &b.tool, Chars::Ascii),
        ("The endpoint authority", &b.authority, Chars::Ascii),
        ("The endpoint path", &b.path, Chars::Ascii),
        ("The listener", &b.namespace, Chars::Ascii),
        ("The caller", identity, Chars::Ascii),
        (
            "The grant",
            b.grant.as_deref().unwrap_or_default(),
            Chars::Text,
        ),
        ("The rule", &b.rule, Chars::Text),
        ("The policy reason", &b.reason, Chars::Text),
        (
            "The MCP session",
            call.session.as_deref().unwrap_or_default(),
            Chars::Text,
        ),
        (
            "The request ID",
            call.request_id.as_deref().unwrap_or_default(),
            Chars::Text,
        ),
    ];
    fields
        .iter()
        .filter_map(|&(what, text, chars)| {
            // The identity's source tag and value are joined by U+001F.
            let n = match text.split_once('\u{1f}') {
                Some((tag, value)) if what == "The caller" => {
                    reveal::hidden(tag, chars) + reveal::hidden(value, chars)
                }
                _ => reveal::hidden(text, chars),
            };
            (n > 0).then(|| {
                format!(
                    r#"{what} contains {n} character{} shown as <span class="u">\u{{…}}</span>{}."#,
                    if n == 1 { "" } else { "s" },
                    if chars == Chars::Ascii {
                        " (only printable ASCII is shown as itself)"
                    } else {
                        ""
                    }
                )
            })
        })
        .collect()
}

/// What became of a request that is no longer pending.
fn outcome(r: &Request, now_ms: i64) -> String {
    let expires = when(r.expires_ms, now_ms);
    let by = |d: &crate::store::Approval| {
        format!(
            "by <strong>{}</strong> at {}",
            show(&d.approver),
            when(d.at_ms, now_ms)
        )
    };
    match (&r.decision, r.status) {
        (_, Status::Pending) => r#"<p class="outcome">Waiting for a decision.</p>"#.into(),
        (Some(d), Status::Approved) => format!(
            r#"<p class="outcome"><strong>Approved</strong> {}.</p><p class="muted">The agent's retry of this exact call uses the approval once; unused, it expires {expires}.</p>"#,
            by(d)
        ),
        (Some(d), Status::Used) => format!(
            r#"<p class="outcome"><strong>Approved</strong> {}, and used by the agent's retry at {}.</p><p class="muted">The same call again needs a new approval.</p>"#,
            by(d),
            r.used_ms.map(|t| when(t, now_ms)).unwrap_or_default()
        ),
        (Some(d), Status::Denied) => {
            let reason = if d.reason.is_empty() {
                r#"<span class="muted">No reason given.</span>"#.to_owned()
            } else {
                literal_lines(&d.reason, Chars::Text)
            };
            let applies = if r.expires_ms > now_ms {
                format!("Retries of this call are denied until {expires}.")
            } else {
                "The denial no longer applies: a retry opens a new request.".into()
            };
            format!(
                r#"<p class="outcome"><strong>Denied</strong> {}.</p><blockquote class="quote">{reason}</blockquote><p class="muted">{applies}</p>"#,
                by(d)
            )
        }
        (Some(d), Status::Expired) => format!(
            r#"<p class="outcome"><strong>Approved</strong> {}, but never used: the approval expired {expires}.</p>"#,
            by(d)
        ),
        (None, _) => format!(
            r#"<p class="outcome"><strong>Expired</strong> {expires}: nobody decided in time.</p><p class="muted">The agent's next retry opens a new request.</p>"#
        ),
    }
}

fn badge(status: Status) -> String {
    let label = match status {
        Status::Pending => "Pending",
        Status::Approved => "Approved",
        Status::Denied => "Denied",
        Status::Used => "Approved · used",
        Status::Expired => "Expired",
    };
    format!(
        r#"<span class="badge badge-{}">{label}</span>"#,
        status.as_str()
    )
}

/// Where the call was sent: the authority and the path, printable ASCII
/// only (a look-alike host is another host).
fn endpoint(b: &Binding) -> String {
    if b.authority.is_empty() && b.path.is_empty() {
        return r#"<span class="muted">not reported</span>"#.into();
    }
    let authority = if b.authority.is_empty() {
        r#"<span class="muted">(no authority)</span>"#.to_owned()
    } else {
        name(&b.authority)
    };
    format!(
        r#"<code class="endpoint">{authority}{}</code>"#,
        name(&b.path)
    )
}

/// Which of the filter's listeners (its counter namespace) saw the call.
fn listener(b: &Binding) -> String {
    if b.namespace.is_empty() {
        return r#"<span class="muted">default (no namespace)</span>"#.into();
    }
    format!(r#"<code class="listener">{}</code>"#, name(&b.namespace))
}

fn caller_cell(r: &Request) -> String {
    let b = &r.call.binding;
    let grant = b
        .grant
        .as_deref()
        .map(|g| format!(r#"<br><span class="muted small">grant {}</span>"#, show(g)))
        .unwrap_or_default();
    format!("{}{grant}", identity_html(b.identity.as_deref()))
}

/// The caller as a person reads it: `x-agent-id = agent-a` for a header,
/// and so on for each source tag (`h:`, `j:`, `p:`, `b`); `part` writes
/// each piece that came from the call.
fn identity_with(identity: &str, part: impl Fn(&str) -> String) -> String {
    let Some((tag, value)) = identity.split_once('\u{1f}') else {
        return part(identity);
    };
    let value = part(value);
    let source = if let Some(header) = tag.strip_prefix("h:") {
        part(header)
    } else if let Some(rest) = tag.strip_prefix("j:") {
        match rest.split_once(':') {
            Some((provider, claim)) => format!("JWT {} claim {}", part(provider), part(claim)),
            None => format!("JWT {}", part(rest)),
        }
    } else if let Some(field) = tag.strip_prefix("p:") {
        format!("peer {}", part(field))
    } else if tag == "b" {
        "bearer token SHA-256".into()
    } else {
        part(tag)
    };
    format!("{source} = {value}")
}

/// [`identity_with`] as plain text, printable ASCII only.
pub fn identity_text(identity: Option<&str>) -> String {
    match identity {
        None => "anonymous".into(),
        Some(identity) => identity_with(identity, |p| reveal::visible(p, Chars::Ascii)),
    }
}

fn identity_html(identity: Option<&str>) -> String {
    match identity {
        None => r#"<span class="muted">anonymous</span>"#.into(),
        Some(identity) => format!(
            r#"<code class="identity">{}</code>"#,
            identity_with(identity, name)
        ),
    }
}

/// A `<time>` with the UTC time and how far it is from now.
fn when(ms: i64, now_ms: i64) -> String {
    format!(
        r#"<time datetime="{}" title="{}">{}</time> <span class="muted small">({})</span>"#,
        iso(ms),
        utc(ms),
        utc(ms),
        relative(ms, now_ms)
    )
}

/// `2026-01-02 03:04:05 UTC`.
pub fn utc(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

fn iso(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Unix milliseconds to the proleptic Gregorian calendar (Howard
/// Hinnant's days-to-civil), without a date crate.
fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `in 14 min`, `3 h ago`.
pub fn relative(ms: i64, now_ms: i64) -> String {
    if (ms - now_ms).abs() < 1000 {
        return "just now".into();
    }
    let delta = (ms - now_ms) / 1000;
    let n = delta.abs();
    let amount = if n < 60 {
        format!("{n} s")
    } else if n < 3600 {
        format!("{} min", n / 60)
    } else if n < 86_400 {
        format!("{} h", n / 3600)
    } else {
        format!("{} d", n / 86_400)
    };
    if delta >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn values_from_a_call_are_escaped_and_hidden_characters_marked() {
        assert_eq!(
            show("pay\u{202e}<b>"),
            r#"pay<span class="u">\u{202e}</span>&lt;b&gt;"#
        );
        assert_eq!(show("caf\u{e9}"), "caf\u{e9}");
        assert_eq!(name("caf\u{e9}"), r#"caf<span class="u">\u{e9}</span>"#);
        assert_eq!(
            identity_html(Some("h:x-agent-id\u{1f}agent-\u{430}")),
            r#"<code class="identity">x-agent-id = agent-<span class="u">\u{430}</span></code>"#
        );
    }

    #[test]
    fn identities_read_as_source_and_value() {
        assert_eq!(
            identity_text(Some("h:x-agent-id\u{1f}agent-a")),
            "x-agent-id = agent-a"
        );
        assert_eq!(
            identity_text(Some("j:auth0:sub\u{1f}user-1")),
            "JWT auth0 claim sub = user-1"
        );
        assert_eq!(
            identity_text(Some("p:principal\u{1f}spiffe://x")),
            "peer principal = spiffe://x"
        );
        assert_eq!(
            identity_text(Some("b\u{1f}abcd")),
            "bearer token SHA-256 = abcd"
        );
        assert_eq!(identity_text(None), "anonymous");
        assert_eq!(identity_text(Some("odd")), "odd");
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_251_199_000), "2024-02-29 23:59:59 UTC");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(relative(61_000, 0), "in 1 min");
        assert_eq!(relative(0, 7_200_000), "2 h ago");
        assert_eq!(relative(999, 1_500), "just now");
    }
}
