//! Counters: windows, all-or-none reservation, and the stores behind them.
//!
//! Owns: the `CounterStore` trait the engine reserves through; `MemoryStore`
//! (the CLI and native tests); `CasStore`, which keeps counters exact on top of
//! any compare-and-swap cell store (proxy-wasm shared data in the filter, a
//! test double natively); and the byte layout of a counter's record.
//!
//! A counter has one key per scope value (identity, session, or the whole
//! policy), reused across windows: the record carries the window it counts, and
//! a record from an older window reads as zero. So memory grows with the number
//! of distinct callers, never with time.
//!
//! Does not own: which counters a call touches (the engine), or the proxy-wasm
//! calls themselves (`host`).

use crate::policy::Window;
use std::collections::HashMap;

/// One window of a counter: its length and its index since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub length_ms: u64,
    pub index: u64,
}

impl Slot {
    pub fn at(window: Window, now_ms: u64) -> Slot {
        let length_ms = window.length_ms();
        Slot {
            length_ms,
            index: now_ms.checked_div(length_ms).unwrap_or(0),
        }
    }

    /// Milliseconds from `now_ms` until this window ends.
    pub fn reset_in_ms(self, now_ms: u64) -> u64 {
        self.index
            .saturating_add(1)
            .saturating_mul(self.length_ms)
            .saturating_sub(now_ms)
    }
}

/// Why a reservation did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// Admitting the call would have made the counter `value`.
    Refused { value: f64 },
    /// The store could not answer (contention, host error): fail closed.
    Unavailable(String),
}

/// Where counters live.
pub trait CounterStore {
    /// Adds `amount` to the counter at `key` in `slot`, if `admit` accepts
    /// the value that results; returns that value. Atomic per key.
    fn reserve(
        &mut self,
        key: &str,
        slot: Slot,
        amount: f64,
        admit: &dyn Fn(f64) -> bool,
    ) -> Result<f64, StoreError>;

    /// Takes back a reservation. Nothing happens once its window is over.
    fn release(&mut self, key: &str, slot: Slot, amount: f64);

    /// The counter's value in `slot`.
    fn read(&mut self, key: &str, slot: Slot) -> Result<f64, StoreError>;
}

/// A reservation held for a call, to be taken back if the call is denied
/// later or fails upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    pub key: String,
    pub slot: Slot,
    pub amount: f64,
}

pub fn release_all(store: &mut dyn CounterStore, reservations: &[Reservation]) {
    for r in reservations.iter().rev() {
        store.release(&r.key, r.slot, r.amount);
    }
}

/// A counter's stored record: the window it counts and the count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub slot: Slot,
    pub value: f64,
}

impl Record {
    pub const LEN: usize = 24;

    pub fn encode(self) -> [u8; Record::LEN] {
        let mut out = [0u8; Record::LEN];
        let parts = [
            self.slot.length_ms.to_le_bytes(),
            self.slot.index.to_le_bytes(),
            self.value.to_le_bytes(),
        ];
        for (chunk, part) in out.chunks_exact_mut(8).zip(parts) {
            chunk.copy_from_slice(&part);
        }
        out
    }

    /// `None` for bytes that are not a record (an empty or foreign value).
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        if bytes.len() != Record::LEN {
            return None;
        }
        let mut words = bytes.chunks_exact(8).map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            w
        });
        let length_ms = u64::from_le_bytes(words.next()?);
        let index = u64::from_le_bytes(words.next()?);
        let value = f64::from_le_bytes(words.next()?);
        value.is_finite().then_some(Record {
            slot: Slot { length_ms, index },
            value,
        })
    }

    /// The count in `slot`: zero if the record is from another window.
    pub fn value_in(record: Option<Record>, slot: Slot) -> f64 {
        match record {
            Some(r) if r.slot == slot => r.value,
            _ => 0.0,
        }
    }
}

/// Counters in process memory, for the CLI and native tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: HashMap<String, Record>,
}

impl MemoryStore {
    /// What every counter holds, summed: 0 when nothing is reserved.
    pub fn total(&self) -> f64 {
        self.records.values().map(|r| r.value).sum()
    }
}

