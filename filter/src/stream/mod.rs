//! One HTTP exchange through the filter: hold, buffer, judge, answer; then
//! watch the response. A state machine over a `Host`, so that the whole flow
//! is tested natively with a test double; the proxy-wasm adapter (`host`)
//! only maps callbacks and host calls onto it.
//!
//! What is judged (SPEC §4): every request with a body is held (headers too)
//! until its body is read. On the MCP paths the body must be JSON-RPC; on any
//! other path a body that might be JSON to some reader is read, and judged if
//! it is shaped like JSON-RPC, while a body that cannot be JSON (a form,
//! plain text) is released as soon as its first significant character says
//! so. A body declared in a charset other than UTF-8, or compressed, is
//! refused: the filter would judge other characters than the server reads.
//! Nothing is forwarded before the decision; a blocked request is answered
//! locally. A decision that needs an answer from outside the proxy (a
//! person's approval) waits for it: the request stays held (`Waiting`), the
//! host sends the question (`Host::call_out`), and the answer
//! (`on_outside_answer`) forwards, refuses or answers it. What was admitted
//! goes to the response side (`watch`) as a `Handoff`.
//!
//! Does not own: deciding (`judge`), the replies' shape (`respond`), the
//! questions and answers themselves (`outside`), the response (`watch`),
//! reading headers (`headers`).

#[cfg(any(test, feature = "fake-host"))]
pub mod fake;
mod headers;
mod watch;

pub use headers::{contains_ignore_case, foreign_charset, Headers, Slot};
pub use watch::Handoff;

use crate::config::{Caller, Config, RequestFacts};
use crate::decision::{codes, ApprovalLink, Decision, Verdict};
use crate::engine::counters::{release_all, CounterStore, Reservation};
use crate::engine::Fleet;
use crate::json::write::quote;
use crate::json::{self, Json};
use crate::judge::{judge_request, refused, Approved, Context, Routing};
use crate::mcp::{self, Refusal, Sniff};
use crate::outside::approval::{self, Answer, OnUnavailable};
use crate::outside::rls::{self, Hit};
use crate::respond;
use std::borrow::Cow;
use watch::Watcher;

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
    /// Reservations given back: the request never ran.
    Rollback,
    /// The approval service could not be asked, or gave no answer.
    ApprovalError,
    /// The Rate Limit Service could not be asked, or gave no answer.
    RlsError,
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
    /// The counter namespace of this plugin configuration when the
    /// configuration names none: unique to it, and the same after a reload
    /// of the same listener.
    fn default_namespace(&self) -> String;
    /// Sends `call` to a service outside the proxy; its answer comes back
    /// through `Stream::on_outside_answer`. `false` when it could not be
    /// sent (the host knows no such cluster).
    fn call_out(&mut self, call: &OutsideCall<'_>) -> bool;
    /// Sends a unary gRPC call; its answer comes to `Stream::on_rls_answer`
    /// with the token returned here. `None`: it could not be sent.
    fn call_grpc(&mut self, call: &GrpcCall<'_>) -> Option<u32>;
    /// Lets a request that was held for an outside answer go on upstream.
    fn resume_request(&mut self);
}

/// An HTTP request to a service outside the proxy (SPEC §7): `POST`
/// `path` on the proxy's cluster `cluster`, with a JSON `body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutsideCall<'a> {
    pub cluster: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    pub timeout_ms: u64,
}

/// A unary gRPC call to a service outside the proxy (the Rate Limit
/// Service): `service` is the serialized `GrpcService` naming its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcCall<'a> {
    pub service: &'a [u8],
    pub service_name: &'a str,
    pub method: &'a str,
    pub message: &'a [u8],
    pub timeout_ms: u64,
}

struct Facts<'h> {
    headers: &'h Headers,
    host: &'h dyn Host,
}

impl RequestFacts for Facts<'_> {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers.get(name)
    }
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.host.property(path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the request headers.
    Start,
    /// Off the MCP paths: waiting for the first significant body character.
    Sniffing,
    /// Reading the whole body.
    Buffering,
    /// Let through without judging (no body, or a body that cannot be JSON).
    Passed,
    /// Judged, and held until a service outside the proxy answers (the
    /// approval service, SPEC §7.2; the Rate Limit Service, §7.1): nothing
    /// has gone upstream.
    Waiting,
    /// Judged and allowed.
    Allowed,
    /// Answered locally.
    Replied,
}

