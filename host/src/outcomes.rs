//! Closing the loop: exposures (what each decision showed to whom), outcomes (later events
//! attributed to them), experiment results, and the statistics policies learn from.
//!
//! The request path only appends: a decision's exposures and an event batch's new events go to
//! a queue, and one outcome thread counts them, attributes events, and writes both to the
//! outcome log ([`log`]) in synced batches. Policies read the counts ([`tally`]) through the
//! contract's `outcomes` interface; `/admin/v1/experiments` analyses them ([`stats`]).

pub mod definition;
pub mod log;
pub mod record;
pub mod stats;
pub mod tally;

use crate::profiles::events::CustomerEvent;
use crate::registry::Registry;
use definition::Definitions;
use record::{Exposure, Record};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tally::{Counts, Tally};

/// Exposures and events waiting for the outcome thread, at most; more are dropped and counted.
const QUEUE_LIMIT: usize = 1 << 20;
/// How long the outcome thread gathers work before writing a batch.
const BATCH_WAIT: Duration = Duration::from_millis(20);

/// Work for the outcome thread.
#[derive(Debug)]
enum Job {
    Exposures(Vec<Exposure>),
    Events(Vec<CustomerEvent>),
}

#[derive(Debug, Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Exposures and events in `jobs`.
    len: usize,
    stopping: bool,
}

/// Counters of what the outcome thread did, for `/metrics` and the node's status.
#[derive(Debug, Default)]
pub struct OutcomeCounters {
    pub exposures: AtomicU64,
    pub conversions: AtomicU64,
    /// Exposures and events dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Batches the log could not write (their counts stay in memory).
    pub write_errors: AtomicU64,
}

/// The node's outcome store.
#[derive(Debug)]
pub struct Outcomes {
    tally: Mutex<Tally>,
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
    pub counters: OutcomeCounters,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outcomes {
    /// Opens the outcome log in `dir` and replays it (records past `retention_ms` are deleted),
    /// and starts the outcome thread.
    pub fn start(
        dir: &Path,
        retention_ms: i64,
        registry: Arc<Registry>,
    ) -> Result<Arc<Outcomes>, log::LogError> {
        let mut tally = Tally::default();
        let mut replayed = 0u64;
        let log = log::OutcomeLog::open(dir, retention_ms, crate::clock::now_ms(), |record| {
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
            counters: OutcomeCounters::default(),
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
            self.counters
                .dropped
                .fetch_add(len as u64, Ordering::Relaxed);
            return;
        }
        queue.len += len;
        queue.jobs.push(job);
        self.queued.fetch_add(1, Ordering::Release);
        drop(queue);
        self.wake.notify_one();
    }

    /// Records a decision's exposures (the request path: an append to the queue).
    pub fn expose(&self, exposures: Vec<Exposure>) {
        if !exposures.is_empty() {
            let len = exposures.len();
            self.enqueue(Job::Exposures(exposures), len);
        }
    }

    /// Attributes newly accepted events (never re-sent ones) to the exposures they follow.
    pub fn observe(&self, events: Vec<CustomerEvent>) {
        if !events.is_empty() {
            let len = events.len();
            self.enqueue(Job::Events(events), len);
        }
    }

    /// Waits (at most `timeout`) until everything queued before the call is counted, so an
    /// operator reading results sees the decisions and events the node has acknowledged.
    pub fn settle(&self, timeout: Duration) {
        let target = self.queued.load(Ordering::Acquire);
        let applied = lock(&self.applied);
        let _ = self
            .applied_changed
            .wait_timeout_while(applied, timeout, |applied| *applied < target);
    }

    /// Stops the outcome thread after it has written what is queued.
    pub fn stop(&self) {
        lock(&self.queue).stopping = true;
        self.wake.notify_one();
        self.settle(Duration::from_secs(5));
    }

    fn definitions(&self, policy: &str) -> Arc<Definitions> {
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
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                let stopping = queue.stopping;
                queue.len = 0;
                (std::mem::take(&mut queue.jobs), stopping)
            };
            let count = jobs.len() as u64;
            let mut records = Vec::new();
            {
                let mut tally = lock(&self.tally);
                for job in jobs {
                    match job {
                        Job::Exposures(exposures) => {
                            self.counters
                                .exposures
                                .fetch_add(exposures.len() as u64, Ordering::Relaxed);
                            for exposure in exposures {
                                let record = Record::Exposure(exposure);
                                tally.apply(&record);
                                records.push(record);
                            }
                        }
                        Job::Events(events) => {
                            for event in &events {
                                let earned =
                                    tally.attribute(event, &mut |policy| self.definitions(policy));
                                for conversion in earned {
                                    self.counters.conversions.fetch_add(1, Ordering::Relaxed);
                                    let record = Record::Conversion(conversion);
                                    tally.apply(&record);
                                    records.push(record);
                                }
                            }
                        }
                    }
                }
            }
            if let Err(error) = self.log.append(&records, crate::clock::now_ms()) {
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %crate::report::chain(&error), records = records.len(), "cannot write outcome records; their counts are kept in memory only");
            }
            *lock(&self.applied) += count;
            self.applied_changed.notify_all();
            if stopping && lock(&self.queue).jobs.is_empty() {
                return;
            }
            // Gather a batch: one write and one sync for everything that arrives meanwhile.
            std::thread::sleep(BATCH_WAIT);
        }
    }

    /// The arms of a policy's experiment and their counts.
    pub fn arms(&self, policy: &str, key: &str) -> Vec<(String, Counts)> {
        lock(&self.tally).arms(policy, key)
    }

    /// The arm of a policy's experiment a unit was last exposed to, and when.
    pub fn last_exposure(&self, policy: &str, key: &str, unit: &str) -> Option<(String, i64)> {
        lock(&self.tally).last_exposure(policy, key, unit)
    }

    /// A policy's counts of these items.
    pub fn items(&self, policy: &str, items: &[String]) -> Vec<Counts> {
        lock(&self.tally).items(policy, items)
    }

    /// Every experiment with exposures, as (policy, key), sorted.
    pub fn experiments(&self) -> Vec<(String, String)> {
        lock(&self.tally).experiments()
    }

    /// A policy's outcome definitions, as its serving version's config gives them.
    pub fn definitions_of(&self, policy: &str) -> Arc<Definitions> {
        self.definitions(policy)
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