impl CounterStore for MemoryStore {
    fn reserve(
        &mut self,
        key: &str,
        slot: Slot,
        amount: f64,
        admit: &dyn Fn(f64) -> bool,
    ) -> Result<f64, StoreError> {
        let value = Record::value_in(self.records.get(key).copied(), slot) + amount;
        if !admit(value) {
            return Err(StoreError::Refused { value });
        }
        self.records.insert(key.to_owned(), Record { slot, value });
        Ok(value)
    }

    fn release(&mut self, key: &str, slot: Slot, amount: f64) {
        if let Some(r) = self.records.get_mut(key) {
            if r.slot == slot {
                r.value = (r.value - amount).max(0.0);
            }
        }
    }

    fn read(&mut self, key: &str, slot: Slot) -> Result<f64, StoreError> {
        Ok(Record::value_in(self.records.get(key).copied(), slot))
    }
}

/// A key-value store with compare-and-swap, as proxy-wasm shared data is:
/// `get` gives a value and a version (`cas`); `set` with a non-zero `cas`
/// writes only while the version still matches. Creating a key is not atomic
/// (a `set` on a missing key always writes), which `CasStore` handles.
pub trait CasCells {
    fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, String>;
    /// `Ok(false)` when `cas` no longer matches.
    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<bool, String>;
}

/// Exact counters over `CasCells`, shared by every thread that shares the
/// cells. Every change of an existing record is a compare-and-swap, retried a
/// bounded number of times, then refused (fail closed). Because creating a
/// key cannot be a compare-and-swap, creation happens under a lock held in
/// one well-known cell, so two threads can never both create a key (and the
/// second wipe the first one's count).
pub struct CasStore<C> {
    pub cells: C,
    /// Compare-and-swap attempts per change before giving up.
    pub max_attempts: u32,
    /// Lost compare-and-swap races so far (a metric).
    pub retries: u64,
    /// The current time, for breaking a creation lock left by a dead VM.
    pub now_ms: u64,
}

/// The cell of the creation lock.
pub const CREATION_LOCK: &str = "mcp_policy:lock";
/// What every counter cell's key starts with.
pub const CELL_PREFIX: &str = "mcp_policy:c:";
/// The longest cell key: with its 24-byte record, 120 bytes of shared data
/// per counter and caller (SPEC §8: at most 128).
pub const MAX_CELL_KEY: usize = 96;

/// The first 16 bytes of the SHA-256 of `bytes`.
pub fn digest16(bytes: &[u8]) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(digest.get(..16).unwrap_or(&[0u8; 16]));
    out
}
/// What a new counter cell holds: nothing counted, in no window.
const EMPTY: Record = Record {
    slot: Slot {
        length_ms: 0,
        index: 0,
    },
    value: 0.0,
};
/// A lock older than this was left by a VM that died holding it.
const STALE_LOCK_MS: u64 = 1000;

impl<C: CasCells> CasStore<C> {
    pub fn new(cells: C) -> Self {
        CasStore {
            cells,
            max_attempts: 64,
            retries: 0,
            now_ms: 0,
        }
    }