/// A request held for an outside answer: its body (judged again when the
/// answer lets it run), the decision that stands meanwhile, and what is
/// awaited.
#[derive(Debug)]
struct Held {
    body: Vec<u8>,
    pending: Decision,
    /// The approval it was judged with (call digest, why it may run):
    /// a call approved by a person may still wait for the Rate Limit Service.
    approved: Option<(String, String)>,
    wait: Wait,
}

#[derive(Debug)]
enum Wait {
    /// The approval service, about the call with this digest.
    Approval { digest: String, elicits_url: bool },
    /// The Rate Limit Service: the hits asked about, the requests not yet
    /// answered (token, the hits each carries), and what the answered ones
    /// said that stops the call.
    Fleet {
        hits: Vec<Hit>,
        open: Vec<(u32, Vec<usize>)>,
        over: Option<(Option<usize>, Option<u64>)>,
        unavailable: Option<String>,
    },
}

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
    /// What the request side admitted, until the response begins.
    handoff: Handoff,
    /// The response side, from the response headers on.
    watcher: Option<Watcher>,
    /// While `Waiting`: what the answer is for.
    held: Option<Box<Held>>,
}

#[derive(Debug, Default)]
struct RequestInfo {
    caller: Option<Caller>,
    /// The counter namespace (empty when no policy has counters).
    namespace: String,
    session: Option<String>,
    request_id: Option<String>,
    protocol_version: Option<String>,
    /// 2026-07-28 routing headers, checked against the body.
    mcp_method: Option<String>,
    mcp_name: Option<String>,
    /// Where the call goes (`:authority`, the path without its query), kept
    /// only when an approval service may bind it.
    authority: String,
    path: String,
    accept_encoding: bool,
    post: bool,
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
            handoff: Handoff::default(),
            watcher: None,
            held: None,
        }
    }

    pub fn on_request_headers(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        end_of_stream: bool,
    ) -> Action {
        let headers = host.request_headers();
        let [path, method, session, protocol, request_id, mcp_method, mcp_name, accept, accept_encoding, authorization, content_encoding, content_type, authority] =
            headers.slots([
                ":path",
                ":method",
                "mcp-session-id",
                "mcp-protocol-version",
                "x-request-id",
                "mcp-method",
                "mcp-name",
                "accept",
                "accept-encoding",
                "authorization",
                "content-encoding",
                "content-type",
                ":authority",
            ]);
        crate::probe!("headers read");
        // A pseudo-header is single in HTTP: the first one is the path. Bytes
        // that are not UTF-8 cannot take it off an MCP path.
        let path = String::from_utf8_lossy(headers.first_bytes(path).unwrap_or_default());
        self.mcp_path = config.is_mcp_path(&path);
        let caller = config.caller(&Facts {
            headers: &headers,
            host: &*host,
        });
        crate::probe!("caller named");
        let namespace = match &config.counter_namespace {
            Some(ns) => ns.clone(),
            // An approval binds the listener too.
            None if config.has_counters() || config.approval.is_some() => host.default_namespace(),
            None => String::new(),
        };
        crate::probe!("namespace");
        self.handoff.policy = caller.policy;
        self.handoff.read = self.mcp_path;
        let owned = |slot: Slot| headers.value(slot).map(Cow::into_owned);
        let protocol_version = owned(protocol);
        self.request = RequestInfo {
            caller: Some(caller),
            namespace,
            session: session_key(protocol_version.as_deref(), owned(session)),
            request_id: owned(request_id),
            protocol_version,
            mcp_method: owned(mcp_method),
            mcp_name: owned(mcp_name),
            authority: match config.approval {
                Some(_) => owned(authority).unwrap_or_default(),
                None => String::new(),
            },
            path: match config.approval {
                Some(_) => path.split(['?', '#']).next().unwrap_or_default().to_owned(),
                None => String::new(),
            },
            accept_encoding: accept_encoding.present(),
            post: headers
                .first_bytes(method)
                .is_some_and(|m| m.eq_ignore_ascii_case(b"POST")),
        };
        crate::probe!("request info");
        // Servers read the first of these; the filter would key session
        // limits on both. One value each, or the request is refused.
        if let Some(name) = [
            (session, "mcp-session-id"),
            (protocol, "mcp-protocol-version"),
        ]
        .into_iter()
        .find(|(slot, _)| slot.count() > 1)
        .map(|(_, name)| name)
        {
            let refusal = Refusal {
                code: codes::INVALID_REQUEST,
                message: format!("Invalid Request: header {name} appears more than once"),
                id: None,
            };
            return self.refuse(config, host, &refusal);
        }
        if config.strip_authorization && authorization.present() {
            host.remove_request_header("authorization");
        }
        // Responses the filter reads (every one on the MCP paths, and any
        // event stream: it may replay a tool list) must come uncompressed.
        let may_stream = headers
            .value(accept)
            .is_some_and(|a| contains_ignore_case(a.as_bytes(), b"text/event-stream"));
        if self.request.accept_encoding && (self.mcp_path || may_stream) {
            host.remove_request_header("accept-encoding");
            self.request.accept_encoding = false;
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
        let encoding = headers.value(content_encoding).unwrap_or_default();
        let encoding = encoding.trim();
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            // A compressed body could hide a tools/call: never let one past.
            let refusal = Refusal {
                code: codes::UNSUPPORTED_ENCODING,
                message: format!(
                    "Content-Encoding {} is not accepted: send the body uncompressed",
                    quote(encoding)
                ),
                id: None,
            };
            return self.refuse(config, host, &refusal);
        }
        if let Some(charset) = headers
            .value(content_type)
            .as_deref()
            .and_then(foreign_charset)
        {
            // A server decodes the body by its declared charset; the filter
            // reads UTF-8. Judging one text and forwarding another is a bypass.
            let refusal = Refusal {
                code: codes::UNSUPPORTED_ENCODING,
                message: format!(
                    "Content-Type charset {} is not accepted: send the body in UTF-8",
                    quote(&charset)
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
            match mcp::sniff(&prefix) {
                Sniff::MaybeJson => self.phase = Phase::Buffering,
                Sniff::NotJson => {
                    self.phase = Phase::Passed;
                    return Action::Continue;
                }
                Sniff::Undecided if prefix.len() >= SNIFF_BYTES => self.phase = Phase::Buffering,
                Sniff::Undecided => {}
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
        self.judge_body(config, host, &body, None, Fleet::Ask)
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
            namespace: &self.request.namespace,
            session: self.request.session.as_deref(),
            request_id: self.request.request_id.as_deref(),
            now_ms: host.now_ms(),
        }
    }

    fn judge_body(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        body: &[u8],
        approved: Option<Approved<'_>>,
        fleet: Fleet,
    ) -> Action {
        let mut fallback = None;
        let ctx = self.context(config, host, &mut fallback);
        crate::probe!("context");
        let routing = Routing {
            method: self.request.mcp_method.as_deref(),
            name: self.request.mcp_name.as_deref(),
            authority: &self.request.authority,
            path: &self.request.path,
        };
        let (parsed, judgement) =
            match judge_request(config, body, routing, ctx, host.counters(), approved, fleet) {
                Ok(judged) => judged,
                Err(refusal) => {
                    let other_json = !self.mcp_path
                        && json::parse(body).is_ok_and(|v| !mcp::is_jsonrpc_shaped(&v));
                    if other_json {
                        // An application's own JSON on another path.
                        self.phase = Phase::Passed;
                        return Action::Continue;
                    }
                    let decision = refused(&refusal, ctx);
                    return self.finish(config, host, decision, Vec::new(), body);
                }
            };
        crate::probe!("judged");
        if let (Some(question), Some(service), None) = (judgement.ask, &config.approval, approved) {
            // A person must approve this exact call: ask, and hold the
            // request (nothing reserved) until the service answers.
            let call = OutsideCall {
                cluster: &service.cluster,
                path: approval::CHECK_PATH,
                body: question.body.as_bytes(),
                timeout_ms: service.timeout_ms,
            };
            let held = Held {
                body: body.to_vec(),
                pending: judgement.decision,
                approved: None,
                wait: Wait::Approval {
                    digest: question.digest,
                    elicits_url: question.elicits_url,
                },
            };
            if host.call_out(&call) {
                self.phase = Phase::Waiting;
                self.held = Some(Box::new(held));
                return Action::Pause;
            }
            return self.approval_unavailable(config, host, held, "it could not be called");
        }
        if let (false, Some(service)) = (judgement.fleet.is_empty(), &config.rls) {
            // Counters the fleet shares: ask the Rate Limit Service, and
            // hold the request. Local counters are reserved once it admits
            // (a batch's other calls may have reserved some: give them back).
            release_all(host.counters(), &judgement.reservations);
            let held = Held {
                body: body.to_vec(),
                pending: judgement.decision,
                approved: approved.map(|a| (a.digest.to_owned(), a.why.to_owned())),
                wait: Wait::Fleet {
                    hits: Vec::new(),
                    open: Vec::new(),
                    over: None,
                    unavailable: None,
                },
            };
            return self.ask_fleet(config, host, service, held, judgement.fleet);
        }
        let action = self.finish(
            config,
            host,
            judgement.decision,
            judgement.reservations,
            body,
        );
        if action == Action::Continue {
            self.handoff.read = true;
            self.handoff.list_ids = parsed
                .messages()
                .iter()
                .filter(|m| m.method() == Some(mcp::TOOLS_LIST))
                .filter_map(|m| m.id.clone().map(Json::into_owned))
                .collect();
            // The response is read: ask for it uncompressed.
            if self.request.accept_encoding {
                host.remove_request_header("accept-encoding");
            }
        }
        action
    }

    /// The answer of a service outside the proxy: `status` is `None` when
    /// the call failed without a response (reset, no cluster). Answers,
    /// forwards or refuses the held request.
    pub fn on_outside_answer(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        status: Option<u32>,
        body: &[u8],
    ) {
        if self.phase != Phase::Waiting {
            return;
        }
        let Some(held) = self
            .held
            .take_if(|h| matches!(h.wait, Wait::Approval { .. }))
        else {
            return;
        };
        let Wait::Approval { elicits_url, .. } = held.wait else {
            return;
        };
        let action = match approval::read_answer(status, body) {
            Answer::Approved { approver } => {
                let why = format!("approved by {}", printable(&approver));
                self.judge_held(config, host, &held, &why)
            }
            Answer::Denied { approver, reason } => {
                let why = if reason.trim().is_empty() {
                    format!("Denied by approver {}", printable(&approver))
                } else {
                    format!("Denied by approver {}: {}", printable(&approver), reason)
                };
                self.deny_held(config, host, *held, why)
            }
            Answer::Pending {
                url,
                elicitation_id,
            } => {
                let mut d = held.pending;
                d.approval = Some(ApprovalLink {
                    url,
                    elicitation_id,
                    elicits_url,
                });
                self.finish(config, host, d, Vec::new(), &held.body)
            }
            Answer::Refused { why } => {
                // Not `on_unavailable`: the caller can make the service refuse.
                host.log(
                    Level::Warn,
                    &format!("mcp_policy: the approval service refused the question: {why}"),
                );
                host.metric(Metric::ApprovalError);
                let why = format!(
                    "{}; the approval service refused to consider the call ({why}), so it is denied",
                    held.pending.reason
                );
                self.deny_held(config, host, *held, why)
            }
            Answer::Unavailable { why } => self.approval_unavailable(config, host, *held, &why),
        };
        if action == Action::Continue {
            host.resume_request();
        }
    }

    /// Sends the Rate Limit Service one request per amount (`rls::asks`)
    /// and holds the request until every one is answered.
    fn ask_fleet(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        service: &rls::RlsService,
        mut held: Held,
        hits: Vec<Hit>,
    ) -> Action {
        // One request per amount; `judge` merged the hits of one counter,
        // so however large a batch, there are no more than its counters.
        if let Some(hit) = rls::too_many(&hits) {
            let mut d = held.pending;
            rate_limit(&mut d, &hit.pointer, &hit.reason, None);
            return self.finish(config, host, d, Vec::new(), &held.body);
        }
        let asks = rls::asks(&service.domain, &hits);
        let grpc_service = rls::grpc_service(&service.cluster);
        let mut open = Vec::new();
        let mut unsent = None;
        for ask in asks {
            let call = GrpcCall {
                service: &grpc_service,
                service_name: rls::SERVICE,
                method: rls::METHOD,
                message: &ask.message,
                timeout_ms: service.timeout_ms,
            };
            match host.call_grpc(&call) {
                Some(token) => open.push((token, ask.hits)),
                None => {
                    unsent = Some(
                        "could not be called (does Envoy have rls.cluster, as an HTTP/2 cluster?)"
                            .to_owned(),
                    )
                }
            }
        }
        let no_answer_to_wait_for = open.is_empty();
        held.wait = Wait::Fleet {
            hits,
            open,
            over: None,
            unavailable: unsent,
        };
        if no_answer_to_wait_for {
            return self.fleet_decided(config, host, held);
        }
        self.phase = Phase::Waiting;
        self.held = Some(Box::new(held));
        Action::Pause
    }

    /// The Rate Limit Service's answer to the request sent with `token`:
    /// `grpc_status` 0 with the response `body`, or the call's failure.
    pub fn on_rls_answer(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        token: u32,
        grpc_status: u32,
        body: &[u8],
    ) {
        if self.phase != Phase::Waiting {
            return;
        }
        let Some(Wait::Fleet {
            open,
            over,
            unavailable,
            ..
        }) = self.held.as_deref_mut().map(|h| &mut h.wait)
        else {
            return;
        };
        let Some(at) = open.iter().position(|(t, _)| *t == token) else {
            return;
        };
        let (_, asked) = open.remove(at);
        match rls::read_answer(grpc_status, body, asked.len()) {
            rls::Answer::Admitted => {}
            rls::Answer::OverLimit { hit, reset_ms } => {
                let hit = hit.and_then(|i| asked.get(i)).or(asked.first()).copied();
                over.get_or_insert((hit, reset_ms));
            }
            rls::Answer::Unavailable { why } => {
                unavailable.get_or_insert(why);
            }
        }
        if !open.is_empty() {
            return;
        }
        let Some(held) = self.held.take() else {
            return;
        };
        if self.fleet_decided(config, host, *held) == Action::Continue {
            host.resume_request();
        }
    }

    /// Every request to the Rate Limit Service is answered (or could not be
    /// sent): refuse the call, or judge it again with the service's
    /// counters admitted, reserving the local ones.
    fn fleet_decided(&mut self, config: &Config, host: &mut dyn Host, held: Held) -> Action {
        let Wait::Fleet {
            hits,
            over,
            unavailable,
            ..
        } = &held.wait
        else {
            return Action::Pause;
        };
        if let Some((hit, reset_ms)) = over {
            let hit = hit.and_then(|i| hits.get(i)).or(hits.first());
            let mut d = held.pending.clone();
            let (rule, reason) = hit.map_or_else(
                || (d.rule.clone(), "Rate limit reached".to_owned()),
                |h| (h.pointer.clone(), h.reason.clone()),
            );
            rate_limit(&mut d, &rule, &reason, *reset_ms);
            return self.finish(config, host, d, Vec::new(), &held.body);
        }
        if let Some(why) = unavailable {
            host.log(
                Level::Warn,
                &format!("mcp_policy: the Rate Limit Service is unavailable: {why}"),
            );
            host.metric(Metric::RlsError);
            let allow = config
                .rls
                .as_ref()
                .is_some_and(|r| r.on_unavailable == OnUnavailable::Allow);
            if !allow {
                let mut d = held.pending.clone();
                d.decision = Verdict::Deny;
                d.code = codes::DENIED;
                d.reason =
                    format!("Rate limiter unavailable, call refused: the Rate Limit Service {why}");
                return self.finish(config, host, d, Vec::new(), &held.body);
            }
        }
        let approved = held
            .approved
            .as_ref()
            .map(|(digest, why)| Approved { digest, why });
        self.judge_body(config, host, &held.body, approved, Fleet::Admitted)
    }

    /// The approval service could not say: `approval.on_unavailable`.
    fn approval_unavailable(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        held: Held,
        why: &str,
    ) -> Action {
        host.log(
            Level::Warn,
            &format!("mcp_policy: the approval service is unavailable: {why}"),
        );
        host.metric(Metric::ApprovalError);
        let allow = config
            .approval
            .as_ref()
            .is_some_and(|a| a.on_unavailable == OnUnavailable::Allow);
        if allow {
            let why = format!("the approval service is unavailable ({why}) and approval.on_unavailable is \"allow\"");
            return self.judge_held(config, host, &held, &why);
        }
        let why = format!(
            "{}; the approval service is unavailable ({why}), so the call is denied",
            held.pending.reason
        );
        self.deny_held(config, host, held, why)
    }

    /// Denies the held request with `reason`.
    fn deny_held(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        held: Held,
        reason: String,
    ) -> Action {
        let mut d = held.pending;
        d.decision = Verdict::Deny;
        d.code = codes::DENIED;
        d.reason = reason;
        self.finish(config, host, d, Vec::new(), &held.body)
    }

    /// Judges the held body again, with its call approved.
    fn judge_held(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        held: &Held,
        why: &str,
    ) -> Action {
        let Wait::Approval { digest, .. } = &held.wait else {
            return Action::Pause;
        };
        let approved = Approved { digest, why };
        self.judge_body(config, host, &held.body, Some(approved), Fleet::Ask)
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
        reservations: Vec<Reservation>,
        body: &[u8],
    ) -> Action {
        audit(config, host, &decision);
        crate::probe!("audited");
        if decision.decision.blocks() && !body.is_empty() {
            let batch = mcp::first_significant(body) == Some(b'[');
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
                self.handoff.reservations = reservations;
                Action::Continue
            }
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

    pub fn on_response_headers(&mut self, host: &mut dyn Host, end_of_stream: bool) -> Action {
        if self.phase == Phase::Replied {
            // The filter's own answer.
            return Action::Continue;
        }
        let mut watcher = Watcher::new(std::mem::take(&mut self.handoff));
        let action = watcher.on_headers(host, end_of_stream);
        self.watcher = Some(watcher);
        action
    }

    pub fn on_response_body(
        &mut self,
        config: &Config,
        host: &mut dyn Host,
        size: usize,
        end_of_stream: bool,
    ) -> Action {
        match &mut self.watcher {
            Some(w) => w.on_body(config, host, size, end_of_stream),
            None => Action::Continue,
        }
    }

    /// The exchange is over (whether or not a response came).
    pub fn on_log(&mut self, host: &mut dyn Host) {
        // A request still waiting for an outside answer never ran: an
        // answer that came now would have nothing to act on.
        self.held = None;
        if self.phase == Phase::Replied {
            return;
        }
        let watcher = self
            .watcher
            .get_or_insert_with(|| Watcher::new(std::mem::take(&mut self.handoff)));
        watcher.on_log(host);
    }
}

/// A decision refused by the Rate Limit Service (a batch's every element:
/// it was asked about them together).
fn rate_limit(d: &mut Decision, rule: &str, reason: &str, reset_ms: Option<u64>) {
    d.decision = Verdict::RateLimited;
    d.code = codes::RATE_LIMITED;
    d.rule = rule.to_owned();
    d.reason = reason.to_owned();
    d.retry_after_ms = reset_ms;
    d.counters.clear();
    for e in &mut d.elements {
        rate_limit(e, rule, reason, reset_ms);
    }
}

/// The session that keys `scope: "session"` counters: `Mcp-Session-Id` on
/// the protocol revisions that have sessions. A 2026-07-28 request (and one
/// of any revision the Python SDK does not handshake, which it serves the
/// same, stateless, way) is run whatever session id it carries, so a client
/// could invent one per call: it counts as the caller's own session.
fn session_key(protocol_version: Option<&str>, session: Option<String>) -> Option<String> {
    const WITH_SESSIONS: [&str; 5] = [
        "2024-10-07",
        "2024-11-05",
        "2025-03-26",
        "2025-06-18",
        "2025-11-25",
    ];
    match protocol_version {
        Some(v) if !WITH_SESSIONS.contains(&v) => None,
        _ => session,
    }
}

fn roll_back(host: &mut dyn Host, reservations: &[Reservation]) {
    if reservations.is_empty() {
        return;
    }
    release_all(host.counters(), reservations);
    host.metric(Metric::Rollback);
    host.log(
        Level::Debug,
        "mcp_policy: the request never ran; its counter reservations were given back",
    );
}

/// The audit record of a decision: one log line, the filter state access
/// logs print, and the metrics.
fn audit(config: &Config, host: &mut dyn Host, decision: &Decision) {
    if config.audit.log {
        let mut line = String::with_capacity(600);
        line.push_str("mcp_policy decision ");
        decision.write_json(&mut line);
        crate::probe!("audit line written");
        host.log(Level::Info, &line);
    }
    // Each is a host call: unset keys print as "-" in access logs anyway.
    host.filter_state("mcp_policy.decision", decision.decision.label());
    for (key, value) in [
        ("mcp_policy.tool", decision.tool.as_deref()),
        ("mcp_policy.grant", decision.grant.as_deref()),
        ("mcp_policy.rule", Some(decision.rule.as_str())),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            host.filter_state(key, &printable(v));
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

/// A value for an access log line: control characters (a tool name may
/// carry a newline) and Unicode line separators written as `\u{..}`
/// escapes, so a request can never forge a log line.
fn printable(value: &str) -> std::borrow::Cow<'_, str> {
    let forged = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !value.chars().any(forged) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len().saturating_add(8));
    for c in value.chars() {
        if forged(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests;
