//! `stream::Stream` driven through a whole exchange with a fake host:
//! request headers, the body in chunks, response headers, response body in
//! chunks, the end of the exchange.
//!
//! Input: a 23-byte header, then a tail holding the request header lines,
//! the request body and the response:
//! `[config lo][config hi][flags][hdr len: u16][body len: u16]
//!  [4 x u16 request split points][4 x u16 response split points]`.
//! Request header lines are `name:value` (`:path:/mcp` for pseudo headers).
//! The response is `status\nname:value\n...\n\nbody`. `flags`: bit 0 the
//! headers end the stream when the body is empty; bit 1 the upstream
//! answers; bit 2 the exchange ends before it does; bit 3 response
//! headers end the response; bit 4 the request ends with trailers (the last
//! body chunk does not end the stream); bit 5 an exchange that ends early
//! was reset by the upstream (else the client went away), the low bit of the
//! last response split point says whether the connection was never made;
//! bits 6-7 the clock.
//!
//! The host is modelled as Envoy behaves: body chunks are buffered while
//! the filter pauses and go upstream when it continues; a local reply ends
//! the request; with trailers, the trailers callback decides, and a
//! Continue releases what is buffered.
//!
//! Properties: nothing panics; at most one local reply, valid JSON-RPC with
//! a 200/400/413/415 status, and when there is one nothing of the request
//! went upstream before it; a request that ends without a reply was
//! continued; what `mcp::parse` + `judge` block (fresh counters, same
//! caller) is never let through, and what the README says passes is not
//! refused: requests without a body, bodies that cannot be JSON off the MCP
//! paths, other JSON off the MCP paths, allowed calls; a body declared in
//! another charset than UTF-8 is refused (415); quota comes back only when
//! the call never ran (the server's 4xx, a connection Envoy never made),
//! never for a 5xx, a reset after the request was sent or a client that
//! goes away; no tool list in a response the filter reads (on an MCP path,
//! an answer to judged JSON-RPC, any event stream) shows a tool the
//! caller's policy would not list, whatever its id.
#![no_main]

use fuzzkit::check::counter_keys;
use fuzzkit::policies::{self, Parsed};
use libfuzzer_sys::fuzz_target;
use mcp_policy::config::Config;
use mcp_policy::engine::counters::{CounterStore, MemoryStore};
use mcp_policy::judge::{judge, Context};
use mcp_policy::mcp;
use mcp_policy::stream::fake::{lookup, Facts, FakeHost};
use mcp_policy::stream::{Action, Stream};

const HEAD: usize = 23;

fn u16_at(d: &[u8], i: usize) -> usize {
    usize::from(u16::from_le_bytes([d[i], d[i + 1]]))
}

fn header_lines(blob: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(blob)
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let from = usize::from(line.starts_with(':'));
            match line[from..].find(':') {
                Some(i) => (line[..from + i].to_owned(), line[from + i + 1..].to_owned()),
                None => (line.to_owned(), String::new()),
            }
        })
        .collect()
}

/// Cumulative chunk ends of `len` bytes, from up to four split points.
fn chunks(d: &[u8], at: usize, len: usize) -> Vec<usize> {
    let mut ends: Vec<usize> = (0..4)
        .map(|k| u16_at(d, at + 2 * k))
        .filter(|&p| len > 0 && p % (len + 1) > 0)
        .map(|p| p % (len + 1))
        .collect();
    ends.push(len);
    ends.sort_unstable();
    ends.dedup();
    ends
}

/// What the README says must happen to a request, judged without `stream`.
#[derive(Debug, PartialEq)]
enum Expect {
    Reply(u32),
    Pass,
    Unsure,
}

