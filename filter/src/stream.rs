//! One HTTP exchange through the filter: hold, buffer, judge, answer, roll
//! back. A state machine over a `Host`, so that the whole flow is tested
//! natively with a test double; the proxy-wasm adapter (`host`) only maps
//! callbacks and host calls onto it.
//!
//! What is judged (SPEC §4): every request with a body is held (headers too)
//! until its body is read. On the MCP paths the body must be JSON-RPC; on any
//! other path a body that might be JSON is read, and judged if it is shaped
//! like JSON-RPC, while a body that cannot be JSON (a form, plain text) is
//! released as soon as its first significant byte says so. Nothing is
//! forwarded before the decision; a blocked request is answered locally.
//!
//! After an allowed call, the counters it reserved are given back if the
//! upstream answers 5xx, answers that call with a JSON-RPC error, or the
//! exchange ends before the response does.
//!
//! Does not own: deciding (`judge`), the replies' shape (`respond`).

use crate::config::{Caller, Config, RequestFacts};
use crate::decision::{codes, Decision, Verdict};
use crate::engine::conditions::equal;
use crate::engine::counters::{release_all, CounterStore, Reservation};
use crate::json::{self, Json, Num};
use crate::judge::{judge, refused, Context, Held};
use crate::mcp::{self, Refusal};
use crate::{respond, sse, toolslist};

/// What the host should do with the stream after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Hold (headers) or keep buffering (body).
    Pause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// A metric the stream reports; the host maps it to a defined metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric<'a> {
    Decision(Verdict),
    /// A `tools/call` of `tool` that was allowed or not.
    Tool {
        tool: &'a str,
        allowed: bool,
    },
    /// Reservations given back after the upstream failed.
    Rollback,
}

/// What the stream needs from the proxy.
pub trait Host {
    /// Every request header (lower-case names), read once per callback.
    fn request_headers(&self) -> Headers;
    fn response_headers(&self) -> Headers;
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// The first `size` bytes of the buffered request body.
    fn request_body(&self, size: usize) -> Option<Vec<u8>>;
    /// The first `size` bytes of the current response body chunk.
    fn response_body(&self, size: usize) -> Option<Vec<u8>>;
    fn now_ms(&self) -> u64;
    fn remove_request_header(&mut self, name: &str);
    fn remove_response_header(&mut self, name: &str);
    /// Replaces the current response body chunk (its `size` bytes) with `data`.
    fn set_response_body(&mut self, size: usize, data: &[u8]);
    /// Answers the request locally with a JSON body.
    fn reply(&mut self, status: u32, body: &str);
    /// Filter state `wasm.<key>`, for access logs.
    fn filter_state(&mut self, key: &str, value: &str);
    fn log(&self, level: Level, message: &str);
    fn metric(&mut self, metric: Metric<'_>);
    fn counters(&mut self) -> &mut dyn CounterStore;
}

/// Header pairs, as the host lends them in one call: one buffer, read in
/// place (a request's dozen headers cost no allocation each).
#[derive(Debug, Default, Clone)]
pub struct Headers {
    raw: Vec<u8>,
    entries: Vec<(Text, Text)>,
}

/// Byte offsets `start..end` into `Headers::raw`.
type Span = (usize, usize);

/// A name or value: a span of `raw` that is UTF-8, or, for bytes that are
/// not, a NUL and the bytes in hex. So two values that differ only in
/// invalid bytes stay distinct (no header value holds a NUL).
#[derive(Debug, Clone)]
enum Text {
    Span(usize, usize),
    Escaped(String),
}

impl Headers {
    /// Headers from name/value pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Headers {
        let mut h = Headers::default();
        for (k, v) in pairs {
            let key = h.push(k.as_bytes());
            let value = h.push(v.as_bytes());
            h.entries.push((key, value));
        }
        h
    }

