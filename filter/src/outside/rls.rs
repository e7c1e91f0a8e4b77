//! Fleet-wide limits (SPEC §7.1): what the filter asks Envoy's Rate Limit
//! Service about one request, and what the service answers.
//!
//! Owns: the descriptors (stable, documented, no identity on the wire), the
//! `RateLimitRequest` message and reading the `RateLimitResponse`, both in
//! protobuf written and read by hand (a few dozen lines instead of a
//! protobuf crate in the `.wasm`). Pure: the gRPC call is the stream's
//! (through its `Host`), the counting is the service's (Limitador or
//! envoyproxy/ratelimit over Redis), and `mcp-policy rls-config` prints the
//! service's limits for the same descriptors.
//!
//! The descriptors of one call, for every counter it adds to:
//! - `descriptors[0]`: one entry per counter, key `mcp_policy.c.<id>`,
//!   value the scope digest. Limitador's limits address it with CEL
//!   (`descriptors[0]["mcp_policy.c.<id>"]`).
//! - `descriptors[1..]`: one per counter, `[("mcp_policy.counter", <id>),
//!   ("mcp_policy.scope", <scope digest>)]`, the tree envoyproxy/ratelimit
//!   matches. Each service ignores the other's shape.
//!
//! `<id>` is 16 hex digits of SHA-256 over the counter's identity (policy,
//! tool, counter, scope, window, and an explicit `counters.namespace`); the scope digest is 32 hex digits of
//! SHA-256 over the scope and its value (the caller's identity or session),
//! or `_` for a global counter. The RLS domain (`rls.domain`) separates
//! fleets; an explicit `counters.namespace` separates configurations in one.

use crate::digest::{push_hex, sha256};
use crate::policy::{Counter, Scope};

/// The gRPC service and method (`envoy.service.ratelimit.v3`).
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
pub const METHOD: &str = "ShouldRateLimit";
pub const DEFAULT_TIMEOUT_MS: u64 = 100;
pub const ENTRY_PREFIX: &str = "mcp_policy.c.";
pub const COUNTER_KEY: &str = "mcp_policy.counter";
pub const SCOPE_KEY: &str = "mcp_policy.scope";
/// The scope value of a global counter.
pub const GLOBAL_VALUE: &str = "_";

/// `rls` in the plugin configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RlsService {
    /// The Envoy cluster of the service (HTTP/2).
    pub cluster: String,
    /// The RLS domain: Limitador's namespace, envoyproxy/ratelimit's domain.
    pub domain: String,
    pub timeout_ms: u64,
    pub on_unavailable: super::approval::OnUnavailable,
}

/// The descriptor id of a counter: the same for the same counter in every
/// replica and across reloads. `namespace`: the configuration's explicit
/// `counters.namespace`, which keeps its fleet counters apart from those
/// of configurations naming another (SPEC §4.1); without one, the RLS
/// domain alone separates them.
pub fn counter_id(counter: &Counter, namespace: Option<&str>) -> String {
    let mut identity = counter.key_prefix.clone().into_bytes();
    if let Some(ns) = namespace {
        identity.extend_from_slice(b"\x1fnamespace\x1f");
        identity.extend_from_slice(ns.as_bytes());
    }
    let digest = sha256(&identity);
    let mut id = String::with_capacity(16);
    push_hex(&mut id, digest.get(..8).unwrap_or_default());
    id
}

/// The descriptor entry key of a counter in `descriptors[0]`.
pub fn entry_key(counter: &Counter, namespace: Option<&str>) -> String {
    format!("{ENTRY_PREFIX}{}", counter_id(counter, namespace))
}

/// The scope value of a counter for one caller: a digest, never the
/// identity or session itself.
pub fn scope_value(scope: Scope, identity: &str, session: &str) -> String {
    let value = match scope {
        Scope::Global => return GLOBAL_VALUE.to_owned(),
        Scope::Grant => identity,
        Scope::Session => session,
    };
    let mut text = Vec::with_capacity(value.len().saturating_add(8));
    text.extend_from_slice(scope.label().as_bytes());
    text.push(0x1f);
    text.extend_from_slice(value.as_bytes());
    let digest = sha256(&text);
    let mut out = String::with_capacity(32);
    push_hex(&mut out, digest.get(..16).unwrap_or_default());
    out
}