fn expected(
    config: &Config,
    host: &FakeHost,
    body: &[u8],
    headers_end: bool,
    now_ms: u64,
) -> Expect {
    let path = host
        .request_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(":path"));
    let path = path.map(|(_, v)| v.as_str()).unwrap_or("");
    let mcp_path = config.is_mcp_path(path);
    let header = |name: &str| lookup(&host.request_headers, name);
    // Pseudo-headers are single in HTTP; the filter reads the first.
    let post = host
        .request_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(":method"))
        .is_some_and(|(_, m)| m.eq_ignore_ascii_case("POST"));
    // "A repeated `Mcp-Session-Id` or `MCP-Protocol-Version` is refused (400)",
    // on the headers, before anything else is read.
    let repeated = |name: &str| {
        host.request_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
            > 1
    };
    if repeated("mcp-session-id") || repeated("mcp-protocol-version") {
        return Expect::Reply(400);
    }
    let encoding = header("content-encoding").unwrap_or_default();
    let encoding = encoding.trim();
    if !headers_end && !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        // Decided on the headers, before any (even empty) body.
        return Expect::Reply(415);
    }
    // "A body declared in a charset other than UTF-8 is refused (415)", on
    // the headers, whatever the path.
    let content_type = host
        .request_headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !headers_end && mcp_policy::stream::foreign_charset(&content_type).is_some() {
        return Expect::Reply(415);
    }
    if body.is_empty() {
        // "Requests without a body (GET SSE streams, DELETE, health checks)
        // pass"; "an empty POST" on an MCP path is refused. A body that ends
        // with an empty data frame is no body either.
        return if mcp_path && post {
            Expect::Reply(400)
        } else if mcp_path && !headers_end && fuzzkit::check::known("empty-body-non-post") {
            Expect::Unsure
        } else {
            Expect::Pass
        };
    }
    if !mcp_path && !mcp::could_be_json(body) {
        // Forms and text off the MCP paths pass, large ones too; one that
        // opens with more skippable characters (blanks, comments) than the
        // filter reads at once may be refused as too large before its first
        // significant one is seen.
        if body.len() > config.mcp.max_body_bytes {
            return Expect::Unsure;
        }
        return Expect::Pass;
    }
    if body.len() > config.mcp.max_body_bytes {
        return Expect::Reply(413);
    }
    match mcp::parse(body) {
        Ok(parsed) => {
            if mcp::check_routing_headers(
                &parsed,
                header("mcp-method").as_deref(),
                header("mcp-name").as_deref(),
            )
            .is_err()
            {
                return Expect::Reply(400);
            }
            let facts = Facts {
                headers: host.request_headers.clone(),
                properties: host.properties.clone(),
            };
            let caller = config.caller(&facts);
            let session = header("mcp-session-id");
            let request_id = header("x-request-id");
            let ctx = Context {
                caller: &caller,
                namespace: "",
                session: session.as_deref(),
                request_id: request_id.as_deref(),
                now_ms,
            };
            let mut store = MemoryStore::default();
            let j = judge(config, &parsed, ctx, &mut store);
            if j.decision.decision.blocks() {
                Expect::Reply(200)
            } else {
                Expect::Pass
            }
        }
        Err(_) => {
            let other_json = !mcp_path
                && mcp_policy::json::parse(body).is_ok_and(|v| !mcp::is_jsonrpc_shaped(&v));
            if other_json {
                Expect::Pass
            } else {
                Expect::Reply(400)
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < HEAD {
        return;
    }
    let parsed: &Parsed = policies::pick(u16_at(data, 0));
    let config = &parsed.config;
    let flags = data[2];
    let tail = &data[HEAD..];
    let hdr_len = u16_at(data, 3).min(tail.len());
    let (hdr_blob, tail) = tail.split_at(hdr_len);
    let body_len = u16_at(data, 5).min(tail.len());
    let (body, response) = tail.split_at(body_len);
    let now_ms = fuzzkit::NOW_MS + u64::from(flags >> 6) * 7_919;
    let trailers = flags & 0x10 != 0 && !body.is_empty();

    let mut host = FakeHost {
        request_headers: header_lines(hdr_blob),
        now_ms,
        ..FakeHost::default()
    };
    let headers_end = body.is_empty() && flags & 1 != 0;
    let expect = expected(config, &host, body, headers_end, now_ms);
    let mut stream = Stream::new();
    let mut upstream_headers = false;
    let mut released: Vec<u8> = Vec::new();
    let mut buffered: Vec<u8> = Vec::new();
    let mut last = stream.on_request_headers(config, &mut host, headers_end);
    if last == Action::Continue {
        upstream_headers = true;
    }
    let mut ended = headers_end;
    if host.replies.is_empty() && !headers_end {
        let ends = if body.is_empty() {
            vec![0]
        } else {
            chunks(data, 7, body.len())
        };
        let mut from = 0;
        for (i, &end) in ends.iter().enumerate() {
            buffered.extend_from_slice(&body[from..end]);
            from = end;
            host.body = buffered.clone();
            let eos = i + 1 == ends.len() && !trailers;
            last = stream.on_request_body(config, &mut host, buffered.len(), eos);
            if !host.replies.is_empty() {
                assert_eq!(last, Action::Pause, "a reply, then Continue");
                break;
            }
            if last == Action::Continue {
                upstream_headers = true;
                released.append(&mut buffered);
            }
            ended = eos;
        }
        if trailers && host.replies.is_empty() {
            // The body ends with trailers (HTTP/2, or HTTP/1.1 chunked with
            // `enable_trailers`): the trailers callback decides, and what is
            // buffered goes upstream if it continues.
            last = stream.on_request_trailers(config, &mut host);
            if host.replies.is_empty() && last == Action::Continue {
                upstream_headers = true;
                released.append(&mut buffered);
            }
            ended = true;
        }
    }

    // Replies.
    assert!(host.replies.len() <= 1, "more than one local reply");
    if let Some((status, text)) = host.replies.first() {
        assert!(
            !upstream_headers && released.is_empty(),
            "a local reply after the request went upstream"
        );
        assert!(
            [200, 400, 413, 415].contains(status),
            "reply status {status}"
        );
        let v = mcp_policy::json::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("reply is not strict JSON ({e}): {text}"));
        match &v {
            mcp_policy::json::Json::Obj(_) => {
                assert_eq!(
                    v.get("jsonrpc").and_then(|j| j.as_str()),
                    Some("2.0"),
                    "reply jsonrpc"
                )
            }
            mcp_policy::json::Json::Arr(items) => {
                assert!(!items.is_empty(), "an empty batch reply")
            }
            _ => panic!("reply is neither a response nor a batch: {text}"),
        }
    } else if ended {
        assert_eq!(
            last,
            Action::Continue,
            "a request ended with neither a reply nor Continue"
        );
        assert!(upstream_headers, "the request never went upstream");
    }

    // What the README says.
    let replied = host.replies.first().map(|(s, _)| *s);
    {
        match expect {
            Expect::Reply(status) => assert_eq!(
                replied,
                Some(status),
                "expected a {status} reply; the stream {}",
                if released.is_empty() && !upstream_headers {
                    "held the request".to_owned()
                } else {
                    format!("let {} body bytes through", released.len())
                }
            ),
            Expect::Pass => assert_eq!(
                replied, None,
                "expected the request to pass: {:?}",
                host.replies
            ),
            Expect::Unsure => {}
        }
    }

    // The response, or a reset.
    let keys = {
        let facts = Facts {
            headers: host.request_headers.clone(),
            properties: Vec::new(),
        };
        let caller = config.caller(&facts);
        let session = host
            .request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id"))
            .map(|(_, v)| v.clone());
        counter_keys(config, &caller, session.as_deref(), now_ms)
    };
    let reset = flags & 4 != 0;
    let answers = flags & 2 != 0 && !reset && replied.is_none();
    let mut status_4xx = false;
    let mut downstream: Vec<u8> = Vec::new();
    if answers {
        let split = response.windows(2).position(|w| w == b"\n\n");
        let (head, rbody) = match split {
            Some(i) => (&response[..i], &response[i + 2..]),
            None => (response, &[][..]),
        };
        let mut lines = head.split(|&b| b == b'\n');
        let status = String::from_utf8_lossy(lines.next().unwrap_or(b"")).into_owned();
        status_4xx = status
            .trim()
            .parse::<u32>()
            .is_ok_and(|s| (400..500).contains(&s));
        host.response_headers = vec![(":status".into(), status)];
        let rest: Vec<u8> = lines.collect::<Vec<_>>().join(&b'\n');
        host.response_headers.extend(header_lines(&rest));
        let end_on_headers = flags & 8 != 0 && rbody.is_empty();
        if status_4xx {
            status_4xx = refused_unread(&host.response_headers, rbody, end_on_headers);
        }
        let a = stream.on_response_headers(&mut host, end_on_headers);
        assert_eq!(a, Action::Continue, "response headers are never held");
        if !end_on_headers {
            let ends = chunks(data, 15, rbody.len());
            let mut from = 0;
            for (i, &end) in ends.iter().enumerate() {
                host.response_chunk = rbody[from..end].to_vec();
                host.replaced_chunk = None;
                from = end;
                let size = host.response_chunk.len();
                let a = stream.on_response_body(config, &mut host, size, i + 1 == ends.len());
                assert_eq!(a, Action::Continue, "response bodies are never held");
                let sent = host
                    .replaced_chunk
                    .take()
                    .unwrap_or_else(|| host.response_chunk.clone());
                downstream.extend_from_slice(&sent);
            }
        }
        listed_tools_only(config, &host, body, &downstream);
    }
    // How the exchange ended, as Envoy's `response.code_details` says.
    let upstream_reset = flags & 0x20 != 0;
    let never_connected = upstream_reset && u16_at(data, 21) & 1 != 0;
    if !answers {
        let details: &[u8] = if never_connected {
            b"upstream_reset_before_response_started{remote_connection_failure}"
        } else if upstream_reset {
            b"upstream_reset_before_response_started{connection_termination}"
        } else {
            b"downstream_remote_disconnect"
        };
        host.properties.push((
            vec!["response".into(), "code_details".into()],
            details.to_vec(),
        ));
    }
    let before_log: Vec<f64> = keys
        .iter()
        .map(|(k, s)| host.store.read(k, *s).expect("memory store"))
        .collect();
    stream.on_log(&mut host);
    if replied.is_none() {
        for ((key, slot), before) in keys.iter().zip(before_log) {
            let v = host.store.read(key, *slot).expect("memory store");
            if status_4xx || (!answers && never_connected) {
                // The call never ran: it counts nowhere.
                assert_eq!(
                    v,
                    0.0,
                    "counter {key:?} still holds {v} after the call {}",
                    if status_4xx {
                        "was refused by the server (4xx)"
                    } else {
                        "was never delivered"
                    }
                );
            } else if !answers {
                // A reset after the request was sent, or a client that
                // went away: the call may have run, it still counts.
                assert_eq!(
                    v, before,
                    "counter {key:?} changed when the exchange ended early"
                );
            }
        }
    }
});