    /// Headers in proxy-wasm's map encoding: a u32 count, a (u32, u32) size
    /// pair per entry, then each name and value followed by NUL; all
    /// little-endian. Malformed input reads as no headers.
    pub fn from_map_bytes(raw: Vec<u8>) -> Headers {
        let entries = Headers::spans(&raw).unwrap_or_default();
        let mut h = Headers {
            raw,
            entries: Vec::with_capacity(entries.len()),
        };
        for (k, v) in entries {
            let key = h.text(k);
            let value = h.text(v);
            h.entries.push((key, value));
        }
        h
    }

    fn spans(raw: &[u8]) -> Option<Vec<(Span, Span)>> {
        let word = |at: usize| -> Option<usize> {
            let b: [u8; 4] = raw.get(at..at.checked_add(4)?)?.try_into().ok()?;
            usize::try_from(u32::from_le_bytes(b)).ok()
        };
        let count = word(0)?;
        let mut at = count.checked_mul(8)?.checked_add(4)?;
        let mut out = Vec::with_capacity(count.min(256));
        for i in 0..count {
            let sizes = i.checked_mul(8)?.checked_add(4)?;
            let (k, v) = (word(sizes)?, word(sizes.checked_add(4)?)?);
            let key = (at, at.checked_add(k)?);
            at = key.1.checked_add(1)?;
            let value = (at, at.checked_add(v)?);
            at = value.1.checked_add(1)?;
            raw.get(value.0..value.1)?;
            out.push((key, value));
        }
        Some(out)
    }

    fn push(&mut self, bytes: &[u8]) -> Text {
        let start = self.raw.len();
        self.raw.extend_from_slice(bytes);
        Text::Span(start, self.raw.len())
    }

    fn text(&self, (start, end): Span) -> Text {
        let bytes = self.raw.get(start..end).unwrap_or_default();
        if std::str::from_utf8(bytes).is_ok() {
            Text::Span(start, end)
        } else {
            let mut escaped = String::from("\0");
            crate::policy::push_hex(&mut escaped, bytes);
            Text::Escaped(escaped)
        }
    }

    fn str<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            Text::Span(s, e) => self
                .raw
                .get(*s..*e)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            Text::Escaped(s) => s,
        }
    }

    /// Every value of header `name`, in order (names compare
    /// case-insensitively).
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.entries
            .iter()
            .filter(move |(k, _)| self.bytes(k).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| self.str(v))
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    fn bytes<'a>(&'a self, text: &'a Text) -> &'a [u8] {
        match text {
            Text::Span(s, e) => self.raw.get(*s..*e).unwrap_or_default(),
            Text::Escaped(s) => s.as_bytes(),
        }
    }

    /// How many times header `name` occurs.
    fn count(&self, name: &str) -> usize {
        self.values(name).count()
    }

    /// Every value of header `name`, joined with `, ` as HTTP reads a
    /// repeated header. A second `Mcp-Name`, `Content-Encoding` or identity
    /// header is judged with the first, never ignored: something after the
    /// filter might read the last one.
    fn owned(&self, name: &str) -> Option<String> {
        let mut values = self.values(name);
        let mut joined = values.next()?.to_owned();
        for v in values {
            joined.push_str(", ");
            joined.push_str(v);
        }
        Some(joined)
    }
}

struct Facts<'h> {
    headers: &'h Headers,
    host: &'h dyn Host,
}

impl RequestFacts for Facts<'_> {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.owned(name)
    }
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.host.property(path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the request headers.
    Start,
    /// Off the MCP paths: waiting for the first significant body byte.
    Sniffing,
    /// Reading the whole body.
    Buffering,
    /// Let through without judging (no body, or a body that cannot be JSON).
    Passed,
    /// Judged and allowed.
    Allowed,
    /// Answered locally.
    Replied,
}

/// How much of a response is scanned for the JSON-RPC error that rolls a
/// call's reservations back.
const RESPONSE_SCAN_LIMIT: usize = 1 << 20;
/// The largest `tools/list` response the filter rewrites; a larger one is
/// withheld (replaced with an error), never passed unfiltered.
const REWRITE_LIMIT: usize = 16 << 20;
/// How much of a body is read to tell whether it might be JSON.
const SNIFF_BYTES: usize = 1024;

