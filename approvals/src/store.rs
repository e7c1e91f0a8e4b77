//! The service's state in SQLite: approval requests, approver sessions and
//! the audit of decisions.
//!
//! Owns: the schema, the check transaction (expire, consume an approval,
//! find or open a request), approve and deny, sessions, and the audit. Every
//! write is one `BEGIN IMMEDIATE` transaction, so two checks of one approved
//! call cannot both see it approved, even from two processes. Does not own:
//! HTTP, who may decide (`web` checks the session, CSRF and origin before it
//! calls [`Store::decide`]), or the clock (callers pass `now_ms`, so tests
//! move time by hand).

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::path::Path;

use crate::binding::Binding;
use crate::config::hex;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug)]
pub enum Error {
    Db(rusqlite::Error),
    /// The system's random source failed: no id or token can be made.
    Random(String),
    /// The file holds another version's tables (what is wrong, and what to do).
    Schema(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Db(e) => write!(f, "database: {e}"),
            Error::Random(e) => write!(f, "random source: {e}"),
            Error::Schema(e) => write!(f, "{e}"),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e)
    }
}

/// How long things last, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Ttl {
    /// A request waiting for a person.
    pub pending_ms: i64,
    /// An approval waiting for its retry; a denial applying to retries.
    pub decided_ms: i64,
    /// An approver's session.
    pub session_ms: i64,
}

pub const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a person.
    Pending,
    /// Approved, not yet used by a retry.
    Approved,
    /// Denied; retries of the call are denied until `expires_ms`.
    Denied,
    /// Approved and consumed by a check.
    Used,
    /// Nobody decided in time, or the approval was never used.
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Used => "used",
            Status::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "denied" => Status::Denied,
            "used" => Status::Used,
            // The schema's CHECK admits nothing else.
            _ => Status::Expired,
        }
    }
}

/// A call as the filter asked about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The call digest (64 lower-case hex) of `binding`: what an approval
    /// is bound to. Always `binding.digest()`.
    pub digest: String,
    /// Everything the page shows as the call.
    pub binding: Binding,
    /// Context for the person, not bound: as the check that opened the
    /// request reported it.
    pub session: Option<String>,
    pub request_id: Option<String>,
}

impl Call {
    pub fn new(binding: Binding, session: Option<String>, request_id: Option<String>) -> Call {
        Call {
            digest: binding.digest(),
            binding,
            session,
            request_id,
        }
    }
}

/// One approval request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 128 random bits, hex: the approval URL's last segment and the
    /// elicitation id.
    pub id: String,
    pub call: Call,
    pub status: Status,
    pub created_ms: i64,
    /// When the current status stops applying (pending: expires; approved:
    /// expires unused; denied: stops denying retries; expired: when it did).
    pub expires_ms: i64,
    pub decision: Option<Approval>,
    pub used_ms: Option<i64>,
}

/// A person's decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub approver: String,
    pub approved: bool,
    pub at_ms: i64,
    /// The denial's reason (empty when none was given or it is an approval).
    pub reason: String,
}

/// The answer to the filter's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The call was approved; this check used the approval up.
    Approved { id: String, approver: String },
    Denied {
        id: String,
        approver: String,
        reason: String,
    },
    /// Waiting for a person at request `id`; `new` when this check opened it.
    Pending { id: String, new: bool },
}

/// What a person decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny { reason: String },
}

/// Why a decision was not recorded.
#[derive(Debug)]
pub enum DecideError {
    NotFound,
    /// The request is no longer pending (decided, used or expired).
    NotPending(Box<Request>),
    Store(Error),
}

impl From<rusqlite::Error> for DecideError {
    fn from(e: rusqlite::Error) -> Self {
        DecideError::Store(Error::Db(e))
    }
}

/// A signed-in approver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub approver: String,
    /// The approver's token hash when the session began (`Approver::key`).
    pub approver_key: String,
    /// The token every state-changing form must carry.
    pub csrf: String,
    pub expires_ms: i64,
}

/// One line of the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub approver: String,
    /// `approve` or `deny`.
    pub action: String,
    pub request_id: String,
    pub digest: String,
    pub tool: String,
    pub reason: String,
}

