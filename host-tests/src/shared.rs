//! Process-wide state shared by every VM of one [`Plugin`](crate::Plugin):
//! shared data (key-value store with compare-and-swap), metrics, shared
//! queues and the clock.
//!
//! In Envoy these live once per `vm_id` per Envoy process and are shared by
//! the VMs of all worker threads; here they live once per `Plugin` and are
//! shared by all its [`Vm`](crate::Vm)s, which may run on different threads.
//! Every structure is behind a `Mutex`, so operations are atomic.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::memory::status;

/// The clock's initial value: 2026-01-01T00:00:30Z, in milliseconds since the epoch.
pub const DEFAULT_START_MS: u64 = 1_767_225_630_000;

/// The kind of a metric defined with `proxy_define_metric`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Type 0: only grows; increments must be positive.
    Counter,
    /// Type 1: goes up and down; `record` sets it.
    Gauge,
    /// Type 2: records samples; the value reported is the number of samples.
    Histogram,
}

impl MetricKind {
    fn from_abi(t: i32) -> Option<Self> {
        match t {
            0 => Some(Self::Counter),
            1 => Some(Self::Gauge),
            2 => Some(Self::Histogram),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Metric {
    name: String,
    kind: MetricKind,
    value: i64,
    samples: Vec<u64>,
}

#[derive(Default)]
struct SharedDataStore {
    entries: BTreeMap<String, (Vec<u8>, u32)>,
    last_cas: u32,
}

#[derive(Default)]
struct Queues {
    by_name: HashMap<(String, String), u32>,
    items: HashMap<u32, VecDeque<Vec<u8>>>,
}

/// Locks a mutex, recovering from poisoning (a panicking test thread must not
/// make the other thread's assertions fail for the wrong reason).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The state shared by all VMs of one plugin.
pub(crate) struct Shared {
    clock_ns: AtomicU64,
    data: Mutex<SharedDataStore>,
    metrics: Mutex<Vec<Metric>>,
    queues: Mutex<Queues>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            clock_ns: AtomicU64::new(DEFAULT_START_MS * 1_000_000),
            data: Mutex::default(),
            metrics: Mutex::default(),
            queues: Mutex::default(),
        }
    }

    // ---- clock ----

    pub(crate) fn now_ns(&self) -> u64 {
        self.clock_ns.load(Ordering::SeqCst)
    }

    pub(crate) fn set_ns(&self, ns: u64) {
        self.clock_ns.store(ns, Ordering::SeqCst);
    }

    pub(crate) fn advance_ns(&self, ns: u64) {
        self.clock_ns.fetch_add(ns, Ordering::SeqCst);
    }

    // ---- shared data ----

    /// `Some((value, cas))`, or `None` when the key was never written.
    pub(crate) fn get_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        lock(&self.data).entries.get(key).cloned()
    }

    /// Envoy's rule: a non-zero `cas` must match the stored token of an
    /// existing key; a missing key is written whatever the `cas`. Every write
    /// takes a fresh token from one process-wide counter (never 0).
    pub(crate) fn set_data(&self, key: &str, value: &[u8], cas: u32) -> i32 {
        let mut store = lock(&self.data);
        if let Some((_, current)) = store.entries.get(key) {
            if cas != 0 && cas != *current {
                return status::CAS_MISMATCH;
            }
        }
        store.last_cas = store.last_cas.wrapping_add(1);
        if store.last_cas == 0 {
            store.last_cas = 1;
        }
        let token = store.last_cas;
        store
            .entries
            .insert(key.to_string(), (value.to_vec(), token));
        status::OK
    }

    pub(crate) fn data_snapshot(&self) -> BTreeMap<String, (Vec<u8>, u32)> {
        lock(&self.data).entries.clone()
    }

    // ---- metrics ----

    /// Metric ids are 1-based indexes; the same name always gets the same id.
    /// Redefining a name with another kind is a `BadArgument`.
    pub(crate) fn define_metric(&self, kind: i32, name: &str) -> Result<u32, i32> {
        let kind = MetricKind::from_abi(kind).ok_or(status::BAD_ARGUMENT)?;
        let mut metrics = lock(&self.metrics);
        if let Some(i) = metrics.iter().position(|m| m.name == name) {
            return if metrics[i].kind == kind {
                Ok(i as u32 + 1)
            } else {
                Err(status::BAD_ARGUMENT)
            };
        }
        metrics.push(Metric {
            name: name.to_string(),
            kind,
            value: 0,
            samples: Vec::new(),
        });
        Ok(metrics.len() as u32)
    }

    fn with_metric<R>(&self, id: u32, f: impl FnOnce(&mut Metric) -> R) -> Result<R, i32> {
        let mut metrics = lock(&self.metrics);
        let idx = (id as usize).checked_sub(1).ok_or(status::NOT_FOUND)?;
        metrics.get_mut(idx).map(f).ok_or(status::NOT_FOUND)
    }