impl Hit {
    /// A hit of `amount` on `counter` for the caller with `identity` and
    /// `session`; `reason` is what the agent is told if it is over.
    #[inline(never)]
    pub fn new(
        counter: &Counter,
        namespace: Option<&str>,
        amount: u64,
        identity: &str,
        session: &str,
        reason: String,
    ) -> Hit {
        Hit {
            id: counter_id(counter, namespace),
            scope: scope_value(counter.scope, identity, session),
            amount,
            pointer: counter.pointer.clone(),
            reason,
        }
    }
}

/// One counter a call adds to, kept by the service.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub scope: String,
    /// `hits_addend`: the counter's increment for this call (never 0: the
    /// protocol reads 0 as 1, so a call that adds nothing is not sent). A
    /// batch's sum may pass what `hits_addend` holds: see `too_many`.
    pub amount: u64,
    /// The counter's pointer and denial text, for a refusal.
    pub pointer: String,
    pub reason: String,
}

/// One `ShouldRateLimit` request: the hits of one amount (a service applies
/// one `hits_addend` per request), by index into the hits it was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub message: Vec<u8>,
    pub hits: Vec<usize>,
}

/// The requests for `hits`: one per distinct amount, in order of first
/// appearance.
pub fn asks(domain: &str, hits: &[Hit]) -> Vec<Ask> {
    let mut amounts: Vec<u64> = Vec::new();
    for hit in hits {
        if !amounts.contains(&hit.amount) {
            amounts.push(hit.amount);
        }
    }
    amounts
        .into_iter()
        .map(|amount| request(domain, hits, amount))
        .collect()
}

/// The first hit whose amount `hits_addend` (a uint32) cannot carry: a
/// batch's sum past it is refused, never cut down to what fits.
pub fn too_many(hits: &[Hit]) -> Option<&Hit> {
    hits.iter().find(|h| h.amount > u64::from(u32::MAX))
}

/// Adds up hits on the same counter and scope (the calls of a batch).
pub fn merge(hits: Vec<Hit>) -> Vec<Hit> {
    let mut out: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits {
        match out
            .iter_mut()
            .find(|h| h.id == hit.id && h.scope == hit.scope)
        {
            Some(h) => h.amount = h.amount.saturating_add(hit.amount),
            None => out.push(hit),
        }
    }
    out
}

/// `RateLimitRequest { domain = 1, descriptors = 2, hits_addend = 3 }` for
/// the hits of `amount`.
#[inline(never)]
fn request(domain: &str, hits: &[Hit], amount: u64) -> Ask {
    let chosen = || hits.iter().filter(move |h| h.amount == amount);
    let mut out = Vec::with_capacity(256);
    put_bytes(&mut out, 1, domain.as_bytes());
    let mut combined = Vec::new();
    for hit in chosen() {
        let key = [ENTRY_PREFIX.as_bytes(), hit.id.as_bytes()].concat();
        put_entry(&mut combined, &key, hit.scope.as_bytes());
    }
    put_bytes(&mut out, 2, &combined);
    for hit in chosen() {
        let mut one = Vec::new();
        put_entry(&mut one, COUNTER_KEY.as_bytes(), hit.id.as_bytes());
        put_entry(&mut one, SCOPE_KEY.as_bytes(), hit.scope.as_bytes());
        put_bytes(&mut out, 2, &one);
    }
    push_varint(&mut out, 3 << 3);
    push_varint(&mut out, amount);
    Ask {
        message: out,
        hits: (0..hits.len())
            .filter(|&i| hits.get(i).is_some_and(|h| h.amount == amount))
            .collect(),
    }
}

/// `RateLimitDescriptor.Entry { key = 1, value = 2 }` as field 1 of a
/// descriptor.
#[inline(never)]
fn put_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let mut entry = Vec::with_capacity(key.len().saturating_add(value.len()).saturating_add(4));
    put_bytes(&mut entry, 1, key);
    put_bytes(&mut entry, 2, value);
    put_bytes(out, 1, &entry);
}