/// The filter's state for one HTTP exchange.
#[derive(Debug)]
pub struct Stream {
    phase: Phase,
    mcp_path: bool,
    /// Bytes of request body buffered so far.
    buffered: usize,
    /// Read while the request headers are held: Envoy lends header maps
    /// only during their callbacks and while they are paused.
    request: RequestInfo,
    /// Reservations of allowed calls, by JSON-RPC id, until the upstream
    /// has answered.
    held: Vec<Held>,
    /// Ids of the `tools/list` requests, whose results are cut down to the
    /// caller's policy.
    lists: Vec<Json<'static>>,
    /// The request body was one message, not a batch: an error answer
    /// with `id: null` (the server could not read it) is that call's.
    single: bool,
    /// The caller's policy (index into `Config::policies`).
    policy: Option<usize>,
    response: Response,
}

#[derive(Debug, Default)]
struct RequestInfo {
    caller: Option<Caller>,
    session: Option<String>,
    request_id: Option<String>,
    protocol_version: Option<String>,
    /// 2026-07-28 routing headers, checked against the body.
    mcp_method: Option<String>,
    mcp_name: Option<String>,
    accept_encoding: bool,
    post: bool,
}

/// What the filter does with the response.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing to watch.
    #[default]
    Pass,
    /// Read it for JSON-RPC errors that roll back held calls.
    Watch,
    /// Rewrite `tools/list` results (and watch).
    Rewrite,
    /// Replace it with an error: a tool list the filter cannot read.
    Refuse,
    /// Drop what is left after a refusal.
    Drop,
}

