//! Judging a whole request body for one caller.
//!
//! Owns: turning a parsed body into one decision (SPEC §6): each `tools/call`
//! through the engine under the caller's policy, every other message
//! allowed, a batch decided by its strictest element with nothing held when
//! any element is blocked, and the audit fields (argument keys or digest,
//! policy digest, session, request id). Pure, shared by the filter and the
//! CLI.
//!
//! Does not own: reading the body (`mcp`), naming the caller (`config`), or
//! answering the agent (`respond`).

use crate::config::{ArgumentAudit, Caller, Config};
use crate::decision::{codes, Decision, Verdict};
use crate::engine::counters::{release_all, CounterStore, Reservation};
use crate::engine::{evaluate, limit_reason, Call, Fleet, Scopes};
use crate::json::Json;
use crate::mcp::{Body, Kind, Message, Refusal};
use crate::outside::approval::{self, Asker, Question};
use crate::outside::rls::{self, Hit};

/// Facts about the request beyond its body.
#[derive(Debug, Clone, Copy)]
pub struct Context<'c> {
    pub caller: &'c Caller,
    /// The counter namespace (`counters.namespace`, or the host's default).
    pub namespace: &'c str,
    /// `Mcp-Session-Id`.
    pub session: Option<&'c str>,
    /// Envoy's `x-request-id`.
    pub request_id: Option<&'c str>,
    pub now_ms: u64,
}

/// A `require_approval` call that may run: bound to its call digest.
#[derive(Debug, Clone, Copy)]
pub struct Approved<'c> {
    pub digest: &'c str,
    /// Why it may run, for the decision's reason.
    pub why: &'c str,
}

/// A decision, and the counter reservations of an allowed request (given
/// back only if it turns out never to have run).
#[derive(Debug)]
pub struct Judgement {
    pub decision: Decision,
    pub reservations: Vec<Reservation>,
    /// The question for the approval service, when the request is one
    /// `tools/call` that waits for a person (its decision `approval_pending`
    /// until the service answers).
    pub ask: Option<Question>,
    /// Under `Fleet::Ask`, an allowed request that adds to counters the
    /// Rate Limit Service keeps: their hits (merged across a batch). Nothing
    /// is reserved yet; the request is judged again once the service admits.
    pub fleet: Vec<Hit>,
}

/// The 2026-07-28 routing headers of a request (`Mcp-Method`, `Mcp-Name`),
/// which must agree with its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routing<'r> {
    pub method: Option<&'r str>,
    pub name: Option<&'r str>,
    /// The request's `:authority` and path (without its query): where the
    /// call goes, which an approval binds.
    pub authority: &'r str,
    pub path: &'r str,
}

/// What an approval of a single `tools/call` binds besides the caller and
/// the policy (`outside::approval::binding`): the body, whose arguments are
/// read as written (`mcp::raw_arguments`) only for a call that needs
/// approval, and where it goes.
#[derive(Debug, Clone, Copy)]
pub struct Bound<'b> {
    pub body: &'b [u8],
    pub authority: &'b str,
    pub path: &'b str,
}

/// The order of checks for one request body, the same in the filter and in
/// `mcp-policy explain`: read it (`mcp::parse`), check the routing headers
/// against it, judge it (`judge_approved`). `Err`: the body was refused
/// before any policy was consulted.
/// `fleet`: how the Rate Limit Service's counters are treated
/// (`Fleet::Local` where there is no service to ask).
pub fn judge_request<'b>(
    config: &Config,
    bytes: &'b [u8],
    routing: Routing<'_>,
    ctx: Context<'_>,
    store: &mut dyn CounterStore,
    approved: Option<Approved<'_>>,
    fleet: Fleet,
) -> Result<(Body<'b>, Judgement), Refusal> {
    let body = crate::mcp::parse(bytes)?;
    crate::mcp::check_routing_headers(&body, routing.method, routing.name)?;
    crate::probe!("parsed, routing checked");
    let bound = config.approval.as_ref().map(|_| Bound {
        body: bytes,
        authority: routing.authority,
        path: routing.path,
    });
    let judgement = judge_approved(config, &body, ctx, store, approved, bound, fleet);
    Ok((body, judgement))
}

/// Judges a parsed body.
pub fn judge(
    config: &Config,
    body: &Body<'_>,
    ctx: Context<'_>,
    store: &mut dyn CounterStore,
) -> Judgement {
    judge_approved(config, body, ctx, store, None, None, Fleet::Local)
}

