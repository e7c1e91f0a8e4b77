//! The decision engine: one `tools/call` judged against one policy.
//!
//! Owns: the evaluation order of SPEC §3 (hide, default, actions, checks,
//! limits, approval), the all-or-none reservation of counters, and the
//! reasons given to the agent. Pure: time and counters come in as arguments,
//! so the CLI and the filter can never disagree.
//!
//! Does not own: parsing (`mcp`), picking the policy for a caller (`config`,
//! `judge`), or what happens to a reservation after the upstream answers.

pub mod conditions;
pub mod counters;

use crate::decision::{CounterState, Verdict};
use crate::json::write::quote;
use crate::json::{Json, Num, Object};
use crate::policy::{
    ActionKind, Backend, Check, CheckKind, Condition, Counter, Increment, Policy, Posture, Scope,
    Subject, Tool,
};
use conditions::{
    apply, each_reading, expected_type, judge_path, resolve, Reading, Truth, Unknowable,
};
use counters::{release_all, CounterStore, Reservation, Slot, StoreError};

/// A `tools/call`: the tool and its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Call<'c, 'a> {
    pub tool: &'c str,
    pub args: Option<&'c Object<'a>>,
}

/// The values that key counters of each scope ("" when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scopes<'c> {
    /// Which plugin configurations share these counters (SPEC §4.1).
    pub namespace: &'c str,
    pub identity: &'c str,
    pub session: &'c str,
}

/// How the counters the Rate Limit Service keeps (`"backend": "rls"`) are
/// treated in one evaluation (SPEC §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fleet {
    /// The service has not been asked: a call that adds to its counters
    /// reserves nothing here and lists them in `Outcome::fleet`, to ask.
    Ask,
    /// The service admitted them: only the local counters are reserved.
    Admitted,
    /// There is no service (`explain`): they count in `store` like the rest.
    Local,
}

/// What the engine decided, with the reservations an allowed (or
/// approval-pending) call holds.
#[derive(Debug)]
pub struct Outcome {
    /// `Allow`, `Deny`, `RateLimited` or `ApprovalPending`.
    pub verdict: Verdict,
    pub rule: String,
    pub reason: String,
    pub retry_after_ms: Option<u64>,
    pub counters: Vec<CounterState>,
    pub reservations: Vec<Reservation>,
    /// Under `Fleet::Ask`: the service's counters this call adds to (index
    /// into the policy's counters, amount), none of the local ones reserved.
    pub fleet: Vec<(usize, u32)>,
}

impl Outcome {
    fn new(verdict: Verdict, rule: &str, reason: String) -> Outcome {
        Outcome {
            verdict,
            rule: rule.to_owned(),
            reason,
            retry_after_ms: None,
            counters: Vec::new(),
            reservations: Vec::new(),
            fleet: Vec::new(),
        }
    }

    fn deny(rule: &str, reason: String) -> Outcome {
        Outcome::new(Verdict::Deny, rule, reason)
    }
}

