//! The approvers' pages as Rust functions that return HTML, and the
//! escaping every value in them goes through.
//!
//! Owns: markup, escaping (text and attribute contexts alike), how a caller
//! identity, a time and the arguments are shown. Does not own: who sees a
//! page or what a form does (`web`), or the data (`store`). Everything that
//! came from a call (tool, arguments, identity, grant, session, rule,
//! reason) or from a person (a denial's reason, an approver's name) is
//! attacker-controlled: it reaches the markup only through [`esc`].

use crate::store::{Request, Status};

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

/// Control characters and invisible direction or format marks written as
/// `\u{…}`: a tool name or argument must not hide text from, or reorder
/// text for, the person deciding on it. Newlines stay when `lines`.
pub fn visible(text: &str, lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = (c.is_control() && !(lines && (c == '\n' || c == '\t')))
            || matches!(c,
                '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{061c}'
                | '\u{feff}');
        if hidden {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`visible`] then [`esc`]: a one-line value from a call.
fn show(text: &str) -> String {
    esc(&visible(text, false))
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
            r#"<div class="table-wrap"><table><thead><tr><th scope="col">Tool</th><th scope="col">Caller</th><th scope="col">Policy reason</th><th scope="col">Requested</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Open</span></th></tr></thead><tbody>"#,
        );
        for r in pending {
            let href = format!("{base}/approvals/{}", esc(&r.id));
            main.push_str(&format!(
                r#"<tr><td data-label="Tool"><a href="{href}"><code class="name">{tool}</code></a></td><td data-label="Caller">{caller}</td><td data-label="Reason">{reason}</td><td data-label="Requested">{created}</td><td data-label="Expires">{expires}</td><td class="row-action"><a class="btn btn-small btn-outline" href="{href}">Review</a></td></tr>"#,
                tool = show(&r.call.tool),
                caller = caller_cell(r),
                reason = show(&r.call.reason),
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
                    esc(&visible(&d.reason, true)),
                ),
                None => (String::new(), String::new(), String::new()),
            };
            main.push_str(&format!(
                r#"<tr><td data-label="Tool"><a href="{base}/approvals/{id}"><code class="name">{tool}</code></a></td><td data-label="Caller">{caller}</td><td data-label="Outcome">{badge}</td><td data-label="By">{by}</td><td data-label="Decided">{at}</td><td data-label="Reason">{why}</td></tr>"#,
                id = esc(&r.id),
                tool = show(&r.call.tool),
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
    let mut main = format!(
        r#"<nav class="crumbs"><a href="{base}/approvals">← All requests</a></nav>
<div class="heading"><h1>{heading}</h1>{badge}</div>
<section class="card">
<h2>Request</h2>
<dl class="facts">
<dt>Tool</dt><dd><code class="tool">{tool}</code></dd>
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
<pre class="json"><code>{arguments}</code></pre>
</section>
"#,
        badge = badge(r.status),
        tool = show(&call.tool),
        caller = identity_html(call.identity.as_deref()),
        grant = optional(&call.grant),
        rule = show(&call.rule),
        reason = esc(&visible(&call.reason, true)),
        created = when(r.created_ms, now_ms),
        arguments = esc(&visible(&pretty_json(&call.arguments), true)),
    );
    main.push_str(r#"<section class="card decision"><h2>Decision</h2>"#);
    match (&frame.user, r.status) {
        (Some(user), Status::Pending) => {
            main.push_str(&format!(
                r#"<p>Approving lets this exact call (this tool, these arguments, this caller, this policy) through <strong>once</strong>, on the agent's retry.</p>
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
<dt>Call digest</dt><dd><code class="wrap">{digest}</code></dd>
<dt>Policy SHA-256</dt><dd><code class="wrap">{policy}</code></dd>
<dt>MCP session</dt><dd>{session}</dd>
<dt>Request ID</dt><dd>{request_id}</dd>
<dt>Approval ID</dt><dd><code class="wrap">{id}</code></dd>
</dl>
</section>"#,
        digest = show(&call.digest),
        policy = show(&call.policy_sha256),
        session = optional(&call.session),
        request_id = optional(&call.request_id),
        id = esc(&r.id),
    ));
    page(
        frame,
        &format!("{} request", visible(&call.tool, false)),
        &main,
    )
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
                esc(&visible(&d.reason, true))
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

fn caller_cell(r: &Request) -> String {
    let grant = r
        .call
        .grant
        .as_deref()
        .map(|g| format!(r#"<br><span class="muted small">grant {}</span>"#, show(g)))
        .unwrap_or_default();
    format!("{}{grant}", identity_html(r.call.identity.as_deref()))
}

/// The caller as a person reads it: `x-agent-id = agent-a` for a header,
/// and so on for each source tag (`h:`, `j:`, `p:`, `b`).
pub fn identity_text(identity: Option<&str>) -> String {
    let Some(identity) = identity else {
        return "anonymous".into();
    };
    let Some((tag, value)) = identity.split_once('\u{1f}') else {
        return visible(identity, false);
    };
    let value = visible(value, false);
    let source = if let Some(header) = tag.strip_prefix("h:") {
        visible(header, false)
    } else if let Some(rest) = tag.strip_prefix("j:") {
        match rest.split_once(':') {
            Some((provider, claim)) => format!(
                "JWT {} claim {}",
                visible(provider, false),
                visible(claim, false)
            ),
            None => format!("JWT {}", visible(rest, false)),
        }
    } else if let Some(field) = tag.strip_prefix("p:") {
        format!("peer {}", visible(field, false))
    } else if tag == "b" {
        "bearer token SHA-256".into()
    } else {
        visible(tag, false)
    };
    format!("{source} = {value}")
}

fn identity_html(identity: Option<&str>) -> String {
    match identity {
        None => r#"<span class="muted">anonymous</span>"#.into(),
        Some(_) => format!(
            r#"<code class="identity">{}</code>"#,
            esc(&identity_text(identity))
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

/// The arguments' JSON indented for reading, every token kept as sent:
/// numbers keep all their digits and strings their escapes, so the person
/// approves exactly what the filter asked about.
pub fn pretty_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = raw.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // `{}` and `[]` stay on one line.
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
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
    fn hidden_characters_are_shown() {
        assert_eq!(visible("pay\u{202e}lla", false), "pay\\u{202e}lla");
        assert_eq!(visible("a\nb\u{0}", true), "a\nb\\u{0000}");
        assert_eq!(visible("a\nb", false), "a\\u{000a}b");
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

    #[test]
    fn pretty_json_keeps_every_token() {
        let raw = r#"{"a":12345678901234567890123,"b":[1, 2,{}],"c":"x,{\"y\":1}","d":[],"e":{"f":null}}"#;
        let pretty = pretty_json(raw);
        assert_eq!(
            pretty,
            "{\n  \"a\": 12345678901234567890123,\n  \"b\": [\n    1,\n    2,\n    {}\n  ],\n  \"c\": \"x,{\\\"y\\\":1}\",\n  \"d\": [],\n  \"e\": {\n    \"f\": null\n  }\n}"
        );
        let reread: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(
            reread,
            serde_json::from_str::<serde_json::Value>(raw).unwrap()
        );
        assert_eq!(pretty_json("{}"), "{}");
    }
}