#[derive(Debug, Default)]
struct Response {
    mode: Mode,
    sse: bool,
    complete: bool,
    events: sse::Events,
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream {
            phase: Phase::Start,
            mcp_path: false,
            buffered: 0,
            request: RequestInfo::default(),
            held: Vec::new(),
            single: false,
            lists: Vec::new(),
            policy: None,
            response: Response::default(),
        }
    }

    pub fn on_request_headers(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Action {
        let headers = host.request_headers();
        self.mcp_path = config.is_mcp_path(headers.get(":path").unwrap_or_default());
        self.request = RequestInfo {
            caller: Some(config.caller(&Facts {
                headers: &headers,
                host: &*host,
            })),
            session: headers.owned("mcp-session-id"),
            request_id: headers.owned("x-request-id"),
            protocol_version: headers.owned("mcp-protocol-version"),
            mcp_method: headers.owned("mcp-method"),
            mcp_name: headers.owned("mcp-name"),
            accept_encoding: headers.get("accept-encoding").is_some(),
            post: headers
                .get(":method")
                .is_some_and(|m| m.eq_ignore_ascii_case("POST")),
        };
        // Servers read the first of these; the filter would key session
        // limits on both. One value each, or the request is refused.
        if let Some(name) = ["mcp-session-id", "mcp-protocol-version"]
            .into_iter()
            .find(|n| headers.count(n) > 1)
        {
            let refusal = Refusal {
                code: codes::INVALID_REQUEST,
                message: format!("Invalid Request: header {name} appears more than once"),
                id: None,
            };
            return self.refuse(config, host, &refusal);
        }
        if config.strip_authorization && headers.get("authorization").is_some() {
            host.remove_request_header("authorization");
        }
        if end_of_stream {
            if self.mcp_path && self.request.post {
                let refusal = Refusal {
                    code: codes::PARSE_ERROR,
                    message: "Parse error: a POST to the MCP endpoint needs a JSON-RPC body".into(),
                    id: None,
                };
                return self.refuse(config, host, &refusal);
            }
            self.phase = Phase::Passed;
            return Action::Continue;
        }
        let encoding = headers.owned("content-encoding").unwrap_or_default();
        let encoding = encoding.trim();
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            // A compressed body could hide a tools/call: never let one past.
            let refusal = Refusal {
                code: codes::UNSUPPORTED_ENCODING,
                message: format!(
                    "Content-Encoding {encoding:?} is not accepted: send the body uncompressed"
                ),
                id: None,
            };
            return self.refuse(config, host, &refusal);
        }
        self.phase = if self.mcp_path {
            Phase::Buffering
        } else {
            Phase::Sniffing
        };
        Action::Pause
    }

    pub fn on_request_body(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        size: usize,
        end_of_stream: bool,
    ) -> Action {
        match self.phase {
            Phase::Sniffing | Phase::Buffering => {}
            Phase::Replied => return Action::Pause,
            _ => return Action::Continue,
        }
        self.buffered = size;
        if self.phase == Phase::Sniffing {
            let prefix = host.request_body(size.min(SNIFF_BYTES)).unwrap_or_default();
            match first_significant(&prefix) {
                Some(b'{' | b'[') => self.phase = Phase::Buffering,
                Some(_) => {
                    self.phase = Phase::Passed;
                    return Action::Continue;
                }
                None if prefix.len() >= SNIFF_BYTES => self.phase = Phase::Buffering,
                None => {}
            }
        }
        if size > config.mcp.max_body_bytes {
            let refusal = Refusal {
                code: codes::TOO_LARGE,
                message: format!(
                    "Request body is larger than the {} bytes the policy filter reads",
                    config.mcp.max_body_bytes
                ),
                id: None,
            };
            return self.refuse(config, host, &refusal);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = host.request_body(size).unwrap_or_default();
        if body.is_empty() && !self.request.post {
            // A GET or DELETE whose (empty) body came in its own frame.
            self.phase = Phase::Passed;
            return Action::Continue;
        }
        if !self.mcp_path && !mcp::could_be_json(&body) {
            self.phase = Phase::Passed;
            return Action::Continue;
        }
        self.judge_body(config, host, &body)
    }

    fn context<'s>(
        &'s self,
        config: &Config,
        host: &dyn Host,
        fallback: &'s mut Option<Caller>,
    ) -> Context<'s> {
        let caller = match &self.request.caller {
            Some(c) => c,
            None => fallback.insert(config.caller(&Facts {
                headers: &Headers::default(),
                host,
            })),
        };
        Context {
            caller,
            session: self.request.session.as_deref(),
            request_id: self.request.request_id.as_deref(),
            now_ms: host.now_ms(),
        }
    }

    fn judge_body(&mut self, config: &Config, host: &mut dyn Host, body: &[u8]) -> Action {
        let mut fallback = None;
        let ctx = self.context(config, host, &mut fallback);
        let parsed = match mcp::parse(body) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                let other_json =
                    !self.mcp_path && json::parse(body).is_ok_and(|v| !mcp::is_jsonrpc_shaped(&v));
                if other_json {
                    // An application's own JSON on another path.
                    self.phase = Phase::Passed;
                    return Action::Continue;
                }
                let decision = refused(&refusal, ctx);
                return self.finish(config, host, decision, Vec::new(), body);
            }
        };
        if let Err(refusal) = mcp::check_routing_headers(
            &parsed,
            self.request.mcp_method.as_deref(),
            self.request.mcp_name.as_deref(),
        ) {
            let decision = refused(&refusal, ctx);
            return self.finish(config, host, decision, Vec::new(), body);
        }
        let policy = ctx.caller.policy;
        let single = matches!(parsed, mcp::Body::Single(_));
        let judgement = judge(config, &parsed, ctx, host.counters());
        self.single = single;
        let action = self.finish(config, host, judgement.decision, judgement.held, body);
        if action == Action::Continue {
            self.policy = policy;
            self.lists = parsed
                .messages()
                .iter()
                .filter(|m| m.method() == Some(mcp::TOOLS_LIST))
                .filter_map(|m| m.id.clone().map(Json::into_owned))
                .collect();
            // The response is read (tool lists, failed calls): ask for it
            // uncompressed.
            if self.request.accept_encoding {
                host.remove_request_header("accept-encoding");
            }
        }
        action
    }

    fn refuse(&mut self, config: &Config, host: &mut dyn Host, refusal: &Refusal) -> Action {
        let mut fallback = None;
        let decision = refused(refusal, self.context(config, host, &mut fallback));
        self.finish(config, host, decision, Vec::new(), &[])
    }

    /// Records the decision, then answers or lets the request go. A reply
    /// echoes each id as `body` spelled it.
    fn finish(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        mut decision: Decision,
        held: Vec<Held>,
        body: &[u8],
    ) -> Action {
        audit(config, host, &decision);
        if decision.decision.blocks() && !body.is_empty() {
            let batch = first_significant(body) == Some(b'[');
            decision.set_raw_ids(mcp::raw_ids(body), batch);
        }
        let style = respond::Style::new(config.deny_as, self.request.protocol_version.as_deref());
        match respond::reply(style, &decision) {
            Some(reply) => {
                self.phase = Phase::Replied;
                host.reply(reply.status, &reply.body);
                Action::Pause
            }
            None => {
                self.phase = Phase::Allowed;
                self.held = held;
                Action::Continue
            }
        }
    }

    pub fn on_response_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Action {
        if self.held.is_empty() && self.lists.is_empty() {
            return Action::Continue;
        }
        let headers = host.response_headers();
        let status: u32 = headers
            .get(":status")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // The server's own 4xx or 5xx: it did not run the call (a bad
        // session, authentication, an overloaded or failing server).
        if status >= 400 && from_the_server(host) {
            self.roll_back_all(host);
        }
        if end_of_stream {
            self.response.complete = true;
            self.held.clear();
            return Action::Continue;
        }
        let content_type = headers
            .get("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        self.response.sse = content_type.starts_with("text/event-stream");
        let readable = self.response.sse || content_type.contains("json");
        let encoded = headers
            .get("content-encoding")
            .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
        self.response.mode = if self.lists.is_empty() || !(200..300).contains(&status) {
            if readable && !encoded && !self.held.is_empty() {
                Mode::Watch
            } else {
                Mode::Pass
            }
        } else if readable && !encoded {
            Mode::Rewrite
        } else {
            // A tool list the filter cannot read is not shown.
            Mode::Refuse
        };
        if matches!(self.response.mode, Mode::Rewrite | Mode::Refuse) {
            host.remove_response_header("content-length");
            if self.response.mode == Mode::Refuse {
                host.remove_response_header("content-encoding");
            }
        }
        Action::Continue
    }

    pub fn on_response_body(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        size: usize,
        end_of_stream: bool,
    ) -> Action {
        match self.response.mode {
            Mode::Pass => {}
            Mode::Watch => {
                if self.response.events.pending_len() < RESPONSE_SCAN_LIMIT {
                    let chunk = host.response_body(size).unwrap_or_default();
                    self.response.events.push(&chunk);
                    // Only an error changes anything here (results settle at
                    // the end), so a message without one is not parsed.
                    if self.response.sse {
                        while let Some(event) = self.response.events.next_event() {
                            let data = sse::data(&event);
                            if mentions_error(&data) {
                                self.on_message(config, host, &data);
                            }
                        }
                    } else if end_of_stream {
                        let body = self.response.events.take_rest();
                        if mentions_error(&body) {
                            self.on_message(config, host, &body);
                        }
                    }
                }
            }
            Mode::Rewrite => {
                let chunk = host.response_body(size).unwrap_or_default();
                self.response.events.push(&chunk);
                let mut out = Vec::new();
                if self.response.events.pending_len() > REWRITE_LIMIT {
                    out = self.refusal_body();
                    self.response.mode = Mode::Drop;
                } else if self.response.sse {
                    while let Some(event) = self.response.events.next_event() {
                        out.extend(self.rewrite_event(config, host, &event));
                    }
                    if end_of_stream {
                        let rest = self.response.events.take_rest();
                        if !rest.is_empty() {
                            out.extend(self.rewrite_event(config, host, &rest));
                        }
                    }
                } else if end_of_stream {
                    let body = self.response.events.take_rest();
                    out = match self.rewrite(config, host, &body) {
                        Some(_) if self.response.mode == Mode::Drop => self.refusal_body(),
                        Some(new) => new,
                        None => body,
                    };
                }
                host.set_response_body(size, &out);
            }
            Mode::Refuse => {
                let out = self.refusal_body();
                self.response.mode = Mode::Drop;
                host.set_response_body(size, &out);
            }
            Mode::Drop => host.set_response_body(size, &[]),
        }
        if end_of_stream {
            self.response.complete = true;
            // Answered without an error the filter could see: the calls ran.
            self.held.clear();
        }
        Action::Continue
    }

    /// The exchange is over. Reservations still held belong to calls whose
    /// response never completed: given back when the upstream reset the
    /// stream (the call failed), kept otherwise. A client that disconnects
    /// while its call runs is still counted: the call reached the server, and
    /// a disconnect does not cancel it.
    pub fn on_log(&mut self, host: &mut dyn Host) {
        if self.response.complete || self.held.is_empty() {
            return;
        }
        let details = host
            .property(&["response", "code_details"])
            .unwrap_or_default();
        if details.starts_with(b"upstream_reset") {
            self.roll_back_all(host);
        }
    }

    /// Request trailers end the body (HTTP/2 always may send them, HTTP/1.1
    /// chunked with `enable_trailers`): judge what was buffered, exactly as
    /// at the end of the body.
    pub fn on_request_trailers(&mut self, config: &Config, host: &mut dyn Host) -> Action {
        match self.phase {
            Phase::Sniffing | Phase::Buffering => {
                let size = self.buffered;
                self.on_request_body(config, host, size, true)
            }
            Phase::Replied => Action::Pause,
            _ => Action::Continue,
        }
    }

    fn rewrite_event(&mut self, config: &Config, host: &mut dyn Host, event: &[u8]) -> Vec<u8> {
        if self.response.mode == Mode::Drop {
            return Vec::new();
        }
        let data = sse::data(event);
        if data.is_empty() {
            // A comment, a keep-alive, a retry hint: no message.
            return event.to_vec();
        }
        match self.rewrite(config, host, &data) {
            Some(_) if self.response.mode == Mode::Drop => self.refusal_body(),
            Some(new) => sse::with_data(event, &new),
            None => event.to_vec(),
        }
    }

    /// A message of a response whose tool lists are rewritten: `Some` with
    /// what replaces it, `None` to pass it as it is. A message the filter
    /// cannot read strictly might be the tool list: it is withheld, the
    /// listing requests are answered with an error, and the rest of the
    /// response is dropped.
    fn rewrite(&mut self, config: &Config, host: &mut dyn Host, text: &[u8]) -> Option<Vec<u8>> {
        if json::parse(text).is_err() {
            self.response.mode = Mode::Drop;
            return Some(Vec::new());
        }
        self.on_message(config, host, text)
    }

    /// One JSON-RPC message (or batch) of the response: settles held calls
    /// (an error gives a call's reservations back, a result keeps them) and
    /// returns the message rewritten when it is a `tools/list` result the
    /// caller may not see whole.
    fn on_message(&mut self, config: &Config, host: &mut dyn Host, text: &[u8]) -> Option<Vec<u8>> {
        let value = json::parse(text).ok()?;
        let messages: Vec<&Json<'_>> = match &value {
            Json::Arr(items) => items.iter().collect(),
            other => vec![other],
        };
        for message in messages {
            let Some(id) = message.get("id") else {
                continue;
            };
            let error = message.get("error");
            let found = match id {
                // The server could not read the request it got: nothing ran.
                Json::Null if error.is_some() && self.single && !self.held.is_empty() => Some(0),
                id => self
                    .held
                    .iter()
                    .position(|h| h.id.as_ref().is_some_and(|held| equal(held, id))),
            };
            // A call the client cancelled (`notifications/cancelled`, answered
            // -32800) was started, and may have done its work: it counts.
            let failed = error.is_some_and(|e| !cancelled(e));
            if let Some(pos) = found {
                let held = self.held.swap_remove(pos);
                if failed {
                    roll_back(host, &held.reservations);
                }
            }
        }
        if self.lists.is_empty() || !toolslist::answers(&value, &self.lists) {
            return None;
        }
        let policy = self.policy.and_then(|i| config.policy(i));
        toolslist::filter(text, &self.lists, policy)
    }

    /// What replaces a `tools/list` response the filter cannot read: an
    /// error for each listing request, framed as the response was.
    fn refusal_body(&self) -> Vec<u8> {
        let errors: Vec<String> = self
            .lists
            .iter()
            .map(|id| {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32603,"message":"The MCP policy filter could not read this tools/list response, so it is withheld"}}}}"#,
                    id.to_text()
                )
            })
            .collect();
        if self.response.sse {
            errors
                .iter()
                .flat_map(|e| sse::with_data(b"event: message\n", e.as_bytes()))
                .collect()
        } else if errors.len() == 1 {
            errors.concat().into_bytes()
        } else {
            format!("[{}]", errors.join(",")).into_bytes()
        }
    }

    fn roll_back_all(&mut self, host: &mut dyn Host) {
        let all: Vec<Reservation> = self.held.drain(..).flat_map(|h| h.reservations).collect();
        roll_back(host, &all);
    }
}

