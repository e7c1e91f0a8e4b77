//! The response side of an exchange: refunds and tool lists.
//!
//! Owns, for one response, given what the request side handed over
//! (`Handoff`):
//! - **refunds**: the reservations of the forwarded calls come back only
//!   when the calls provably did not run: Envoy never delivered the request
//!   (no healthy upstream, a connection that failed or overflowed, no
//!   route), or the server refused the HTTP request itself with a 4xx
//!   before reading it as a call (an unknown session, authentication, a bad
//!   header): a 4xx whose body answers no request by id. A 4xx that carries
//!   a JSON-RPC answer with an id came after the server read the call, and
//!   the Python SDK sends a tool's own errors so on 2026-07-28 requests.
//!   Nothing else gives quota back: not a JSON-RPC error (answers are routed
//!   by ids the client picks, so an error may well be another request's,
//!   and a tool may fail after it acted), not a 5xx (a server answers 500
//!   when a session ends while its call runs), not a reset or a timeout
//!   after the request was sent, not a client that cancels or hangs up;
//! - **tool lists**: every JSON-RPC message of a response the filter reads
//!   (on the MCP paths every JSON or SSE response, a GET stream and a resumed
//!   one included; elsewhere the answers to judged JSON-RPC and every SSE
//!   stream) has its tool lists cut to the caller (`toolslist`), whatever
//!   its id. A message that may hold a list but cannot be read, or a
//!   response the filter cannot decode, is withheld.
//!
//! Does not own: judging the request (`stream`), what a list may show
//! (`policy::Policy::lists`).

use super::{roll_back, Action, Host};
use crate::config::Config;
use crate::engine::counters::Reservation;
use crate::json::Json;
use crate::{sse, toolslist};

/// What the request side admitted, for the response side to act on.
#[derive(Debug, Default)]
pub struct Handoff {
    /// The reservations of every call that was forwarded.
    pub reservations: Vec<Reservation>,
    /// The caller's policy (index into `Config::policies`); `None`: the
    /// caller may call nothing, and sees no tools.
    pub policy: Option<usize>,
    /// Whether the response's messages are read: the request was on an MCP
    /// path or was judged JSON-RPC. (SSE responses are read anyway.)
    pub read: bool,
    /// Ids of the `tools/list` requests, answered with an error when their
    /// answer cannot be read.
    pub list_ids: Vec<Json<'static>>,
}

/// The largest response (or SSE event) the filter reads; a larger one is
/// withheld (replaced with an error), never passed unread.
const READ_LIMIT: usize = 16 << 20;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not read: passed as it comes.
    #[default]
    Pass,
    /// Read message by message, tool lists cut.
    Read,
    /// Replaced with an error: it may carry a tool list the filter cannot read.
    Refuse,
    /// Dropped: what is left after a refusal.
    Drop,
}

/// The filter's state for one response.
#[derive(Debug, Default)]
pub struct Watcher {
    handoff: Handoff,
    mode: Mode,
    sse: bool,
    /// The response headers came: the calls are settled, or wait for
    /// `refund`.
    settled: bool,
    /// The server answered 4xx: the reservations come back at the end of
    /// the body unless a message in it answers a request by id.
    refund: Refund,
    events: sse::Events,
    /// The body's first bytes, until there are enough to tell whether it
    /// starts with a byte-order mark.
    head: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Refund {
    #[default]
    No,
    /// A 4xx body is being read.
    UnlessAnswered,
    /// A message of it answered a request by id: the call was read.
    Answered,
}

impl Watcher {
    pub fn new(handoff: Handoff) -> Watcher {
        Watcher {
            handoff,
            ..Watcher::default()
        }
    }