/// `PRAGMA user_version` of a database this version made. Version 1 (no
/// `user_version`) stored the call's fields separately as the filter
/// reported them; 2 stores the binding they are shown from; 3 stores
/// bindings that name the endpoint (`authority`, `path`, `namespace`),
/// which a binding of version 2 cannot be read as.
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id              TEXT PRIMARY KEY,
    digest          TEXT NOT NULL,
    -- The call binding's exact JSON; `digest` is its SHA-256.
    binding         TEXT NOT NULL,
    session         TEXT,
    request_id      TEXT,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'approved', 'denied', 'used', 'expired')),
    created_ms      INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    approver        TEXT,
    decided_ms      INTEGER,
    decision_reason TEXT,
    used_ms         INTEGER
);
-- One open (pending, or approved and unused) request per call digest: a
-- retry finds it instead of opening another.
CREATE UNIQUE INDEX IF NOT EXISTS requests_open_digest
    ON requests (digest) WHERE status IN ('pending', 'approved');
CREATE INDEX IF NOT EXISTS requests_digest ON requests (digest, status);
CREATE INDEX IF NOT EXISTS requests_status ON requests (status, created_ms);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    approver     TEXT NOT NULL,
    approver_key TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms      INTEGER NOT NULL,
    approver   TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('approve', 'deny')),
    request_id TEXT NOT NULL,
    digest     TEXT NOT NULL,
    tool       TEXT NOT NULL,
    reason     TEXT NOT NULL
);
";

const REQUEST_COLUMNS: &str = "id, digest, binding, session, request_id, status, created_ms, \
     expires_ms, approver, decided_ms, decision_reason, used_ms";