/// Whether the response is the upstream's own, or its reset, as Envoy's
/// `response.code_details` says (`via_upstream`, `upstream_reset_*`). Not
/// Envoy's replies of its own, above all its timeouts (408
/// `stream_idle_timeout`, 504 `upstream_response_timeout`): a server that
/// never answers may well have run the call, and a client can arrange that
/// (cancel the call on a server that then stays silent), so a timeout gives
/// nothing back. A host that does not report details is taken at its word.
fn from_the_server(host: &dyn Host) -> bool {
    match host.property(&["response", "code_details"]) {
        None => true,
        Some(d) if d.is_empty() => true,
        Some(d) => d == b"via_upstream" || d.starts_with(b"upstream_reset"),
    }
}

/// The JSON-RPC error a server sends for a request its client cancelled.
fn cancelled(error: &Json<'_>) -> bool {
    const REQUEST_CANCELLED: i64 = -32800;
    error
        .get("code")
        .and_then(Json::as_num)
        .is_some_and(|code| code == Num::I(REQUEST_CANCELLED))
}

fn roll_back(host: &mut dyn Host, reservations: &[Reservation]) {
    if reservations.is_empty() {
        return;
    }
    release_all(host.counters(), reservations);
    host.metric(Metric::Rollback);
    host.log(
        Level::Debug,
        "mcp_policy: upstream failed; the call's counter reservations were given back",
    );
}

