//! Closing the loop: exposures (what each decision showed to whom), outcomes (later events
//! attributed to them), experiment results, and the statistics policies learn from.
//!
//! The request path only appends: a decision's exposures and an event batch's new events go to
//! a queue, and one outcome thread counts them, attributes events, and writes both to the
//! outcome log ([`log`]) in synced batches. Policies read the counts ([`tally`]) through the
//! contract's `outcomes` interface; `/admin/v1/experiments` analyses them ([`stats`]).
//!
//! With a fleet broker, each node publishes its own records (`crate::fleet`) and applies every
//! other node's to a fleet-wide tally: the unit maps are keyed by unit id, so a unit seen on
//! two nodes is one unit (exact, at the cost of every node holding every unit of the fleet's
//! experiments). Attribution stays local: an event is attributed only where its exposure was
//! recorded (every node receives every event), and the conversion travels as a record.
//!
//! Erasing a unit goes through the outcome thread too ([`Outcomes::erase`]).

pub mod definition;
mod erase;
pub mod log;
pub mod record;
pub mod stats;
pub mod tally;

use crate::metrics::Metrics;
use crate::privacy::DataKey;
use crate::profiles::events::CustomerEvent;
use crate::registry::Registry;
use definition::Definitions;
pub use erase::{EraseError, ErasedOutcomes, Forgotten};
use record::{PackedExposures, Record};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tally::{Counts, Tally};

/// Exposures and events waiting for the outcome thread, at most; more are dropped and counted.
const QUEUE_LIMIT: usize = 1 << 20;
/// How long the outcome thread gathers work before writing a batch.
const BATCH_WAIT: Duration = Duration::from_millis(50);

/// Work for the outcome thread, done in the order it was queued.
#[derive(Debug)]
enum Job {
    Count(Work),
    Erase(erase::Request),
}

/// What the outcome thread counts and writes.
#[derive(Debug)]
enum Work {
    Exposures(PackedExposures),
    Events(Vec<CustomerEvent>),
    /// Records other nodes published, each marked with its node.
    Remote(Vec<Record>),
}

/// Remote records remembered, to drop a re-delivered one.
const REMOTE_SEEN: usize = 1 << 20;

/// The counts: this node's (which attribution reads), and with a broker the fleet's and each
/// other node's.
#[derive(Debug)]
struct Counted {
    local: Tally,
    fleet: Option<Fleetwide>,
}

#[derive(Debug)]
struct Fleetwide {
    node: String,
    all: Tally,
    nodes: rustc_hash::FxHashMap<String, Tally>,
    seen: lru::LruCache<String, ()>,
}

impl Counted {
    fn new(node: Option<String>) -> Counted {
        Counted {
            local: Tally::default(),
            fleet: node.map(|node| Fleetwide {
                node,
                all: Tally::counting_only(),
                nodes: Default::default(),
                seen: lru::LruCache::new(
                    std::num::NonZeroUsize::new(REMOTE_SEEN).unwrap_or(std::num::NonZeroUsize::MIN),
                ),
            }),
        }
    }

    /// Counts a record: this node's own, or (marked with its node) another's. Returns false
    /// for another node's record counted already (a re-delivery).
    fn apply(&mut self, record: &Record) -> bool {
        match (record.node(), &mut self.fleet) {
            (None, fleet) => {
                self.local.apply(record);
                if let Some(fleet) = fleet {
                    fleet.all.apply(record);
                }
                true
            }
            (Some(node), Some(fleet)) => {
                if fleet.seen.put(remote_key(node, record), ()).is_some() {
                    return false;
                }
                fleet.all.apply(record);
                fleet
                    .nodes
                    .entry(node.to_owned())
                    .or_default()
                    .apply(record);
                true
            }
            // Records from a fleet this node no longer belongs to.
            (Some(_), None) => false,
        }
    }

    /// Counts one of this node's own exposures.
    fn expose(&mut self, exposure: &record::ExposureRef<'_>) {
        if let Some(fleet) = &mut self.fleet {
            fleet.all.expose(exposure);
        }
        self.local.expose(exposure);
    }