/// Judges `call` against `policy`, reserving its counters in `store`.
pub fn evaluate(
    policy: &Policy,
    call: Call<'_, '_>,
    scopes: Scopes<'_>,
    store: &mut dyn CounterStore,
    now_ms: u64,
    fleet: Fleet,
) -> Outcome {
    let tool = call.tool;
    let named = quote(tool);

    // 1. Hidden.
    if let Some(pointer) = policy.hide_all.as_ref().or_else(|| policy.hidden.get(tool)) {
        return Outcome::deny(pointer, format!("Tool {named} is hidden by policy"));
    }
    // 2. Not listed under default deny; wildcard rules never rescue it.
    let entry = policy.tools.get(tool);
    if entry.is_none() && policy.default == Posture::Deny {
        return Outcome::deny(
            "/default",
            format!("Tool {named} is not permitted by policy (default: deny)"),
        );
    }
    let applicable = || entry.into_iter().chain(std::iter::once(&policy.wildcard));

    // 3. Unconditional denials.
    for t in applicable() {
        if let Some(action) = t.action.as_ref().filter(|a| a.kind == ActionKind::Deny) {
            let reason = action
                .reason
                .clone()
                .unwrap_or_else(|| format!("Tool {named} is denied by policy"));
            return Outcome::deny(&action.pointer, reason);
        }
        if let Some(rule) = t.checks.iter().find(|c| c.kind == CheckKind::Deny) {
            let reason = rule
                .message
                .clone()
                .unwrap_or_else(|| format!("Tool {named} is denied by {}", check_name(rule)));
            return Outcome::deny(&rule.pointer, reason);
        }
    }

    // 4. Rules, deny_if and require items on the arguments. Items that also
    // read counters wait for step 5, where counters have their new values.
    let mut waiting: Vec<&Check> = Vec::new();
    for check in applicable().flat_map(|t| t.checks.iter()) {
        let mut truth = Truth::True;
        let mut culprit: Option<(&Condition, Truth)> = None;
        let mut reads_counters = false;
        for cond in &check.conditions {
            let t = match &cond.subject {
                Subject::Arg(path) => judge_path(call.args, path, &cond.test),
                Subject::Counter(_) => {
                    reads_counters = true;
                    continue;
                }
                // Never left in a validated policy; refuse rather than guess.
                Subject::State(_) => Truth::Unknown,
            };
            let wanted = match check.kind {
                CheckKind::DenyIf => Truth::False,
                _ => Truth::True,
            };
            if t != wanted && culprit.is_none_or(|(_, seen)| seen == Truth::True) {
                culprit = Some((cond, t));
            }
            truth = truth.and(t);
        }
        let denies_now = match check.kind {
            CheckKind::Deny => false,
            CheckKind::Require => truth != Truth::True,
            CheckKind::DenyIf => truth != Truth::False && !reads_counters,
        };
        if denies_now {
            let why = culprit
                .map(|(c, t)| describe(c, t, call.args))
                .unwrap_or_default();
            return Outcome::deny(&check.pointer, reason_for(check, &named, &why));
        }
        if reads_counters && (check.kind == CheckKind::Require || truth != Truth::False) {
            waiting.push(check);
        }
    }

    crate::probe!("engine: checks done");
    // 5. Limits, all or none.
    let mut outcome = match reserve(
        policy,
        &applicable().collect::<Vec<_>>(),
        &waiting,
        call,
        scopes,
        store,
        now_ms,
        fleet,
    ) {
        Ok(held) => held,
        Err(refused) => return refused,
    };

    crate::probe!("engine: reserved");
    // 6. Approval.
    if let Some(action) = applicable()
        .filter_map(|t| t.action.as_ref())
        .find(|a| a.kind == ActionKind::RequireApproval)
    {
        outcome.verdict = Verdict::ApprovalPending;
        outcome.rule = action.pointer.clone();
        outcome.reason = action
            .reason
            .clone()
            .unwrap_or_else(|| format!("Tool {named} requires human approval"));
        return outcome;
    }

    // 7. Allowed.
    outcome.rule = entry.map_or_else(|| "/default".to_owned(), |t| t.pointer.clone());
    outcome.reason = match entry {
        Some(_) => format!("Tool {named} is allowed by policy"),
        None => format!("Tool {named} is not listed; allowed by default"),
    };
    outcome
}