    /// Envoy: counters take only positive offsets; gauges any; histograms none.
    pub(crate) fn increment_metric(&self, id: u32, offset: i64) -> i32 {
        self.with_metric(id, |m| match m.kind {
            MetricKind::Counter if offset > 0 => {
                m.value = m.value.saturating_add(offset);
                status::OK
            }
            MetricKind::Gauge => {
                m.value = m.value.saturating_add(offset);
                status::OK
            }
            _ => status::BAD_ARGUMENT,
        })
        .unwrap_or_else(|s| s)
    }

    /// Envoy: a counter adds the value, a gauge is set to it, a histogram records it.
    pub(crate) fn record_metric(&self, id: u32, value: u64) -> i32 {
        self.with_metric(id, |m| {
            match m.kind {
                MetricKind::Counter => m.value = m.value.saturating_add(value as i64),
                MetricKind::Gauge => m.value = value as i64,
                MetricKind::Histogram => {
                    m.samples.push(value);
                    m.value = m.samples.len() as i64;
                }
            }
            status::OK
        })
        .unwrap_or_else(|s| s)
    }

    /// Envoy: histograms cannot be read back (`BadArgument`).
    pub(crate) fn get_metric(&self, id: u32) -> Result<u64, i32> {
        self.with_metric(id, |m| match m.kind {
            MetricKind::Histogram => Err(status::BAD_ARGUMENT),
            _ => Ok(m.value as u64),
        })?
    }

    pub(crate) fn metrics_snapshot(&self) -> BTreeMap<String, (MetricKind, i64)> {
        lock(&self.metrics)
            .iter()
            .map(|m| (m.name.clone(), (m.kind, m.value)))
            .collect()
    }

    pub(crate) fn histogram_samples(&self, name: &str) -> Vec<u64> {
        lock(&self.metrics)
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.samples.clone())
            .unwrap_or_default()
    }

    // ---- shared queues ----

    pub(crate) fn register_queue(&self, vm_id: &str, name: &str) -> u32 {
        let mut q = lock(&self.queues);
        let key = (vm_id.to_string(), name.to_string());
        if let Some(id) = q.by_name.get(&key) {
            return *id;
        }
        let id = q.by_name.len() as u32 + 1;
        q.by_name.insert(key, id);
        q.items.insert(id, VecDeque::new());
        id
    }

    pub(crate) fn resolve_queue(&self, vm_id: &str, name: &str) -> Option<u32> {
        lock(&self.queues)
            .by_name
            .get(&(vm_id.to_string(), name.to_string()))
            .copied()
    }

    pub(crate) fn enqueue(&self, id: u32, data: Vec<u8>) -> i32 {
        match lock(&self.queues).items.get_mut(&id) {
            Some(q) => {
                q.push_back(data);
                status::OK
            }
            None => status::NOT_FOUND,
        }
    }

    pub(crate) fn dequeue(&self, id: u32) -> Result<Vec<u8>, i32> {
        match lock(&self.queues).items.get_mut(&id) {
            Some(q) => q.pop_front().ok_or(status::EMPTY),
            None => Err(status::NOT_FOUND),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_rules() {
        let s = Shared::new();
        assert!(s.get_data("k").is_none());
        assert_eq!(
            s.set_data("k", b"1", 77),
            status::OK,
            "missing key ignores cas"
        );
        let (_, c1) = s.get_data("k").unwrap();
        assert_eq!(s.set_data("k", b"2", c1 + 1), status::CAS_MISMATCH);
        assert_eq!(s.set_data("k", b"2", c1), status::OK);
        let (v, c2) = s.get_data("k").unwrap();
        assert_eq!(v, b"2");
        assert!(c2 > c1);
        assert_eq!(s.set_data("k", b"3", c1), status::CAS_MISMATCH);
        assert_eq!(s.set_data("k", b"3", 0), status::OK);
    }

    #[test]
    fn metric_rules() {
        let s = Shared::new();
        let c = s.define_metric(0, "c").unwrap();
        assert_eq!(s.define_metric(0, "c").unwrap(), c);
        assert_eq!(s.define_metric(1, "c"), Err(status::BAD_ARGUMENT));
        assert_eq!(s.increment_metric(c, 0), status::BAD_ARGUMENT);
        assert_eq!(s.increment_metric(c, 2), status::OK);
        assert_eq!(s.get_metric(c), Ok(2));
        let h = s.define_metric(2, "h").unwrap();
        assert_eq!(s.record_metric(h, 5), status::OK);
        assert_eq!(s.get_metric(h), Err(status::BAD_ARGUMENT));
        assert_eq!(s.histogram_samples("h"), vec![5]);
        assert_eq!(s.increment_metric(99, 1), status::NOT_FOUND);
    }
}