/// The `GrpcService` the host is given for `cluster`: `envoy_grpc {
/// cluster_name }`. Envoy also takes a bare cluster name, but only after
/// failing to read it as this message, which some names would pass.
pub fn grpc_service(cluster: &str) -> Vec<u8> {
    let mut envoy_grpc = Vec::with_capacity(cluster.len().saturating_add(4));
    put_bytes(&mut envoy_grpc, 1, cluster.as_bytes());
    let mut out = Vec::with_capacity(envoy_grpc.len().saturating_add(4));
    put_bytes(&mut out, 1, &envoy_grpc);
    out
}

#[inline(never)]
fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    push_varint(out, (field << 3) | 2);
    push_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// What the service said about one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Every counter admitted and counted.
    Admitted,
    /// Some counter is over its limit. `hit`: which one, when the service
    /// said (envoyproxy/ratelimit's statuses; Limitador gives none).
    /// `reset_ms`: when its window resets, when the service said.
    OverLimit {
        hit: Option<usize>,
        reset_ms: Option<u64>,
    },
    /// No answer, an error status, or one that does not read.
    Unavailable { why: String },
}

/// Reads the answer to a request made of `hits` hits (for the statuses'
/// order: `descriptors[0]` is the combined one). `grpc_status` 0 is OK.
pub fn read_answer(grpc_status: u32, body: &[u8], hits: usize) -> Answer {
    if grpc_status != 0 {
        return Answer::Unavailable {
            why: format!(
                "answered gRPC status {grpc_status}{}",
                status_name(grpc_status)
            ),
        };
    }
    match read_response(body, hits) {
        Some(answer) => answer,
        None => Answer::Unavailable {
            why: "sent an answer that is not a RateLimitResponse".to_owned(),
        },
    }
}

/// The gRPC codes a failed call most often ends with, named for the log.
fn status_name(code: u32) -> &'static str {
    match code {
        1 => " (CANCELLED)",
        2 => " (UNKNOWN)",
        4 => " (DEADLINE_EXCEEDED: no answer within rls.timeout_ms)",
        12 => " (UNIMPLEMENTED: is rls.cluster a Rate Limit Service?)",
        13 => " (INTERNAL)",
        14 => " (UNAVAILABLE)",
        16 => " (UNAUTHENTICATED)",
        _ => "",
    }
}

const OK: u64 = 1;
const OVER_LIMIT: u64 = 2;

/// `RateLimitResponse { overall_code = 1, statuses = 2,
/// response_headers_to_add = 3 }`; other fields are skipped.
fn read_response(body: &[u8], hits: usize) -> Option<Answer> {
    let mut overall = 0;
    let mut hit = None;
    let mut reset_ms: Option<u64> = None;
    let mut header_reset_ms = None;
    let mut status_index = 0usize;
    let mut fields = Fields(body);
    while let Some((field, value)) = fields.next()? {
        match (field, value) {
            (1, Value::Varint(code)) => overall = code,
            (2, Value::Bytes(status)) => {
                let (code, reset) = read_status(status)?;
                if code == OVER_LIMIT {
                    // descriptors[0] is the combined one; hits follow it.
                    if let Some(i) = status_index.checked_sub(1).filter(|i| *i < hits) {
                        hit.get_or_insert(i);
                    }
                    if let Some(r) = reset {
                        reset_ms = Some(reset_ms.map_or(r, |old| old.max(r)));
                    }
                }
                status_index = status_index.saturating_add(1);
            }
            (3, Value::Bytes(option)) => {
                if let Some(ms) = read_reset_header(option)? {
                    header_reset_ms = Some(ms);
                }
            }
            _ => {}
        }
    }
    Some(match overall {
        OK => Answer::Admitted,
        OVER_LIMIT => Answer::OverLimit {
            hit,
            reset_ms: reset_ms.or(header_reset_ms),
        },
        other => Answer::Unavailable {
            why: format!("answered overall code {other} (neither OK nor OVER_LIMIT)"),
        },
    })
}

/// `DescriptorStatus { code = 1, duration_until_reset = 4 }`.
fn read_status(bytes: &[u8]) -> Option<(u64, Option<u64>)> {
    let mut code = 0;
    let mut reset = None;
    let mut fields = Fields(bytes);
    while let Some((field, value)) = fields.next()? {
        match (field, value) {
            (1, Value::Varint(c)) => code = c,
            (4, Value::Bytes(duration)) => reset = Some(read_duration_ms(duration)?),
            _ => {}
        }
    }
    Some((code, reset))
}