/// Step 5: reserves every counter the call adds to, then checks every
/// condition that reads a counter. Any refusal takes back what was reserved.
/// The Rate Limit Service's counters are asked about first (`Fleet::Ask`):
/// local ones are reserved only once it has admitted the call.
#[allow(clippy::too_many_arguments, clippy::result_large_err)]
fn reserve(
    policy: &Policy,
    tools: &[&Tool],
    waiting: &[&Check],
    call: Call<'_, '_>,
    scopes: Scopes<'_>,
    store: &mut dyn CounterStore,
    now_ms: u64,
    fleet: Fleet,
) -> Result<Outcome, Outcome> {
    let mut held = Outcome::new(Verdict::Allow, "", String::new());
    let indices: Vec<usize> = tools
        .iter()
        .flat_map(|t| t.counters.iter().copied())
        .collect();

    // Amounts first: a bad `increment_from` denies before anything is held.
    let mut amounts = Vec::with_capacity(indices.len());
    for &index in &indices {
        let Some(counter) = policy.counters.get(index) else {
            continue;
        };
        let amount = match &counter.increment {
            Increment::By(n) => n.upper_f64(),
            Increment::From(path) => match amount_at(call.args, path) {
                Ok(amount) => amount,
                Err(why) => {
                    return Err(Outcome::deny(
                        &counter.pointer,
                        format!(
                            "Counter {} adds {}, which {why}",
                            quote(&counter.name),
                            path.text
                        ),
                    ))
                }
            },
        };
        amounts.push((index, counter, amount));
    }
    if fleet != Fleet::Local {
        let (theirs, ours): (Vec<_>, Vec<_>) = amounts
            .into_iter()
            .partition(|(_, c, _)| c.backend == Backend::Rls);
        amounts = ours;
        // More than the max can never be admitted (and, past 2^32 - 1,
        // could not even be said in `hits_addend`): refused here.
        if let Some(&(_, counter, _)) = theirs
            .iter()
            .find(|(_, c, amount)| c.max.is_none_or(|max| *amount > max.as_f64()))
        {
            return Err(Outcome::new(
                Verdict::RateLimited,
                &counter.pointer,
                limit_reason(counter),
            ));
        }
        // A call that adds nothing is not sent: the protocol reads 0 as 1.
        // Amounts round up: a limit holds whichever way a server reads one.
        let asks: Vec<(usize, u32)> = theirs
            .iter()
            .filter(|(_, _, amount)| *amount > 0.0)
            .map(|&(index, _, amount)| (index, amount.ceil() as u32))
            .collect();
        if fleet == Fleet::Ask && !asks.is_empty() {
            held.fleet = asks;
            return Ok(held);
        }
    }

    let mut values: Vec<(usize, f64)> = Vec::with_capacity(amounts.len());
    for (index, counter, amount) in amounts {
        let key = counter_key(counter, scopes);
        crate::probe!("engine: counter key");
        let slot = Slot::at(counter.window, now_ms);
        let own_conditions: Vec<&Condition> = waiting
            .iter()
            .filter(|c| c.kind == CheckKind::Require)
            .flat_map(|c| c.conditions.iter())
            .filter(|c| c.subject == Subject::Counter(index))
            .collect();
        let admit = |value: f64| {
            counter.max.is_none_or(|max| value <= max.as_f64())
                && own_conditions
                    .iter()
                    .all(|c| apply(&c.test, Some(&counter_json(value))) == Truth::True)
        };
        match store.reserve(&key, slot, amount, &admit) {
            Ok(value) => {
                held.reservations
                    .push(counters::Reservation { key, slot, amount });
                held.counters.push(state(counter, value, slot, now_ms));
                values.push((index, value));
            }
            Err(StoreError::Refused { value }) => {
                release_all(store, &held.reservations);
                let over_max = counter.max.is_some_and(|max| value > max.as_f64());
                let (rule, reason) = if over_max {
                    (counter.pointer.clone(), limit_reason(counter))
                } else {
                    let check = waiting
                        .iter()
                        .find(|c| {
                            c.conditions.iter().any(|k| {
                                k.subject == Subject::Counter(index)
                                    && apply(&k.test, Some(&counter_json(value))) != Truth::True
                            })
                        })
                        .copied();
                    match check {
                        Some(c) => (c.pointer.clone(), limit_reason_for_check(c, counter)),
                        None => (counter.pointer.clone(), limit_reason(counter)),
                    }
                };
                let mut refused = Outcome::new(Verdict::RateLimited, &rule, reason);
                refused.retry_after_ms = Some(slot.reset_in_ms(now_ms));
                refused.counters = held.counters;
                refused
                    .counters
                    .push(state(counter, (value - amount).max(0.0), slot, now_ms));
                return Err(refused);
            }
            Err(StoreError::Unavailable(why)) => {
                release_all(store, &held.reservations);
                return Err(Outcome::deny(
                    &counter.pointer,
                    format!("Rate limiter unavailable, call refused: {why}"),
                ));
            }
        }
    }

    // Conditions on counters this call does not add to, and deny_if items
    // that read counters, see the values as they now stand.
    for check in waiting {
        let mut all_hold = true;
        for cond in &check.conditions {
            let Subject::Counter(index) = cond.subject else {
                continue;
            };
            let Some(counter) = policy.counters.get(index) else {
                continue;
            };
            let slot = Slot::at(counter.window, now_ms);
            let value = match values.iter().find(|(i, _)| *i == index) {
                Some((_, v)) => *v,
                None => match store.read(&counter_key(counter, scopes), slot) {
                    Ok(v) => v,
                    Err(_) => {
                        release_all(store, &held.reservations);
                        return Err(Outcome::deny(
                            &counter.pointer,
                            "Rate limiter unavailable, call refused".into(),
                        ));
                    }
                },
            };
            let holds = apply(&cond.test, Some(&counter_json(value))) == Truth::True;
            all_hold &= holds;
            if check.kind == CheckKind::Require && !holds {
                release_all(store, &held.reservations);
                let mut refused = Outcome::new(
                    Verdict::RateLimited,
                    &check.pointer,
                    limit_reason_for_check(check, counter),
                );
                refused.retry_after_ms = Some(slot.reset_in_ms(now_ms));
                refused.counters = std::mem::take(&mut held.counters);
                return Err(refused);
            }
        }
        if check.kind == CheckKind::DenyIf && all_hold {
            release_all(store, &held.reservations);
            let retry = check
                .conditions
                .iter()
                .filter_map(|c| match c.subject {
                    Subject::Counter(i) => policy.counters.get(i),
                    _ => None,
                })
                .map(|c| Slot::at(c.window, now_ms).reset_in_ms(now_ms))
                .max();
            let mut refused = Outcome::new(
                Verdict::RateLimited,
                &check.pointer,
                check.message.clone().unwrap_or_else(|| {
                    format!("Denied by {} on the current counters", check_name(check))
                }),
            );
            refused.retry_after_ms = retry;
            refused.counters = std::mem::take(&mut held.counters);
            return Err(refused);
        }
    }
    Ok(held)
}