/// The database: one connection, used by one caller at a time (the
/// service keeps it behind a mutex).
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if absent) the database file.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        // Another process on the same file waits rather than failing.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Another version's file is left as it was, journal mode included.
        check_schema(&conn)?;
        // WAL: readers never block the writer. The journal mode is a
        // property of the file, so this sticks across restarts.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        Store::setup(conn)
    }

    /// A private database in memory (tests).
    pub fn open_in_memory() -> Result<Store> {
        Store::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Store> {
        // FULL: a used approval stays used across a power loss, so it
        // cannot be replayed after one.
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        create_schema(&conn)?;
        Ok(Store { conn })
    }

    /// The filter's check of one call (SPEC §7.2): an approval is used up
    /// in the transaction that reports it; nothing here approves.
    pub fn check(&mut self, call: &Call, now_ms: i64, ttl: Ttl) -> Result<Check> {
        // Recomputed rather than trusted: the request is found and stored
        // by the digest of the binding it shows.
        let digest = call.binding.digest();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire_due(&tx, now_ms)?;
        let approved: Option<(String, String)> = tx
            .query_row(
                "SELECT id, approver FROM requests WHERE digest = ?1 AND status = 'approved'",
                [&digest],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    ))
                },
            )
            .optional()?;
        if let Some((id, approver)) = approved {
            tx.execute(
                "UPDATE requests SET status = 'used', used_ms = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
            tx.commit()?;
            return Ok(Check::Approved { id, approver });
        }
        let pending: Option<String> = tx
            .query_row(
                "SELECT id FROM requests WHERE digest = ?1 AND status = 'pending'",
                [&digest],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = pending {
            tx.commit()?;
            return Ok(Check::Pending { id, new: false });
        }
        let denied: Option<(String, String, String)> = tx
            .query_row(
                "SELECT id, approver, decision_reason FROM requests
                 WHERE digest = ?1 AND status = 'denied' AND expires_ms > ?2
                 ORDER BY decided_ms DESC LIMIT 1",
                params![digest, now_ms],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    ))
                },
            )
            .optional()?;
        if let Some((id, approver, reason)) = denied {
            tx.commit()?;
            return Ok(Check::Denied {
                id,
                approver,
                reason,
            });
        }
        let id = random_hex::<16>()?;
        tx.execute(
            "INSERT INTO requests (id, digest, binding, session, request_id, status,
                 created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
            params![
                id,
                digest,
                call.binding.text,
                call.session,
                call.request_id,
                now_ms,
                now_ms.saturating_add(ttl.pending_ms),
            ],
        )?;
        tx.commit()?;
        Ok(Check::Pending { id, new: true })
    }

    /// Records `approver`'s decision on a request that is still pending,
    /// and its audit line, in one transaction.
    pub fn decide(
        &mut self,
        id: &str,
        approver: &str,
        decision: &Decision,
        now_ms: i64,
        ttl: Ttl,
    ) -> std::result::Result<Request, DecideError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire_due(&tx, now_ms)?;
        let Some(request) = select_request(&tx, id)? else {
            return Err(DecideError::NotFound);
        };
        if request.status != Status::Pending {
            return Err(DecideError::NotPending(Box::new(request)));
        }
        let (status, action, reason) = match decision {
            Decision::Approve => ("approved", "approve", ""),
            Decision::Deny { reason } => ("denied", "deny", reason.as_str()),
        };
        tx.execute(
            "UPDATE requests SET status = ?2, approver = ?3, decided_ms = ?4,
                 decision_reason = ?5, expires_ms = ?6
             WHERE id = ?1 AND status = 'pending'",
            params![
                id,
                status,
                approver,
                now_ms,
                reason,
                now_ms.saturating_add(ttl.decided_ms)
            ],
        )?;
        tx.execute(
            "INSERT INTO audit (at_ms, approver, action, request_id, digest, tool, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                now_ms,
                approver,
                action,
                id,
                request.call.digest,
                request.call.binding.tool,
                reason
            ],
        )?;
        let decided = select_request(&tx, id)?.ok_or(DecideError::NotFound)?;
        tx.commit()?;
        Ok(decided)
    }

    /// One request, with anything due expired first.
    pub fn request(&mut self, id: &str, now_ms: i64) -> Result<Option<Request>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire_due(&tx, now_ms)?;
        let request = select_request(&tx, id)?;
        tx.commit()?;
        Ok(request)
    }

    /// Pending requests, newest first, and up to `recent` decided ones,
    /// most recently decided first.
    pub fn overview(&mut self, now_ms: i64, recent: usize) -> Result<(Vec<Request>, Vec<Request>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire_due(&tx, now_ms)?;
        let pending = select_requests(
            &tx,
            "WHERE status = 'pending' ORDER BY created_ms DESC, rowid DESC",
            [],
        )?;
        let limit = i64::try_from(recent).unwrap_or(i64::MAX);
        let decided = select_requests(
            &tx,
            "WHERE decided_ms IS NOT NULL ORDER BY decided_ms DESC, rowid DESC LIMIT ?1",
            [limit],
        )?;
        tx.commit()?;
        Ok((pending, decided))
    }

    /// Starts a session: returns the cookie's token (only its SHA-256 is
    /// stored) and the session.
    pub fn create_session(
        &mut self,
        approver: &str,
        approver_key: &str,
        now_ms: i64,
        ttl: Ttl,
    ) -> Result<(String, Session)> {
        let token = random_hex::<32>()?;
        let session = Session {
            approver: approver.to_owned(),
            approver_key: approver_key.to_owned(),
            csrf: random_hex::<32>()?,
            expires_ms: now_ms.saturating_add(ttl.session_ms),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now_ms])?;
        tx.execute(
            "INSERT INTO sessions (token_sha256, approver, approver_key, csrf, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                sha256_hex(&token),
                session.approver,
                session.approver_key,
                session.csrf,
                now_ms,
                session.expires_ms
            ],
        )?;
        tx.commit()?;
        Ok((token, session))
    }

    /// The live session whose cookie token this is.
    pub fn session(&mut self, token: &str, now_ms: i64) -> Result<Option<Session>> {
        Ok(self
            .conn
            .query_row(
                "SELECT approver, approver_key, csrf, expires_ms FROM sessions
                 WHERE token_sha256 = ?1 AND expires_ms > ?2",
                params![sha256_hex(token), now_ms],
                |r| {
                    Ok(Session {
                        approver: r.get(0)?,
                        approver_key: r.get(1)?,
                        csrf: r.get(2)?,
                        expires_ms: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn end_session(&mut self, token: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM sessions WHERE token_sha256 = ?1",
            [sha256_hex(token)],
        )?;
        Ok(())
    }

    /// The audit, oldest first.
    pub fn audit(&mut self) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, approver, action, request_id, digest, tool, reason
             FROM audit ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(AuditEntry {
                at_ms: r.get(0)?,
                approver: r.get(1)?,
                action: r.get(2)?,
                request_id: r.get(3)?,
                digest: r.get(4)?,
                tool: r.get(5)?,
                reason: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Pending requests past their time and approvals never used expire;
/// denials stay `denied` (the page still shows who denied and why) and stop
/// applying by their `expires_ms`.
fn expire_due(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE requests SET status = 'expired'
         WHERE status IN ('pending', 'approved') AND expires_ms <= ?1",
        [now_ms],
    )
}

fn select_request(conn: &Connection, id: &str) -> rusqlite::Result<Option<Request>> {
    conn.query_row(
        &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"),
        [id],
        read_request,
    )
    .optional()
}

fn select_requests<P: rusqlite::Params>(
    conn: &Connection,
    tail: &str,
    params: P,
) -> rusqlite::Result<Vec<Request>> {
    let mut stmt = conn.prepare(&format!("SELECT {REQUEST_COLUMNS} FROM requests {tail}"))?;
    let rows = stmt.query_map(params, read_request)?;
    rows.collect()
}

fn read_request(r: &Row<'_>) -> rusqlite::Result<Request> {
    let digest: String = r.get(1)?;
    let text: String = r.get(2)?;
    // The page shows what is read here: it must still be the call the
    // digest names.
    let unreadable = |why: String| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, why.into())
    };
    let binding = Binding::parse(&text).map_err(unreadable)?;
    if binding.digest() != digest {
        return Err(unreadable(format!(
            "the stored binding of request digest {digest} does not hash to it"
        )));
    }
    let status = Status::parse(&r.get::<_, String>(5)?);
    let approver: Option<String> = r.get(8)?;
    let decided_ms: Option<i64> = r.get(9)?;
    let decision = match (approver, decided_ms) {
        (Some(approver), Some(at_ms)) => {
            let reason: Option<String> = r.get(10)?;
            // Denied stays denied; used and expired-after-decision were approvals.
            let approved = status != Status::Denied;
            Some(Approval {
                approver,
                approved,
                at_ms,
                reason: reason.unwrap_or_default(),
            })
        }
        _ => None,
    };
    Ok(Request {
        id: r.get(0)?,
        call: Call {
            digest,
            binding,
            session: r.get(3)?,
            request_id: r.get(4)?,
        },
        status,
        created_ms: r.get(6)?,
        expires_ms: r.get(7)?,
        decision,
        used_ms: r.get(11)?,
    })
}

/// Creates the tables in a new file, or checks an existing file's are this
/// version's: an earlier version's file is refused with what to do, not
/// half-used.
fn create_schema(conn: &Connection) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = check_schema(conn).and_then(|()| {
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        Ok(())
    });
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(_) => {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    result
}

/// `Ok` for a new file or one of this version; else what is wrong and
/// what to do.
fn check_schema(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master
         WHERE type = 'table' AND name IN ('requests', 'sessions', 'audit')",
        [],
        |r| r.get(0),
    )?;
    if tables == 0 || version == SCHEMA_VERSION {
        return Ok(());
    }
    let made_by = if version < SCHEMA_VERSION {
        "an earlier version of the approval service (requests stored without their call binding, \
         or with one that does not name the endpoint)"
    } else {
        "a newer version of the approval service"
    };
    Err(Error::Schema(format!(
        "the database schema differs: it is version {version}, made by {made_by}, and this version \
         needs version {SCHEMA_VERSION}. There is no migration: move the file (and its -wal and -shm \
         files) aside or delete it, and start again with a new one; the requests in it are lost \
         (agents are asked to get a new approval) and its audit stays in the old file"
    )))
}

/// `N` random bytes from the operating system, as hex.
pub fn random_hex<const N: usize>() -> Result<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(hex(&bytes))
}

pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier, Mutex};

    const TTL: Ttl = Ttl {
        pending_ms: 900_000,
        decided_ms: 600_000,
        session_ms: SESSION_TTL_MS,
    };

    /// A call per `tag`: another tag, another argument, another digest.
    fn call(tag: char) -> Call {
        let text = format!(
            r#"{{"arguments":{{"amount":100,"to":"acct-{tag}"}},"authority":"mcp.example","grant":"billing","identity":"h:x-agent-id\u001fagent-a","namespace":"","path":"/mcp","policy_sha256":"{}","reason":"Payments need a person","rule":"/tools/pay/action","tool":"pay"}}"#,
            "ab".repeat(32)
        );
        Call::new(Binding::parse(&text).unwrap(), None, Some("r1".into()))
    }

    fn pending_id(check: Check) -> String {
        match check {
            Check::Pending { id, .. } => id,
            other => panic!("expected pending, got {other:?}"),
        }
    }

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mcp-approvals-store-{name}-{}-{}",
            std::process::id(),
            random_hex::<4>().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("approvals.db")
    }

    #[test]
    fn a_check_opens_one_request_per_digest_and_a_retry_finds_it() {
        let mut s = Store::open_in_memory().unwrap();
        let first = s.check(&call('a'), 1_000, TTL).unwrap();
        let Check::Pending { id, new: true } = first else {
            panic!("{first:?}")
        };
        assert_eq!(id.len(), 32);
        assert_eq!(
            s.check(&call('a'), 2_000, TTL).unwrap(),
            Check::Pending {
                id: id.clone(),
                new: false
            }
        );
        let other = pending_id(s.check(&call('b'), 2_000, TTL).unwrap());
        assert_ne!(other, id);
        let req = s.request(&id, 3_000).unwrap().unwrap();
        assert_eq!(req.call, call('a'));
        assert_eq!(req.status, Status::Pending);
        assert_eq!(req.expires_ms, 1_000 + TTL.pending_ms);
    }

    #[test]
    fn an_approval_is_used_once_and_audited() {
        let mut s = Store::open_in_memory().unwrap();
        let id = pending_id(s.check(&call('a'), 0, TTL).unwrap());
        let decided = s.decide(&id, "alice", &Decision::Approve, 10, TTL).unwrap();
        assert_eq!(decided.status, Status::Approved);
        assert_eq!(
            s.check(&call('a'), 20, TTL).unwrap(),
            Check::Approved {
                id: id.clone(),
                approver: "alice".into()
            }
        );
        // Used: the next identical call needs a new approval.
        let again = pending_id(s.check(&call('a'), 30, TTL).unwrap());
        assert_ne!(again, id);
        let used = s.request(&id, 40).unwrap().unwrap();
        assert_eq!(used.status, Status::Used);
        assert_eq!(used.used_ms, Some(20));
        // A request is decided once.
        assert!(matches!(
            s.decide(&id, "bob", &Decision::Approve, 50, TTL),
            Err(DecideError::NotPending(_))
        ));
        assert!(matches!(
            s.decide("00", "bob", &Decision::Approve, 50, TTL),
            Err(DecideError::NotFound)
        ));
        let audit = s.audit().unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].approver, "alice");
        assert_eq!(audit[0].action, "approve");
        assert_eq!(audit[0].request_id, id);
        assert_eq!(audit[0].digest, call('a').digest);
        assert_eq!(audit[0].tool, "pay");
        assert_eq!(audit[0].at_ms, 10);
    }

    #[test]
    fn a_denial_applies_to_retries_until_it_expires() {
        let mut s = Store::open_in_memory().unwrap();
        let id = pending_id(s.check(&call('a'), 0, TTL).unwrap());
        let reason = "not this month".to_string();
        s.decide(&id, "bob", &Decision::Deny { reason }, 100, TTL)
            .unwrap();
        let denied = Check::Denied {
            id: id.clone(),
            approver: "bob".into(),
            reason: "not this month".into(),
        };
        assert_eq!(s.check(&call('a'), 200, TTL).unwrap(), denied);
        assert_eq!(
            s.check(&call('a'), 100 + TTL.decided_ms - 1, TTL).unwrap(),
            denied
        );
        let after = pending_id(s.check(&call('a'), 100 + TTL.decided_ms, TTL).unwrap());
        assert_ne!(after, id);
        let old = s.request(&id, 100 + TTL.decided_ms).unwrap().unwrap();
        assert_eq!(old.status, Status::Denied);
        assert_eq!(old.decision.unwrap().reason, "not this month");
        assert_eq!(s.audit().unwrap()[0].action, "deny");
    }

    #[test]
    fn pending_requests_and_unused_approvals_expire() {
        let mut s = Store::open_in_memory().unwrap();
        let id = pending_id(s.check(&call('a'), 0, TTL).unwrap());
        // Due: expired, and a decision comes too late.
        assert!(matches!(
            s.decide(&id, "alice", &Decision::Approve, TTL.pending_ms, TTL),
            Err(DecideError::NotPending(r)) if r.status == Status::Expired
        ));
        let next = pending_id(s.check(&call('a'), TTL.pending_ms, TTL).unwrap());
        assert_ne!(next, id);
        s.decide(&next, "alice", &Decision::Approve, TTL.pending_ms + 1, TTL)
            .unwrap();
        // The approval is not used in time: the retry is pending again.
        let late = TTL.pending_ms + 1 + TTL.decided_ms;
        let third = pending_id(s.check(&call('a'), late, TTL).unwrap());
        assert_ne!(third, next);
        let unused = s.request(&next, late).unwrap().unwrap();
        assert_eq!(unused.status, Status::Expired);
        assert!(unused.decision.unwrap().approved);
        assert!(s.audit().unwrap().len() == 1);
    }

    #[test]
    fn concurrent_checks_of_one_approval_use_it_once() {
        let path = temp_db("concurrent");
        let mut setup = Store::open(&path).unwrap();
        let id = pending_id(setup.check(&call('c'), 0, TTL).unwrap());
        setup
            .decide(&id, "alice", &Decision::Approve, 1, TTL)
            .unwrap();
        drop(setup);
        // Two ways to race: threads sharing one connection behind a mutex
        // (as the service does), and separate connections (two processes).
        let shared = Arc::new(Mutex::new(Store::open(&path).unwrap()));
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let shared = Arc::clone(&shared);
                let barrier = Arc::clone(&barrier);
                let path = path.clone();
                std::thread::spawn(move || {
                    let own = (i % 2 == 1).then(|| Store::open(&path).unwrap());
                    barrier.wait();
                    match own {
                        Some(mut store) => store.check(&call('c'), 2, TTL).unwrap(),
                        None => shared.lock().unwrap().check(&call('c'), 2, TTL).unwrap(),
                    }
                })
            })
            .collect();
        let answers: Vec<Check> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let approved = answers
            .iter()
            .filter(|a| matches!(a, Check::Approved { .. }))
            .count();
        assert_eq!(approved, 1, "{answers:?}");
        // The rest all point at the one new request that replaced it.
        let pending: std::collections::HashSet<_> = answers
            .iter()
            .filter_map(|a| match a {
                Check::Pending { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(pending.len(), 1, "{answers:?}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_restart_loses_nothing() {
        let path = temp_db("restart");
        let (pending, approved, denied, token) = {
            let mut s = Store::open(&path).unwrap();
            let pending = pending_id(s.check(&call('a'), 0, TTL).unwrap());
            let approved = pending_id(s.check(&call('b'), 0, TTL).unwrap());
            let denied = pending_id(s.check(&call('d'), 0, TTL).unwrap());
            s.decide(&approved, "alice", &Decision::Approve, 5, TTL)
                .unwrap();
            let no = Decision::Deny {
                reason: "no".into(),
            };
            s.decide(&denied, "bob", &no, 6, TTL).unwrap();
            let (token, _) = s.create_session("alice", "k", 7, TTL).unwrap();
            (pending, approved, denied, token)
        };
        let mut s = Store::open(&path).unwrap();
        assert_eq!(
            s.check(&call('a'), 10, TTL).unwrap(),
            Check::Pending {
                id: pending,
                new: false
            }
        );
        assert_eq!(
            s.check(&call('b'), 10, TTL).unwrap(),
            Check::Approved {
                id: approved,
                approver: "alice".into()
            }
        );
        assert!(
            matches!(s.check(&call('d'), 10, TTL).unwrap(), Check::Denied { id, .. } if id == denied)
        );
        assert_eq!(s.session(&token, 10).unwrap().unwrap().approver, "alice");
        assert_eq!(s.audit().unwrap().len(), 2);
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn sessions_are_stored_by_hash_and_expire() {
        let mut s = Store::open_in_memory().unwrap();
        let (token, session) = s.create_session("alice", "key", 0, TTL).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(session.csrf.len(), 64);
        assert_eq!(s.session(&token, 1).unwrap(), Some(session.clone()));
        let stored: String = s
            .conn
            .query_row("SELECT token_sha256 FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, sha256_hex(&token));
        assert_ne!(stored, token);
        assert_eq!(s.session(&token, SESSION_TTL_MS).unwrap(), None);
        assert_eq!(s.session("other", 1).unwrap(), None);
        s.end_session(&token).unwrap();
        assert_eq!(s.session(&token, 1).unwrap(), None);
    }

    #[test]
    fn overview_lists_pending_newest_first_and_recent_decisions() {
        let mut s = Store::open_in_memory().unwrap();
        let a = pending_id(s.check(&call('a'), 1, TTL).unwrap());
        let b = pending_id(s.check(&call('b'), 2, TTL).unwrap());
        let c = pending_id(s.check(&call('c'), 3, TTL).unwrap());
        s.decide(&b, "alice", &Decision::Approve, 4, TTL).unwrap();
        let (pending, recent) = s.overview(5, 10).unwrap();
        let ids: Vec<_> = pending.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [c.as_str(), a.as_str()]);
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].id, b);
    }

    #[test]
    fn a_call_is_bound_to_the_digest_of_its_binding() {
        let c = call('a');
        assert_eq!(c.digest, sha256_hex(&c.binding.text));
        assert_eq!(c.digest.len(), 64);
        assert_ne!(c.digest, call('b').digest);
    }

    #[test]
    fn a_stored_binding_that_no_longer_hashes_to_its_digest_is_not_shown() {
        let mut s = Store::open_in_memory().unwrap();
        let id = pending_id(s.check(&call('a'), 0, TTL).unwrap());
        s.conn
            .execute(
                "UPDATE requests SET binding = ?1 WHERE id = ?2",
                params![call('b').binding.text, id],
            )
            .unwrap();
        let e = s.request(&id, 1).unwrap_err().to_string();
        assert!(e.contains("does not hash to it"), "{e}");
    }

    #[test]
    fn a_database_of_the_earlier_schema_is_refused_with_what_to_do() {
        let path = temp_db("old-schema");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE requests (id TEXT PRIMARY KEY, digest TEXT NOT NULL, tool TEXT NOT NULL,
                     arguments TEXT NOT NULL, identity TEXT, grant_name TEXT, session TEXT,
                     request_id TEXT, policy_sha256 TEXT NOT NULL, rule TEXT NOT NULL,
                     reason TEXT NOT NULL, status TEXT NOT NULL, created_ms INTEGER NOT NULL,
                     expires_ms INTEGER NOT NULL, approver TEXT, decided_ms INTEGER,
                     decision_reason TEXT, used_ms INTEGER);",
            )
            .unwrap();
        }
        let Err(e) = Store::open(&path) else {
            panic!("an old database was opened")
        };
        let e = e.to_string();
        for text in [
            "schema differs",
            "version 0",
            "earlier version",
            "needs version 3",
            "move the file",
        ] {
            assert!(e.contains(text), "{text}: {e}");
        }
        // Nothing was changed in it.
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 0);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        drop(conn);
        // A new file, and this version's file again, open.
        let fresh = temp_db("new-schema");
        drop(Store::open(&fresh).unwrap());
        let mut again = Store::open(&fresh).unwrap();
        let version: i64 = again
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        pending_id(again.check(&call('a'), 0, TTL).unwrap());
        for p in [path, fresh] {
            let _ = std::fs::remove_dir_all(p.parent().unwrap());
        }
    }

    #[test]
    fn a_database_of_bindings_without_their_endpoint_is_refused() {
        // Version 2: the same tables, bindings without authority, path and
        // namespace, which this version cannot read.
        let path = temp_db("v2");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch("PRAGMA user_version = 2").unwrap();
        }
        let Err(e) = Store::open(&path) else {
            panic!("a version 2 database was opened")
        };
        let e = e.to_string();
        for text in ["version 2", "does not name the endpoint", "needs version 3"] {
            assert!(e.contains(text), "{text}: {e}");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