/// Whether a 4xx proves the server never read the call: no body, a body
/// that is not JSON-RPC (by its content type), or one in which no message
/// answers a request by id (README, refunds). An encoded or unreadable body
/// proves nothing.
fn refused_unread(headers: &[(String, String)], body: &[u8], ended: bool) -> bool {
    // A repeated header reads as all its values joined, as HTTP reads it
    // (and as the filter does: reading only the first would give quota back
    // for a body a client may read as an answer).
    let header = |name: &str| lookup(headers, name);
    let content_type = header("content-type").unwrap_or_default().to_ascii_lowercase();
    let sse = content_type.trim_start().starts_with("text/event-stream");
    let json = content_type.contains("json");
    let encoded = header("content-encoding")
        .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    if ended || !sse && !json {
        return true;
    }
    if encoded {
        return false;
    }
    let documents = if sse { sse_data(body) } else { vec![body.to_vec()] };
    !documents.iter().filter(|d| !d.is_empty()).any(|d| {
        match mcp_policy::json::parse(d) {
            Err(_) => true,
            Ok(v) => {
                let answers = |m: &mcp_policy::json::Json<'_>| {
                    m.get("id").is_some_and(|id| !matches!(id, mcp_policy::json::Json::Null))
                        && (m.get("result").is_some() || m.get("error").is_some())
                };
                match &v {
                    mcp_policy::json::Json::Arr(items) => items.iter().any(answers),
                    m => answers(m),
                }
            }
        }
    })
}