    /// Counts one of this node's own conversions.
    fn convert(&mut self, record: &Record) {
        if let Some(fleet) = &mut self.fleet {
            fleet.all.apply(record);
        }
        self.local.apply(record);
    }

    /// What policies and results read: the fleet's counts with a broker, else this node's.
    fn counting(&self) -> &Tally {
        self.fleet.as_ref().map_or(&self.local, |f| &f.all)
    }
}

/// A record's identity across the fleet.
fn remote_key(node: &str, record: &Record) -> String {
    match record {
        Record::Exposure(e) => format!("{node}\0x\0{}\0{}", e.decision_id, e.slot),
        Record::Conversion(c) => format!(
            "{node}\0c\0{}\0{}\0{}\0{}",
            c.event_id,
            c.policy,
            c.experiment.as_deref().unwrap_or_default(),
            c.item.as_deref().unwrap_or_default()
        ),
    }
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Exposures and events in `jobs`.
    len: usize,
    stopping: bool,
    /// The outcome thread is waiting for work (only then is it woken: a wake-up is a system
    /// call, and the request path enqueues often).
    idle: bool,
}

/// The node's outcome store.
#[derive(Debug)]
pub struct Outcomes {
    tally: Mutex<Counted>,
    log: log::OutcomeLog,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Jobs queued and jobs applied so far: a reader waits until what was queued before it is
    /// counted.
    queued: AtomicU64,
    applied: Mutex<u64>,
    applied_changed: Condvar,
    registry: Arc<Registry>,
    /// Parsed outcome definitions by policy version digest.
    definitions: Mutex<rustc_hash::FxHashMap<String, Arc<Definitions>>>,
    metrics: Arc<Metrics>,
    /// Which units are erased (told by [`Outcomes::set_forgotten`], and the ones erased here).
    forgotten: erase::Forgetting,
    /// Records counted since the last erasure that the log could not take: a rebuild of the
    /// counts from the log loses them.
    unwritten: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outcomes {
    /// Opens the outcome log in `dir` and replays it (records past `retention_ms` are deleted),
    /// and starts the outcome thread. With `data_key` the log is encrypted.
    pub fn start(
        dir: &Path,
        retention_ms: i64,
        data_key: Option<Arc<DataKey>>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        fleet_node: Option<String>,
    ) -> Result<Arc<Outcomes>, log::LogError> {
        let mut tally = Counted::new(fleet_node);
        let mut replayed = 0u64;
        let now_ms = crate::clock::now_ms();
        let log = log::OutcomeLog::open(dir, retention_ms, now_ms, data_key, |record| {
            tally.apply(&record);
            replayed += 1;
        })?;
        if replayed > 0 {
            tracing::info!(records = replayed, "outcome log replayed");
        }
        let outcomes = Arc::new(Outcomes {
            tally: Mutex::new(tally),
            log,
            queue: Mutex::default(),
            wake: Condvar::new(),
            queued: AtomicU64::new(0),
            applied: Mutex::new(0),
            applied_changed: Condvar::new(),
            registry,
            definitions: Mutex::default(),
            metrics,
            forgotten: erase::Forgetting::default(),
            unwritten: AtomicU64::new(0),
        });
        let worker = outcomes.clone();
        std::thread::Builder::new()
            .name("tailor-outcomes".into())
            .spawn(move || worker.run())
            .map_err(|source| log::LogError {
                path: dir.to_owned(),
                source,
            })?;
        Ok(outcomes)
    }

    fn enqueue(&self, job: Job, len: usize) {
        let mut queue = lock(&self.queue);
        if queue.stopping {
            return;
        }
        if queue.len + len > QUEUE_LIMIT {
            drop(queue);
            self.metrics.outcome_dropped.inc_by(len as u64);
            return;
        }
        queue.len += len;
        queue.jobs.push(job);
        self.queued.fetch_add(1, Ordering::Release);
        let idle = std::mem::take(&mut queue.idle);
        drop(queue);
        if idle {
            self.wake.notify_one();
        }
    }

    /// Records a decision's exposures (the request path: an append to the queue).
    pub fn expose(&self, exposures: PackedExposures) {
        if !exposures.is_empty() {
            let len = exposures.len();
            self.enqueue(Job::Count(Work::Exposures(exposures)), len);
        }
    }

    /// Attributes newly accepted events (never re-sent ones) to the exposures they follow.
    pub fn observe(&self, events: Vec<CustomerEvent>) {
        if !events.is_empty() {
            let len = events.len();
            self.enqueue(Job::Count(Work::Events(events)), len);
        }
    }

    /// Counts records another node published (each marked with its node) and keeps them in the
    /// log, so a restart counts them again without the broker.
    pub fn receive(&self, records: Vec<Record>) {
        if !records.is_empty() {
            let len = records.len();
            self.enqueue(Job::Count(Work::Remote(records)), len);
        }
    }

    /// Waits (at most `timeout`) until everything queued before the call is counted, so an
    /// operator reading results sees the decisions and events the node has acknowledged.
    /// Returns whether it was all counted (and written) in time.
    pub fn settle(&self, timeout: Duration) -> bool {
        let target = self.queued.load(Ordering::Acquire);
        let applied = lock(&self.applied);
        let (applied, _) = self
            .applied_changed
            .wait_timeout_while(applied, timeout, |applied| *applied < target)
            .unwrap_or_else(PoisonError::into_inner);
        *applied >= target
    }

    /// Stops the outcome thread after it has written what is queued.
    pub fn stop(&self) {
        lock(&self.queue).stopping = true;
        self.wake.notify_one();
        let _ = self.settle(Duration::from_secs(5));
    }

    /// A policy's outcome definitions, as its serving version's config gives them (parsed
    /// once per version).
    pub fn definitions(&self, policy: &str) -> Arc<Definitions> {
        let Some(version) = self.registry.resolve(policy, None) else {
            return Arc::default();
        };
        let mut cache = lock(&self.definitions);
        if let Some(found) = cache.get(&version.digest) {
            return found.clone();
        }
        // A publish validated the definitions; one that fails here (a version from before they
        // were checked) gets the defaults.
        let parsed =
            Arc::new(definition::parse(version.loaded.config().json()).unwrap_or_default());
        if cache.len() > 256 {
            cache.clear();
        }
        cache.insert(version.digest.clone(), parsed.clone());
        parsed
    }

    fn run(&self) {
        loop {
            let (jobs, stopping) = {
                let mut queue = lock(&self.queue);
                while queue.jobs.is_empty() && !queue.stopping {
                    queue.idle = true;
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                queue.idle = false;
                let stopping = queue.stopping;
                queue.len = 0;
                (std::mem::take(&mut queue.jobs), stopping)
            };
            let count = jobs.len() as u64;
            // Each erasure after what was queued before it is counted and written.
            let mut work = Vec::with_capacity(jobs.len());
            for job in jobs {
                match job {
                    Job::Count(job) => work.push(job),
                    Job::Erase(request) => {
                        self.count(std::mem::take(&mut work));
                        self.erase_now(request);
                    }
                }
            }
            self.count(work);
            *lock(&self.applied) += count;
            self.applied_changed.notify_all();
            if stopping && lock(&self.queue).jobs.is_empty() {
                return;
            }
            // Gather a batch: one write and one sync for everything that arrives meanwhile.
            std::thread::sleep(BATCH_WAIT);
        }
    }

    /// Counts work and writes it to the log as one synced batch.
    fn count(&self, jobs: Vec<Work>) {
        if jobs.is_empty() {
            return;
        }
        // The batch as the log will hold it, encoded while it is counted (none when the
        // log cannot take it: the counts are kept in memory only).
        let now_ms = crate::clock::now_ms();
        let mut batch = match self.log.batch(now_ms) {
            Ok(batch) => Some(batch),
            Err(error) => {
                self.metrics.outcome_write_errors.inc();
                tracing::error!(error = %crate::report::chain(&error), "cannot open an outcome log segment; counts are kept in memory only");
                None
            }
        };
        let (mut exposed, mut converted, mut received, mut forgot) = (0usize, 0, 0, 0u64);
        let forgotten = self.forgotten.filter();
        {
            let mut tally = lock(&self.tally);
            for job in jobs {
                match job {
                    Work::Exposures(exposures) => {
                        exposed += exposures.len();
                        for exposure in exposures.iter() {
                            if let Some(batch) = &mut batch {
                                batch.push_exposure(&exposure);
                            }
                            tally.expose(&exposure);
                        }
                    }
                    Work::Remote(remote) => {
                        for record in remote {
                            // Another node's record of a unit erased since (possibly a
                            // re-delivery from the stream's start): neither counted nor kept.
                            if forgotten.is_forgotten(record.unit(), record.at_ms()) {
                                forgot += 1;
                                continue;
                            }
                            if tally.apply(&record) {
                                received += 1;
                                if let Some(batch) = &mut batch {
                                    batch.push(&record);
                                }
                            }
                        }
                    }
                    Work::Events(events) => {
                        for event in &events {
                            let earned = tally
                                .local
                                .attribute(event, &mut |policy| self.definitions(policy));
                            for conversion in earned {
                                converted += 1;
                                let record = Record::Conversion(conversion);
                                if let Some(batch) = &mut batch {
                                    batch.push(&record);
                                }
                                tally.convert(&record);
                            }
                        }
                    }
                }
            }
        }
        self.metrics.outcome_exposures.inc_by(exposed as u64);
        self.metrics.outcome_conversions.inc_by(converted as u64);
        if forgot > 0 {
            self.metrics.outcome_erased.inc_by(forgot);
        }
        let counted = (exposed + converted + received) as u64;
        match batch {
            Some(batch) => {
                let records = batch.len();
                if let Err(error) = batch.commit() {
                    self.metrics.outcome_write_errors.inc();
                    self.unwritten.fetch_add(counted, Ordering::Relaxed);
                    tracing::error!(error = %crate::report::chain(&error), records, "cannot write outcome records; their counts are kept in memory only");
                }
            }
            None => {
                self.unwritten.fetch_add(counted, Ordering::Relaxed);
            }
        }
    }

    /// The arms of a policy's experiment and their counts.
    /// (Fleet-wide with a broker, as everything below.)
    pub fn arms(&self, policy: &str, key: &str) -> Vec<(String, Counts)> {
        lock(&self.tally).counting().arms(policy, key)
    }

    /// Each node's own counts of a policy's experiment, this node first (only with a broker).
    pub fn arms_by_node(&self, policy: &str, key: &str) -> Vec<(String, Vec<(String, Counts)>)> {
        let counted = lock(&self.tally);
        let Some(fleet) = &counted.fleet else {
            return Vec::new();
        };
        let mut nodes = vec![(fleet.node.clone(), counted.local.arms(policy, key))];
        let mut others: Vec<_> = fleet
            .nodes
            .iter()
            .map(|(node, tally)| (node.clone(), tally.arms(policy, key)))
            .filter(|(_, arms)| !arms.is_empty())
            .collect();
        others.sort_by(|a, b| a.0.cmp(&b.0));
        nodes.extend(others);
        nodes
    }

    /// The arm of a policy's experiment a unit was last exposed to, and when.
    pub fn last_exposure(&self, policy: &str, key: &str, unit: &str) -> Option<(String, i64)> {
        lock(&self.tally)
            .counting()
            .last_exposure(policy, key, unit)
    }

    /// A policy's counts of these items.
    pub fn items(&self, policy: &str, items: &[String]) -> Vec<Counts> {
        lock(&self.tally).counting().items(policy, items)
    }

    /// Every experiment with exposures, as (policy, key), sorted.
    pub fn experiments(&self) -> Vec<(String, String)> {
        lock(&self.tally).counting().experiments()
    }

    /// The policies served, whose configs define the experiments.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The outcome log, for exposure streams.
    pub fn log(&self) -> &log::OutcomeLog {
        &self.log
    }
}