/// What an `increment_from` counter adds: the argument's number in every
/// reading a server may make of it, the largest (a missing one adds 0), so a
/// limit holds whichever reading the server used. An error says why the
/// call is refused instead.
fn amount_at(args: Option<&Object<'_>>, path: &crate::policy::ArgPath) -> Result<f64, String> {
    let mut amount: Result<f64, String> = Ok(0.0);
    each_reading(args, path, &mut |reading| {
        let this = match reading {
            Reading::Missing => Ok(0.0),
            Reading::Value(Json::Num(n)) if n.as_f64() >= 0.0 => Ok(n.upper_f64()),
            Reading::Value(other) => Err(format!(
                "must be a non-negative number (got {})",
                describe_kind(other)
            )),
            Reading::Unknown(Unknowable::SpelledDifferently) => {
                Err("the arguments spell in another case".to_owned())
            }
            Reading::Unknown(_) => {
                Err("servers may read differently (a string that only some decode)".to_owned())
            }
        };
        amount = match (&amount, this) {
            (Err(_), _) => amount.clone(),
            (Ok(_), Err(e)) => Err(e),
            (Ok(a), Ok(b)) => Ok(a.max(b)),
        };
    });
    amount
}

/// The store key of a counter for this caller: `mcp_policy:c:`, a 64-bit
/// digest of the namespace and the counter's own prefix (policy, tool,
/// counter, scope, window: the operator's words, not the caller's), then the
/// scope's value as it is (`=`), or, when that is longer than 66 bytes, a
/// SHA-256 digest of it (`#`). At most 96 bytes (`counters::MAX_CELL_KEY`),
/// and no hashing of what a caller sends in the common case.
pub fn counter_key(counter: &Counter, scopes: Scopes<'_>) -> String {
    const RAW_VALUE: usize = 66;
    let value = match counter.scope {
        Scope::Grant => scopes.identity,
        Scope::Session => scopes.session,
        Scope::Global => "",
    };
    let mut key = String::with_capacity(counters::MAX_CELL_KEY);
    key.push_str(counters::CELL_PREFIX);
    let prefix = fnv1a(
        fnv1a(fnv1a(FNV_OFFSET, scopes.namespace.as_bytes()), b"\x1f"),
        counter.key_prefix.as_bytes(),
    );
    crate::digest::push_hex(&mut key, &prefix.to_be_bytes());
    if value.len() <= RAW_VALUE {
        key.push('=');
        key.push_str(value);
    } else {
        key.push('#');
        crate::digest::push_hex(&mut key, &counters::digest16(value.as_bytes()));
    }
    key
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: for what the operator writes (names), never for what a
/// caller chooses.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn counter_json(value: f64) -> Json<'static> {
    if value.fract() == 0.0 && (0.0..9.0e15).contains(&value) {
        Json::Num(Num::U(value as u64))
    } else {
        Json::Num(Num::F(value))
    }
}