/// SPEC §4.1: a response the filter reads (on an MCP path, an answer to
/// judged JSON-RPC, any event stream) never shows a tool the caller's policy
/// would not list, in any message, under any id. Read what went downstream
/// as a lenient client would (serde_json, last duplicate wins; SSE events'
/// data lines).
fn listed_tools_only(config: &Config, host: &FakeHost, request: &[u8], downstream: &[u8]) {
    let header = |name: &str| {
        host.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let content_type = header("content-type").unwrap_or_default().to_ascii_lowercase();
    let sse = content_type.trim_start().starts_with("text/event-stream");
    if !sse && !content_type.contains("json") {
        return; // not read as MCP by a client either
    }
    let path = lookup(&host.request_headers, ":path").unwrap_or_default();
    let judged = mcp::parse(request).is_ok();
    if !(sse || config.is_mcp_path(&path) || judged) {
        return;
    }
    let facts = Facts {
        headers: host.request_headers.clone(),
        properties: host.properties.clone(),
    };
    let policy = config.caller(&facts).policy.and_then(|i| config.policy(i));
    let documents: Vec<Vec<u8>> = if sse {
        sse_data(downstream)
    } else {
        vec![downstream.to_vec()]
    };
    for doc in documents {
        let Ok(reading) = fuzzkit::reference::parse(&doc) else {
            continue;
        };
        for m in fuzzkit::check::messages_of(&reading.value) {
            let Some(tools) = m
                .get("result")
                .and_then(|r| r.get("tools"))
                .and_then(|t| t.as_array())
            else {
                continue;
            };
            for tool in tools {
                // A tool without a name cannot be called: only names matter.
                let Some(name) = tool.get("name").and_then(|n| n.as_str()) else {
                    continue;
                };
                assert!(
                    policy.is_some_and(|p| p.lists(name)),
                    "a response showed {:?}, which the caller could never call: {}",
                    tool.get("name"),
                    String::from_utf8_lossy(downstream)
                );
            }
        }
    }
}

/// The data of each event of an SSE stream (lines end with CRLF, LF or CR;
/// a blank line ends an event; `data:` with one optional space), as bytes.
fn sse_data(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < stream.len() {
        match stream[i] {
            b'\n' => {
                lines.push(&stream[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&stream[start..i]);
                i += if stream.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    lines.push(&stream[start..]);
    let mut out = Vec::new();
    let mut data: Option<Vec<u8>> = None;
    for line in lines {
        if line.is_empty() {
            if let Some(d) = data.take() {
                out.push(d);
            }
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            let d = data.get_or_insert_with(Vec::new);
            if !d.is_empty() {
                d.push(b'\n');
            }
            d.extend_from_slice(value);
        }
    }
    if let Some(d) = data {
        out.push(d);
    }
    out
}