    pub fn on_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Action {
        let headers = host.response_headers();
        let [status, content_type, content_encoding] =
            headers.slots([":status", "content-type", "content-encoding"]);
        let status: u32 = headers
            .value(status)
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // A 2xx is the server's answer: only other statuses need Envoy's
        // word on where they came from.
        let details = if (200..300).contains(&status) {
            None
        } else {
            host.property(&["response", "code_details"])
        };
        let content_type = headers.value(content_type).unwrap_or_default();
        // Clients decode a body by its declared charset (the Python SDK's
        // httpx does): another one than UTF-8 is a text the filter cannot
        // read as they will.
        let foreign = super::foreign_charset(&content_type).is_some();
        let content_type = content_type.trim_start().as_bytes();
        self.sse = content_type
            .get(..17)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"text/event-stream"));
        let json = super::contains_ignore_case(content_type, b"json");
        let encoded = foreign
            || headers.value(content_encoding).is_some_and(|e| {
                !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity")
            });
        self.settled = true;
        if never_delivered(details.as_deref()) {
            roll_back(host, &self.handoff.reservations);
        } else if (400..500).contains(&status)
            && from_the_server(details.as_deref())
            && !self.handoff.reservations.is_empty()
        {
            if (self.sse || json) && !encoded && !end_of_stream {
                // Read the body: does it answer a request?
                self.refund = Refund::UnlessAnswered;
                self.handoff.read = true;
                self.settled = false;
            } else if !self.sse && !json {
                // Not JSON-RPC at all: it answers nothing.
                roll_back(host, &self.handoff.reservations);
            } else if end_of_stream {
                roll_back(host, &self.handoff.reservations);
            }
        }
        if self.settled {
            self.handoff.reservations.clear();
        }
        if !self.handoff.read && !self.sse {
            return Action::Continue;
        }
        let expects_list = !self.handoff.list_ids.is_empty();
        self.mode = match (self.sse || json, encoded) {
            (true, false) => Mode::Read,
            (true, true) => Mode::Refuse,
            (false, _) if expects_list && (200..300).contains(&status) => Mode::Refuse,
            (false, _) => Mode::Pass,
        };
        if self.mode != Mode::Pass {
            // The body may change length.
            host.remove_response_header("content-length");
        }
        if self.mode == Mode::Refuse {
            host.remove_response_header("content-encoding");
        }
        Action::Continue
    }

    pub fn on_body(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        size: usize,
        end_of_stream: bool,
    ) -> Action {
        match self.mode {
            Mode::Pass => {}
            Mode::Read => {
                let chunk = host.response_body(size).unwrap_or_default();
                if self.head.len() < BOM_LEN {
                    self.head
                        .extend(chunk.iter().take(BOM_LEN.saturating_sub(self.head.len())));
                    if starts_with_bom(&self.head) {
                        // Decoders skip a byte-order mark (TypeScript's
                        // TextDecoder does), the SSE and JSON readers here
                        // would not: a text read two ways is withheld.
                        self.mode = Mode::Drop;
                        if self.refund == Refund::UnlessAnswered {
                            self.refund = Refund::Answered;
                        }
                        host.set_response_body(size, &self.refusal());
                        return Action::Continue;
                    }
                }
                // Bytes of earlier chunks still held: this chunk alone is not
                // what goes out.
                let held = self.events.pending_len() > 0;
                self.events.push(chunk);
                let out = if self.events.pending_len() > READ_LIMIT {
                    self.mode = Mode::Drop;
                    if self.refund == Refund::UnlessAnswered {
                        // Unread: nothing proves the call was not read.
                        self.refund = Refund::Answered;
                    }
                    Some(self.refusal())
                } else if self.sse {
                    let mut out = Vec::new();
                    let mut changed = held;
                    while let Some(event) = self.events.next_event() {
                        match self.read_event(config, &event) {
                            Some(new) => {
                                changed = true;
                                out.extend(new);
                            }
                            None => out.extend(event),
                        }
                    }
                    if end_of_stream {
                        let rest = self.events.take_rest();
                        match self.read_event(config, &rest) {
                            Some(new) => {
                                changed = true;
                                out.extend(new);
                            }
                            None => out.extend(rest),
                        }
                    }
                    // An event cut short at the chunk's end is held back.
                    (changed || self.events.pending_len() > 0).then_some(out)
                } else if end_of_stream {
                    let body = self.events.take_rest();
                    self.note_answers(&body);
                    match toolslist::cut(&body, self.policy(config)) {
                        Ok(None) => held.then_some(body),
                        Ok(Some(cut)) => Some(cut),
                        Err(toolslist::Unreadable) => Some(self.refusal()),
                    }
                } else {
                    // Held until the whole answer is read.
                    Some(Vec::new())
                };
                // A chunk that goes out as it came is left as it is.
                if let Some(out) = out {
                    host.set_response_body(size, &out);
                }
                if end_of_stream {
                    self.settle_refund(host);
                }
            }
            Mode::Refuse => {
                let out = self.refusal();
                self.mode = Mode::Drop;
                host.set_response_body(size, &out);
            }
            Mode::Drop => host.set_response_body(size, &[]),
        }
        Action::Continue
    }

    /// The exchange is over. Reservations still unsettled belong to a
    /// request whose response never began (given back only when Envoy never
    /// delivered it), or to a 4xx body that never ended (kept).
    pub fn on_log(&mut self, host: &mut dyn Host) {
        if self.settled || self.handoff.reservations.is_empty() || self.refund != Refund::No {
            self.handoff.reservations.clear();
            return;
        }
        let details = host.property(&["response", "code_details"]);
        if never_delivered(details.as_deref()) {
            roll_back(host, &self.handoff.reservations);
        }
        self.handoff.reservations.clear();
    }

    /// While a 4xx body is read: whether `text` answers a request by id (a
    /// JSON-RPC response whose id is not null). Text that cannot be read
    /// counts as an answer: nothing proves the call was not read.
    fn note_answers(&mut self, text: &[u8]) {
        if self.refund != Refund::UnlessAnswered || text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let answers = |m: &Json<'_>| {
            m.get("id").is_some_and(|id| !matches!(id, Json::Null))
                && (m.get("result").is_some() || m.get("error").is_some())
        };
        let answered = match crate::json::parse(text) {
            Ok(Json::Arr(items)) => items.iter().any(answers),
            Ok(m) => answers(&m),
            Err(_) => true,
        };
        if answered {
            self.refund = Refund::Answered;
        }
    }

    /// At the end of a 4xx body: give the reservations back unless it
    /// answered a request.
    fn settle_refund(&mut self, host: &mut dyn Host) {
        if self.refund == Refund::UnlessAnswered {
            roll_back(host, &self.handoff.reservations);
        }
        self.refund = Refund::No;
        self.handoff.reservations.clear();
        self.settled = true;
    }

    fn policy<'c>(&self, config: &'c Config) -> Option<&'c crate::policy::Policy> {
        self.handoff.policy.and_then(|i| config.policy(i))
    }

    /// One SSE event, its tool lists cut (`None`: it goes out as it is); an
    /// event that may hold a list but cannot be read ends what the caller
    /// sees of the stream.
    fn read_event(&mut self, config: &Config, event: &[u8]) -> Option<Vec<u8>> {
        if self.mode == Mode::Drop {
            return Some(Vec::new());
        }
        if event.is_empty() {
            return None;
        }
        let data = sse::data(event);
        if data.is_empty() {
            // A comment, a keep-alive, a retry hint, a priming event.
            return None;
        }
        self.note_answers(&data);
        match toolslist::cut(&data, self.policy(config)) {
            Ok(None) => None,
            Ok(Some(cut)) => Some(sse::with_data(event, &cut)),
            Err(toolslist::Unreadable) => {
                self.mode = Mode::Drop;
                Some(self.refusal())
            }
        }
    }

    /// What replaces a response that may carry a tool list the filter
    /// cannot read: an error for each `tools/list` request, framed as the
    /// response was (nothing more on an SSE stream with none).
    fn refusal(&self) -> Vec<u8> {
        const WITHHELD: &str = r#""error":{"code":-32603,"message":"The MCP policy filter could not read this response, so it is withheld"}"#;
        let errors: Vec<String> = self
            .handoff
            .list_ids
            .iter()
            .map(|id| format!(r#"{{"jsonrpc":"2.0","id":{},{WITHHELD}}}"#, id.to_text()))
            .collect();
        if self.sse {
            errors
                .iter()
                .flat_map(|e| sse::with_data(b"event: message\n", e.as_bytes()))
                .collect()
        } else if errors.is_empty() {
            format!(r#"{{"jsonrpc":"2.0","id":null,{WITHHELD}}}"#).into_bytes()
        } else if errors.len() == 1 {
            errors.concat().into_bytes()
        } else {
            format!("[{}]", errors.join(",")).into_bytes()
        }
    }
}

/// Whether the response is the upstream's own, as Envoy's
/// `response.code_details` says (`via_upstream`), not one Envoy made up. A
/// host that does not report details is taken at its word.
fn from_the_server(details: Option<&[u8]>) -> bool {
    match details {
        None | Some(b"") => true,
        Some(d) => d == b"via_upstream",
    }
}

/// Whether Envoy says the request never reached a server: no healthy
/// upstream or no route, a connection that could not be made, or a circuit
/// breaker that refused it. (With retries on resets configured, an earlier
/// attempt may have been delivered: keep retries off MCP routes.)
fn never_delivered(details: Option<&[u8]>) -> bool {
    const NEVER: [&[u8]; 4] = [
        b"no_healthy_upstream",
        b"cluster_not_found",
        b"route_not_found",
        b"maintenance_mode",
    ];
    let Some(d) = details else { return false };
    NEVER.contains(&d)
        || (d.starts_with(b"upstream_reset_before_response_started{")
            && (holds(d, b"connection_failure") || holds(d, b"overflow")))
}

const BOM_LEN: usize = 3;

/// Whether a body's first bytes are a UTF-8 or UTF-16 byte-order mark.
fn starts_with_bom(head: &[u8]) -> bool {
    head.starts_with(b"\xEF\xBB\xBF")
        || head.starts_with(b"\xFE\xFF")
        || head.starts_with(b"\xFF\xFE")
}

fn holds(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_envoy_saying_so_proves_a_request_was_never_delivered() {
        for yes in [
            &b"no_healthy_upstream"[..],
            b"upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}",
            b"upstream_reset_before_response_started{connection_failure}",
            b"upstream_reset_before_response_started{overflow}",
            b"route_not_found",
        ] {
            assert!(never_delivered(Some(yes)), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"via_upstream"[..],
            b"upstream_reset_before_response_started{connection_termination}",
            b"upstream_reset_before_response_started{remote_reset}",
            b"upstream_reset_after_response_started{remote_reset}",
            b"stream_idle_timeout",
            b"upstream_response_timeout",
            b"downstream_remote_disconnect",
            b"",
        ] {
            assert!(
                !never_delivered(Some(no)),
                "{}",
                String::from_utf8_lossy(no)
            );
        }
        assert!(!never_delivered(None));
    }
}