    /// The cell key of a counter key: the key itself when it is no longer
    /// than `MAX_CELL_KEY` (the engine makes its keys so, see
    /// `engine::counter_key`), else a fixed-size digest of it. So memory per
    /// caller is bounded whatever the identity looks like.
    pub fn cell_key(key: &str) -> std::borrow::Cow<'_, str> {
        if key.len() <= MAX_CELL_KEY {
            return std::borrow::Cow::Borrowed(key);
        }
        let mut out = String::with_capacity(46);
        out.push_str(CELL_PREFIX);
        out.push('#');
        crate::digest::push_hex(&mut out, &digest16(key.as_bytes()));
        std::borrow::Cow::Owned(out)
    }

    /// Makes sure the creation lock cell exists. Called when the plugin
    /// starts, before it judges any request.
    pub fn prepare(&mut self) -> Result<(), String> {
        if self.cells.get(CREATION_LOCK)?.is_none() {
            self.cells.set(CREATION_LOCK, &[0u8; 8], 0)?;
        }
        Ok(())
    }

    /// Applies `change` to the record at `cell` with compare-and-swap.
    /// `change` returns the new record, or an error to stop.
    fn update(
        &mut self,
        cell: &str,
        change: &dyn Fn(Option<Record>) -> Result<Option<Record>, StoreError>,
    ) -> Result<Option<Record>, StoreError> {
        let unavailable = |e: String| StoreError::Unavailable(e);
        for _ in 0..self.max_attempts {
            let Some((bytes, cas)) = self.cells.get(cell).map_err(unavailable)? else {
                self.create(cell)?;
                continue;
            };
            let current = Record::decode(&bytes);
            let Some(next) = change(current)? else {
                return Ok(current);
            };
            if self
                .cells
                .set(cell, &next.encode(), cas)
                .map_err(unavailable)?
            {
                return Ok(Some(next));
            }
            self.retries = self.retries.saturating_add(1);
        }
        Err(StoreError::Unavailable(
            "counter contention: too many concurrent updates".into(),
        ))
    }

    /// Creates `cell` (holding `EMPTY`) under the creation lock.
    fn create(&mut self, cell: &str) -> Result<(), StoreError> {
        let unavailable = |e: String| StoreError::Unavailable(e);
        for _ in 0..self.max_attempts.saturating_mul(16) {
            let Some((lock, cas)) = self.cells.get(CREATION_LOCK).map_err(unavailable)? else {
                self.prepare().map_err(unavailable)?;
                continue;
            };
            let held_since = lock
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .unwrap_or(0);
            let stale = held_since != 0 && self.now_ms.saturating_sub(held_since) > STALE_LOCK_MS;
            if held_since != 0 && !stale {
                self.retries = self.retries.saturating_add(1);
                continue;
            }
            let stamp = self.now_ms.max(1).to_le_bytes();
            if !self
                .cells
                .set(CREATION_LOCK, &stamp, cas)
                .map_err(unavailable)?
            {
                self.retries = self.retries.saturating_add(1);
                continue;
            }
            let created = match self.cells.get(cell) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => self
                    .cells
                    .set(cell, &EMPTY.encode(), 0)
                    .map(|_| ())
                    .map_err(unavailable),
                Err(e) => Err(unavailable(e)),
            };
            // Release whatever happened; a failed release is broken as stale.
            if let Ok(Some((_, lock_cas))) = self.cells.get(CREATION_LOCK) {
                let _ = self.cells.set(CREATION_LOCK, &[0u8; 8], lock_cas);
            }
            return created;
        }
        Err(StoreError::Unavailable(
            "counter creation lock is busy".into(),
        ))
    }
}

impl<C: CasCells> CounterStore for CasStore<C> {
    fn reserve(
        &mut self,
        key: &str,
        slot: Slot,
        amount: f64,
        admit: &dyn Fn(f64) -> bool,
    ) -> Result<f64, StoreError> {
        let cell = Self::cell_key(key);
        crate::probe!("counters: cell key hashed");
        let record = self.update(&cell, &|current| {
            let value = Record::value_in(current, slot) + amount;
            if !admit(value) {
                return Err(StoreError::Refused { value });
            }
            Ok(Some(Record { slot, value }))
        })?;
        Ok(Record::value_in(record, slot))
    }

    fn release(&mut self, key: &str, slot: Slot, amount: f64) {
        let cell = Self::cell_key(key);
        let _ = self.update(&cell, &|current| match current {
            Some(r) if r.slot == slot => Ok(Some(Record {
                slot,
                value: (r.value - amount).max(0.0),
            })),
            _ => Ok(None),
        });
    }