/// Whether a message might hold a JSON-RPC error (a cheap test before parsing).
fn mentions_error(text: &[u8]) -> bool {
    text.windows(7).any(|w| w == b"\"error\"")
}

/// The first byte that is not whitespace, a byte-order mark or NUL.
fn first_significant(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| {
        !matches!(
            b,
            b' ' | b'\t' | b'\r' | b'\n' | 0 | 0xEF | 0xBB | 0xBF | 0xFE | 0xFF
        )
    })
}

/// The audit record of a decision: one log line, the filter state access
/// logs print, and the metrics.
fn audit(config: &Config, host: &mut dyn Host, decision: &Decision) {
    if config.audit.log {
        host.log(
            Level::Info,
            &format!("mcp_policy decision {}", decision.to_json()),
        );
    }
    // Each is a host call: unset keys print as "-" in access logs anyway.
    host.filter_state("mcp_policy.decision", decision.decision.label());
    for (key, value) in [
        ("mcp_policy.tool", decision.tool.as_deref()),
        ("mcp_policy.grant", decision.grant.as_deref()),
        ("mcp_policy.rule", Some(decision.rule.as_str())),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            host.filter_state(key, v);
        }
    }
    host.metric(Metric::Decision(decision.decision));
    let elements = if decision.elements.is_empty() {
        std::slice::from_ref(decision)
    } else {
        &decision.elements
    };
    for e in elements {
        if let Some(tool) = &e.tool {
            host.metric(Metric::Tool {
                tool,
                allowed: !e.decision.blocks(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