/// `google.protobuf.Duration { seconds = 1, nanos = 2 }` in milliseconds.
fn read_duration_ms(bytes: &[u8]) -> Option<u64> {
    let (mut seconds, mut nanos) = (0u64, 0u64);
    let mut fields = Fields(bytes);
    while let Some((field, value)) = fields.next()? {
        match (field, value) {
            (1, Value::Varint(s)) => seconds = s,
            (2, Value::Varint(n)) => nanos = n,
            _ => {}
        }
    }
    // Negative values come as huge varints: not a reset time.
    if seconds > 1 << 40 || nanos >= 1_000_000_000 {
        return None;
    }
    Some(
        seconds
            .saturating_mul(1000)
            .saturating_add(nanos / 1_000_000),
    )
}

/// A `HeaderValueOption { header = 1: HeaderValue { key = 1, value = 2,
/// raw_value = 3 } }` that gives a reset time in seconds (`RateLimit-Reset`
/// or `X-RateLimit-Reset`, as Limitador adds them when asked to).
/// `Some(None)`: another header.
fn read_reset_header(bytes: &[u8]) -> Option<Option<u64>> {
    let mut header = None;
    let mut fields = Fields(bytes);
    while let Some((field, value)) = fields.next()? {
        if let (1, Value::Bytes(h)) = (field, value) {
            header = Some(h);
        }
    }
    let Some(header) = header else {
        return Some(None);
    };
    let (mut key, mut value): (&[u8], &[u8]) = (b"", b"");
    let mut fields = Fields(header);
    while let Some((field, v)) = fields.next()? {
        match (field, v) {
            (1, Value::Bytes(k)) => key = k,
            (2 | 3, Value::Bytes(v)) => value = v,
            _ => {}
        }
    }
    let named = key.eq_ignore_ascii_case(b"ratelimit-reset")
        || key.eq_ignore_ascii_case(b"x-ratelimit-reset");
    if !named || value.is_empty() || value.len() > 12 || !value.iter().all(u8::is_ascii_digit) {
        return Some(None);
    }
    let seconds = value.iter().fold(0u64, |n, d| {
        n.saturating_mul(10)
            .saturating_add(u64::from(d.wrapping_sub(b'0')))
    });
    Some(Some(seconds.saturating_mul(1000)))
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one protobuf message, in order. `next` gives `None` when
/// the text is malformed, `Some(None)` at its end.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    #[allow(clippy::type_complexity)]
    fn next(&mut self) -> Option<Option<(u64, Value<'a>)>> {
        if self.0.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed.skipping(self, 8)?,
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let (bytes, rest) = self.0.split_at_checked(len)?;
                self.0 = rest;
                Value::Bytes(bytes)
            }
            5 => Value::Fixed.skipping(self, 4)?,
            _ => return None,
        };
        Some(Some((key >> 3, value)))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
}