/// Judges a parsed body once the approval service has answered: `approved`
/// is the call it approved (or let through because it could not be asked,
/// under `on_unavailable: "allow"`). `bound`: what an approval of a single
/// `tools/call` binds (its arguments as written, where it goes); without it
/// no call is asked about.
pub fn judge_approved(
    config: &Config,
    body: &Body<'_>,
    ctx: Context<'_>,
    store: &mut dyn CounterStore,
    approved: Option<Approved<'_>>,
    bound: Option<Bound<'_>>,
    fleet: Fleet,
) -> Judgement {
    let mut held = Vec::new();
    let mut asks = Vec::new();
    let mut hits = Vec::new();
    let mut decisions: Vec<Decision> = body
        .messages()
        .iter()
        .map(|m| {
            let judged = judge_message(config, m, ctx, store, approved, bound, fleet);
            held.extend(judged.reservations);
            asks.extend(judged.ask);
            hits.extend(judged.fleet);
            judged.decision
        })
        .collect();
    // A batch is never held for a person: the filter asks about one call
    // per request, so a batch with a call that needs approval fails whole.
    let ask = if body.is_batch() {
        for d in decisions
            .iter_mut()
            .filter(|d| d.decision == Verdict::ApprovalPending && config.approval.is_some())
        {
            d.reason.push_str(
                "; a call that needs approval is asked about only when sent alone, not in a batch",
            );
        }
        None
    } else {
        asks.pop()
    };

    let blocked = decisions.iter().any(|d| d.decision.blocks());
    if blocked {
        // Nothing of a blocked batch is forwarded, so nothing of it counts.
        release_all(store, &held);
        held.clear();
        hits.clear();
    }
    let decision = if body.is_batch() {
        let mut top = strictest(&decisions)
            .cloned()
            .unwrap_or_else(|| Decision::new(Verdict::Allow));
        top.id = None;
        top.counters.clear();
        top.arg_keys.clear();
        top.arg_sha256 = None;
        if blocked {
            for d in decisions.iter_mut().filter(|d| !d.decision.blocks()) {
                d.counters.clear();
                d.reason = "not executed: batch contained a denied call".into();
                d.code = codes::NOT_EXECUTED;
            }
        }
        top.elements = decisions;
        top
    } else {
        decisions
            .pop()
            .unwrap_or_else(|| Decision::new(Verdict::Allow))
    };
    Judgement {
        decision,
        reservations: held,
        ask,
        fleet: rls::merge(hits),
    }
}

/// The decision for a body that could not be read.
pub fn refused(refusal: &Refusal, ctx: Context<'_>) -> Decision {
    let mut d = base(ctx);
    d.decision = Verdict::Invalid;
    d.reason = refusal.message.clone();
    d.code = refusal.code;
    d.id = refusal.id.clone();
    d
}

fn base(ctx: Context<'_>) -> Decision {
    let mut d = Decision::new(Verdict::Allow);
    d.grant = ctx.caller.grant.clone();
    d.session = ctx.session.map(str::to_owned);
    d.request_id = ctx.request_id.map(str::to_owned);
    d
}

/// The first of the strictest decisions.
fn strictest(decisions: &[Decision]) -> Option<&Decision> {
    let worst = decisions.iter().map(|d| d.decision).max()?;
    decisions.iter().find(|d| d.decision == worst)
}

/// One message judged.
struct Judged {
    decision: Decision,
    reservations: Vec<Reservation>,
    ask: Option<Question>,
    fleet: Vec<Hit>,
}

impl Judged {
    fn alone(decision: Decision) -> Judged {
        Judged {
            decision,
            reservations: Vec::new(),
            ask: None,
            fleet: Vec::new(),
        }
    }
}