    fn read(&mut self, key: &str, slot: Slot) -> Result<f64, StoreError> {
        match self.cells.get(&Self::cell_key(key)) {
            Ok(found) => Ok(Record::value_in(
                found.and_then(|(bytes, _)| Record::decode(&bytes)),
                slot,
            )),
            Err(e) => Err(StoreError::Unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn slots_are_epoch_aligned_windows() {
        // 2026-01-01T00:00:30Z
        let now = 1_767_225_630_000;
        let minute = Slot::at(Window::Minute, now);
        assert_eq!(minute.reset_in_ms(now), 30_000);
        assert_eq!(
            Slot::at(Window::Hour, now).reset_in_ms(now),
            3_600_000 - 30_000
        );
        assert_eq!(
            Slot::at(Window::Day, now).reset_in_ms(now),
            86_400_000 - 30_000
        );
        assert_eq!(
            Slot::at(Window::Seconds(7), now).reset_in_ms(now),
            7000 - (now % 7000)
        );
        assert_ne!(Slot::at(Window::Minute, now + 30_000), minute);
    }

    #[test]
    fn records_round_trip() {
        let r = Record {
            slot: Slot {
                length_ms: 60_000,
                index: 29_453_760,
            },
            value: 12.5,
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(&[]), None);
        assert_eq!(Record::decode(&[1, 2, 3]), None);
    }

    #[test]
    fn memory_store_reserves_releases_and_resets() {
        let mut s = MemoryStore::default();
        let slot = Slot::at(Window::Minute, 0);
        let under3 = |v: f64| v <= 3.0;
        for expected in [1.0, 2.0, 3.0] {
            assert_eq!(s.reserve("k", slot, 1.0, &under3), Ok(expected));
        }
        assert_eq!(
            s.reserve("k", slot, 1.0, &under3),
            Err(StoreError::Refused { value: 4.0 })
        );
        s.release("k", slot, 1.0);
        assert_eq!(s.read("k", slot), Ok(2.0));
        let next = Slot::at(Window::Minute, 60_000);
        assert_eq!(s.read("k", next), Ok(0.0));
        s.release("k", next, 1.0);
        assert_eq!(s.read("k", slot), Ok(2.0));
    }

    /// Cells that behave as Envoy's shared data does: one lock for all keys, a
    /// global version counter, a set on a missing key always writes.
    type Table = HashMap<String, (Vec<u8>, u32)>;

    #[derive(Clone, Default)]
    struct EnvoyLikeCells(Arc<Mutex<(Table, u32)>>);

    impl CasCells for EnvoyLikeCells {
        fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, String> {
            let guard = self.0.lock().map_err(|e| e.to_string())?;
            Ok(guard.0.get(key).cloned())
        }
        fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<bool, String> {
            let mut guard = self.0.lock().map_err(|e| e.to_string())?;
            guard.1 += 1;
            let next = guard.1;
            match guard.0.get_mut(key) {
                Some(entry) if cas != 0 && entry.1 != cas => Ok(false),
                Some(entry) => {
                    *entry = (value.to_vec(), next);
                    Ok(true)
                }
                None => {
                    guard.0.insert(key.to_owned(), (value.to_vec(), next));
                    Ok(true)
                }
            }
        }
    }

    #[test]
    fn cas_store_is_exact_across_threads_on_a_fresh_key() {
        for round in 0..20 {
            let cells = EnvoyLikeCells::default();
            CasStore::new(cells.clone()).prepare().unwrap();
            let slot = Slot::at(Window::Minute, 0);
            let key = format!("fresh-{round}");
            let admitted: usize = (0..4)
                .map(|_| {
                    let cells = cells.clone();
                    let key = key.clone();
                    std::thread::spawn(move || {
                        let mut store = CasStore::new(cells);
                        store.max_attempts = 10_000;
                        (0..50)
                            .filter(|_| store.reserve(&key, slot, 1.0, &|v| v <= 120.0).is_ok())
                            .count()
                    })
                })
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(admitted, 120, "round {round}");
            let mut store = CasStore::new(cells);
            assert_eq!(store.read(&key, slot), Ok(120.0));
        }
    }

    #[test]
    fn cas_store_breaks_a_stale_creation_lock_and_fails_closed_on_a_live_one() {
        let mut cells = EnvoyLikeCells::default();
        cells.set(CREATION_LOCK, &5u64.to_le_bytes(), 0).unwrap();
        let slot = Slot::at(Window::Minute, 0);
        let mut store = CasStore::new(cells.clone());
        store.now_ms = 10;
        store.max_attempts = 4;
        assert!(matches!(
            store.reserve("k", slot, 1.0, &|_| true),
            Err(StoreError::Unavailable(_))
        ));
        store.now_ms = 5 + STALE_LOCK_MS + 1;
        assert_eq!(store.reserve("k", slot, 1.0, &|_| true), Ok(1.0));
        assert_eq!(cells.get(CREATION_LOCK).unwrap().unwrap().0, vec![0u8; 8]);
    }

    #[test]
    fn cell_keys_are_bounded() {
        let short = CasStore::<EnvoyLikeCells>::cell_key("a");
        assert_eq!(short, "a");
        let text = "x".repeat(10_000);
        let long = CasStore::<EnvoyLikeCells>::cell_key(&text);
        assert_eq!(long.len(), 46);
        assert!(long.starts_with("mcp_policy:c:#"));
    }
}