impl Value<'_> {
    fn skipping(self, fields: &mut Fields<'_>, n: usize) -> Option<Self> {
        fields.0 = fields.0.get(n..)?;
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, scope: &str, amount: u64) -> Hit {
        Hit {
            id: id.into(),
            scope: scope.into(),
            amount,
            pointer: format!("/tools/{id}"),
            reason: "over".into(),
        }
    }

    #[test]
    fn one_request_per_amount_with_both_descriptor_shapes() {
        let hits = [hit("a", "s1", 1), hit("b", "_", 5), hit("c", "s2", 1)];
        let asks = asks("mcp", &hits);
        assert_eq!(asks.len(), 2);
        assert_eq!(asks[0].hits, vec![0, 2]);
        assert_eq!(asks[1].hits, vec![1]);
        let m = &asks[0].message;
        // domain, then the combined descriptor, then one per hit, then hits_addend 1.
        assert_eq!(&m[..5], b"\x0a\x03mcp");
        let text = String::from_utf8_lossy(m);
        assert!(text.contains("mcp_policy.c.a"));
        assert!(text.contains("mcp_policy.counter"));
        assert_eq!(&m[m.len() - 2..], b"\x18\x01");
        assert_eq!(&asks[1].message[asks[1].message.len() - 2..], b"\x18\x05");
    }

    #[test]
    fn merged_hits_add_up() {
        let merged = merge(vec![hit("a", "s", 1), hit("a", "s", 2), hit("a", "t", 1)]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].amount, 3);
    }

    #[test]
    fn scope_values_are_digests() {
        let v = scope_value(Scope::Grant, "h:x-agent-id=alice", "");
        assert_eq!(v.len(), 32);
        assert!(!v.contains("alice"));
        assert_ne!(
            v,
            scope_value(Scope::Session, "h:x-agent-id=alice", "h:x-agent-id=alice")
        );
        assert_eq!(scope_value(Scope::Global, "x", "y"), "_");
    }

    fn put_varint(out: &mut Vec<u8>, tag: u64, value: u64) {
        push_varint(out, tag);
        push_varint(out, value);
    }

    fn status(code: u64, reset_s: Option<u64>) -> Vec<u8> {
        let mut s = Vec::new();
        put_varint(&mut s, 1 << 3, code);
        if let Some(r) = reset_s {
            let mut d = Vec::new();
            put_varint(&mut d, 1 << 3, r);
            put_bytes(&mut s, 4, &d);
        }
        s
    }

    #[test]
    fn answers_read() {
        let mut ok = Vec::new();
        put_varint(&mut ok, 1 << 3, OK);
        assert_eq!(read_answer(0, &ok, 1), Answer::Admitted);
        let mut over = Vec::new();
        put_varint(&mut over, 1 << 3, OVER_LIMIT);
        put_bytes(&mut over, 2, &status(OK, None));
        put_bytes(&mut over, 2, &status(OK, None));
        put_bytes(&mut over, 2, &status(OVER_LIMIT, Some(42)));
        assert_eq!(
            read_answer(0, &over, 2),
            Answer::OverLimit {
                hit: Some(1),
                reset_ms: Some(42_000)
            }
        );
        assert!(matches!(
            read_answer(14, b"", 1),
            Answer::Unavailable { .. }
        ));
        assert!(matches!(read_answer(0, b"", 1), Answer::Unavailable { .. }));
        assert!(matches!(
            read_answer(0, b"\x08", 1),
            Answer::Unavailable { .. }
        ));
        assert!(matches!(
            read_answer(0, b"\x12\x05ab", 1),
            Answer::Unavailable { .. }
        ));
    }

    #[test]
    fn reset_header_read_when_no_status_says() {
        let mut hv = Vec::new();
        put_bytes(&mut hv, 1, b"X-RateLimit-Reset");
        put_bytes(&mut hv, 2, b"17");
        let mut option = Vec::new();
        put_bytes(&mut option, 1, &hv);
        let mut over = Vec::new();
        put_varint(&mut over, 1 << 3, OVER_LIMIT);
        put_bytes(&mut over, 3, &option);
        assert_eq!(
            read_answer(0, &over, 1),
            Answer::OverLimit {
                hit: None,
                reset_ms: Some(17_000)
            }
        );
    }

    #[test]
    fn an_explicit_counter_namespace_keeps_fleet_counters_apart() {
        let counter = Counter {
            name: "c".into(),
            namespace: "t".into(),
            window: crate::policy::Window::Minute,
            scope: Scope::Grant,
            increment: crate::policy::Increment::By(crate::json::Num::U(1)),
            max: None,
            message: None,
            pointer: String::new(),
            path: String::new(),
            key_prefix: "p\u{1f}t\u{1f}c\u{1f}grant\u{1f}60000\u{1f}".into(),
            backend: crate::policy::Backend::Rls,
        };
        let plain = counter_id(&counter, None);
        assert_eq!(plain.len(), 16);
        assert_ne!(plain, counter_id(&counter, Some("payments-gw")));
        assert_ne!(
            counter_id(&counter, Some("a")),
            counter_id(&counter, Some("b"))
        );
        assert_eq!(entry_key(&counter, None), format!("mcp_policy.c.{plain}"));
    }

    #[test]
    fn grpc_service_names_the_cluster() {
        assert_eq!(grpc_service("rl"), b"\x0a\x04\x0a\x02rl");
    }
}