fn judge_message(
    config: &Config,
    message: &Message<'_>,
    ctx: Context<'_>,
    store: &mut dyn CounterStore,
    approved: Option<Approved<'_>>,
    bound: Option<Bound<'_>>,
    fleet: Fleet,
) -> Judged {
    crate::probe!("judge: message");
    let mut d = base(ctx);
    d.method = message.method().map(str::to_owned);
    d.id = message.id.clone().map(Json::into_owned);
    let Kind::ToolCall(call) = &message.kind else {
        d.reason = "not a tools/call".into();
        return Judged::alone(d);
    };
    d.tool = Some(call.name.to_string());
    let elicits_url = call.elicits_url;
    if config.audit.arguments != ArgumentAudit::None {
        d.arg_keys = call
            .arguments
            .iter()
            .flat_map(|a| a.keys())
            .map(str::to_owned)
            .collect();
    }
    if config.audit.arguments == ArgumentAudit::Sha256 {
        // Over the canonical JSON of the arguments (`{}` when there are none).
        let empty = crate::json::Object(Vec::new());
        let arguments = call.arguments.as_ref().unwrap_or(&empty);
        d.arg_sha256 = Some(crate::digest::json_sha256(&Json::Obj(arguments.clone())));
    }

    let Some(policy) = ctx.caller.policy.and_then(|i| config.policy(i)) else {
        d.decision = Verdict::Deny;
        d.code = codes::DENIED;
        d.rule = ctx.caller.denied_by.clone();
        d.reason = match &ctx.caller.grant {
            Some(g) => format!("Grant \"{g}\" allows no tools"),
            None => "No grant matches the caller, and unmatched callers are denied".into(),
        };
        return Judged::alone(d);
    };
    d.policy_sha256 = Some(policy.sha256.clone());
    let identity = ctx.caller.identity.as_deref().unwrap_or("");
    // Without `Mcp-Session-Id` (a stateless 2026-07-28 client, a first
    // request) the caller is its own session; never one session for all.
    let sessionless;
    let session = match ctx.session {
        Some(s) if !s.is_empty() => s,
        _ => {
            sessionless = format!("\0no session\0{identity}");
            sessionless.as_str()
        }
    };
    let scopes = Scopes {
        namespace: ctx.namespace,
        identity,
        session,
    };
    let call = Call {
        tool: &call.name,
        args: call.arguments.as_ref(),
    };
    crate::probe!("judge: before evaluate");
    let mut outcome = evaluate(policy, call, scopes, store, ctx.now_ms, fleet);
    let mut ask = None;
    if outcome.verdict == Verdict::ApprovalPending {
        // The arguments as written: only of a single call (a batch is never
        // asked about), and read only now, for a call that needs approval.
        let arguments = bound.and_then(|b| crate::mcp::raw_arguments(b.body));
        let approved = bound.zip(arguments).and_then(|(bound, arguments)| {
            let question = approval::question(
                call.tool,
                &arguments,
                Asker {
                    authority: bound.authority,
                    path: bound.path,
                    namespace: ctx.namespace,
                    identity: ctx.caller.identity.as_deref(),
                    grant: ctx.caller.grant.as_deref(),
                    session: ctx.session,
                    request_id: ctx.request_id,
                    policy_sha256: &policy.sha256,
                    rule: &outcome.rule,
                    reason: &outcome.reason,
                },
            );
            match approved {
                Some(a) if a.digest == question.digest => Some(a.why),
                _ => {
                    ask = Some(Question {
                        elicits_url,
                        ..question
                    });
                    None
                }
            }
        });
        if let Some(why) = approved {
            // This exact call may run: it holds its reservations.
            outcome.verdict = Verdict::Allow;
            outcome.reason = format!("{} ({why})", outcome.reason);
        } else {
            // Pending (or denied, with no service to ask) takes no quota.
            release_all(store, &outcome.reservations);
            outcome.reservations.clear();
            outcome.counters.clear();
            if config.approval.is_none() {
                outcome.verdict = Verdict::Deny;
                outcome.reason = format!(
                    "{}; no approval service is configured, so the call is denied",
                    outcome.reason
                );
            }
        }
    }
    d.decision = outcome.verdict;
    d.code = match outcome.verdict {
        Verdict::Deny => codes::DENIED,
        Verdict::RateLimited => codes::RATE_LIMITED,
        Verdict::ApprovalPending => codes::APPROVAL_PENDING,
        _ => 0,
    };
    d.rule = outcome.rule;
    d.reason = outcome.reason;
    d.retry_after_ms = outcome.retry_after_ms;
    d.counters = outcome.counters;
    // Only a call that may run asks the Rate Limit Service.
    let hits = match d.decision {
        Verdict::Allow => outcome
            .fleet
            .iter()
            .filter_map(|&(index, amount)| {
                let counter = policy.counters.get(index)?;
                let reason = limit_reason(counter);
                let namespace = config.counter_namespace.as_deref();
                Some(Hit::new(
                    counter,
                    namespace,
                    u64::from(amount),
                    identity,
                    session,
                    reason,
                ))
            })
            .collect(),
        _ => Vec::new(),
    };
    Judged {
        decision: d,
        reservations: outcome.reservations,
        ask,
        fleet: hits,
    }
}