fn state(counter: &Counter, value: f64, slot: Slot, now_ms: u64) -> CounterState {
    CounterState {
        counter: counter.name.clone(),
        scope: counter.scope.label(),
        value,
        max: counter.max.map(Num::as_f64),
        window_reset_ms: slot.reset_in_ms(now_ms),
    }
}

/// What the agent is told when `counter` is over its max.
pub fn limit_reason(counter: &Counter) -> String {
    counter.message.clone().unwrap_or_else(|| {
        let max = counter.max.map(|m| m.to_string()).unwrap_or_default();
        format!(
            "Limit {} of {max} per {} reached",
            quote(&counter.name),
            counter.window.label()
        )
    })
}

fn limit_reason_for_check(check: &Check, counter: &Counter) -> String {
    check.message.clone().unwrap_or_else(|| {
        format!(
            "Limit of {} reached for counter {} ({})",
            check_name(check),
            quote(&counter.name),
            counter.window.label()
        )
    })
}

fn reason_for(check: &Check, tool: &str, why: &str) -> String {
    match &check.message {
        Some(m) => m.clone(),
        None => format!("Tool {tool} denied by {}: {why}", check_name(check)),
    }
}

fn check_name(check: &Check) -> String {
    match &check.name {
        Some(name) => format!("rule {}", quote(name)),
        None => check.pointer.trim_start_matches('/').replace('/', "."),
    }
}

/// Why a condition did not let the call through. Never the argument's value:
/// reasons are logged, and argument values never are.
fn describe(cond: &Condition, truth: Truth, args: Option<&Object<'_>>) -> String {
    let value = cond.test.value_text();
    let op = cond.test.op();
    let unknowable = |path| {
        let mut why = None;
        each_reading(args, path, &mut |r| {
            if let Reading::Unknown(u) = r {
                why.get_or_insert(u);
            }
        });
        why
    };
    let readings = |path| {
        let mut n = 0u32;
        each_reading(args, path, &mut |_| n = n.saturating_add(1));
        n
    };
    match (&cond.subject, truth) {
        (Subject::Arg(path), Truth::Unknown) if unknowable(path).is_some() => {
            match unknowable(path) {
                Some(Unknowable::SpelledDifferently) => format!(
                    "{} is spelled in another case in the arguments, which servers read differently",
                    cond.path
                ),
                _ => format!(
                    "{} holds JSON text that servers may decode differently",
                    cond.path
                ),
            }
        }
        (Subject::Arg(path), Truth::Unknown) if readings(path) > 1 => format!(
            "{} holds JSON text that servers may decode before the tool runs, and {op} {value} holds for one reading and not the other",
            cond.path
        ),
        (Subject::Arg(path), Truth::Unknown) => format!(
            "{} has the wrong type for {op} (expected {}, got {})",
            cond.path,
            expected_type(&cond.test),
            resolve(args, path).map_or("nothing", describe_kind)
        ),
        (Subject::Arg(path), _) if resolve(args, path).is_none() && op != "exists" => {
            format!("{} is missing", cond.path)
        }
        (_, Truth::True) => format!("{} {op} {value}", cond.path),
        _ => format!("{} {op} {value} does not hold", cond.path),
    }
}

fn describe_kind(v: &Json<'_>) -> &'static str {
    v.kind()
}

#[cfg(test)]
mod tests;
