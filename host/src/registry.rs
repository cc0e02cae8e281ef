//! The policies a node serves, by name: the active version of each, and any canary with the
//! share of units it serves. Swapping a policy replaces its entry atomically; a request holds the
//! versions it resolved until it ends, so in-flight decisions finish on the version they began
//! with.

mod cost;

pub use cost::{CostStats, CostSummary, Quantiles};

use crate::engine::LoadedPolicy;
use crate::metrics::{Metrics, VersionMetrics};
use crate::scheduler::{Lane, Share};
use arc_swap::{ArcSwap, ArcSwapOption};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One servable policy version.
#[derive(Debug)]
pub struct PolicyVersion {
    pub loaded: LoadedPolicy,
    /// `sha256:<hex>` over the component bytes, a zero byte and the config bytes.
    pub digest: String,
    /// When this node made it servable (for publish→first-decision latency).
    pub installed_at: Instant,
    /// Nanoseconds from `installed_at` to the first decision served; 0 until then.
    first_served_nanos: AtomicU64,
    /// Decisions run and failed on this version on this node (for automatic rollback).
    pub health: Health,
    /// What its decisions cost here (for the admin API and the latency and cost guardrails).
    pub cost: CostStats,
    /// Its place in the decision scheduler, with its share.
    pub lane: Arc<Lane>,
    /// What the version it replaced cost, when it replaced one that had served: the guardrails
    /// judge a regression against it.
    baseline: std::sync::OnceLock<CostSummary>,
    /// Its metric handles while the registry serves it (none before and after).
    metric_handles: ArcSwapOption<VersionMetrics>,
}

/// Decision counts of one version; failures are traps, timeouts, limits and invalid output.
#[derive(Debug, Default)]
pub struct Health {
    pub decisions: AtomicU64,
    pub failures: AtomicU64,
}

impl PolicyVersion {
    pub fn new(loaded: LoadedPolicy, digest: String, share: Share) -> PolicyVersion {
        PolicyVersion {
            loaded,
            digest,
            installed_at: Instant::now(),
            first_served_nanos: AtomicU64::new(0),
            health: Health::default(),
            cost: CostStats::default(),
            lane: Arc::new(Lane::new(share)),
            baseline: std::sync::OnceLock::new(),
            metric_handles: ArcSwapOption::empty(),
        }
    }

    /// Updates its metrics, while it serves (a decision that began before it stopped serving
    /// updates nothing).
    pub fn metrics(&self, update: impl FnOnce(&VersionMetrics)) {
        if let Some(metrics) = &*self.metric_handles.load() {
            update(metrics);
        }
    }

    /// Records what the version it replaces cost (once; later calls are ignored).
    pub fn set_baseline(&self, baseline: CostSummary) {
        let _ = self.baseline.set(baseline);
    }

    /// What the version it replaced cost, if known.
    pub fn baseline(&self) -> Option<&CostSummary> {
        self.baseline.get()
    }

    /// Counts a decision; returns the time from install to serving for the first one.
    pub fn record_decision(&self, failed: bool) -> Option<Duration> {
        let before = self.health.decisions.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.health.failures.fetch_add(1, Ordering::Relaxed);
        }
        if before > 0 {
            return None;
        }
        let elapsed = self.installed_at.elapsed();
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.first_served_nanos
            .compare_exchange(0, nanos, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| elapsed)
    }

    /// Time from install to the first decision served, once there was one.
    pub fn first_served_after(&self) -> Option<Duration> {
        match self.first_served_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// The digest's first 12 hex digits: a short, bounded label for metrics.
    pub fn short_digest(&self) -> &str {
        self.digest.get(7..19).unwrap_or_default()
    }
}

/// Digest of a policy version: what decision logs and responses name it by.
pub fn digest(component: &[u8], config: Option<&str>) -> String {
    crate::digest::sha256_of([component, &[0u8], config.unwrap_or_default().as_bytes()])
}

/// A version served to a share of units beside the active one.
#[derive(Debug, Clone)]
pub struct Canary {
    pub version: Arc<PolicyVersion>,
    /// Share of units, 0 to 100 (exclusive).
    pub percent: f64,
}

/// What a policy name serves.
#[derive(Debug, Clone)]
pub struct Entry {
    pub active: Arc<PolicyVersion>,
    pub canary: Option<Canary>,
}

impl Entry {
    /// The versions it serves: the active one and any canary.
    pub fn versions(&self) -> impl Iterator<Item = &Arc<PolicyVersion>> {
        std::iter::once(&self.active).chain(self.canary.as_ref().map(|c| &c.version))
    }

    /// The version a unit gets: the canary when the unit's bucket (stable per policy name, so
    /// raising the share keeps the units already in it) falls inside the canary's share.
    /// Requests without a unit id get the active version.
    pub fn resolve(&self, name: &str, unit: Option<&str>) -> &Arc<PolicyVersion> {
        match (&self.canary, unit) {
            (Some(canary), Some(unit)) => {
                let bucket = tailor_bucketing::bucket(&canary_salt(name), unit);
                let basis_points = (canary.percent * 100.0).round() as u32;
                if tailor_bucketing::in_rollout(bucket, basis_points) {
                    &canary.version
                } else {
                    &self.active
                }
            }
            _ => &self.active,
        }
    }
}

/// The bucketing salt of a policy's canaries.
pub fn canary_salt(name: &str) -> String {
    format!("tailor-canary:{name}")
}

/// The registry at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot(Arc<HashMap<String, Arc<Entry>>>);

impl Snapshot {
    /// The version of a policy a unit gets.
    pub fn resolve(&self, name: &str, unit: Option<&str>) -> Option<Arc<PolicyVersion>> {
        self.0
            .get(name)
            .map(|entry| entry.resolve(name, unit).clone())
    }
}

/// Servable policies by name. Reads are lock-free; changes replace the whole map. Only the
/// versions it serves have metric series: a version gets them when it starts serving and loses
/// them when it stops.
#[derive(Debug, Default)]
pub struct Registry {
    entries: ArcSwap<HashMap<String, Arc<Entry>>>,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry whose versions' series are in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Registry {
        Registry {
            entries: ArcSwap::default(),
            metrics,
        }
    }

    /// What a policy name serves now.
    pub fn entry(&self, name: &str) -> Option<Arc<Entry>> {
        self.entries.load().get(name).cloned()
    }

    /// The version of a policy a unit gets now.
    pub fn resolve(&self, name: &str, unit: Option<&str>) -> Option<Arc<PolicyVersion>> {
        self.snapshot().resolve(name, unit)
    }

    /// Everything served at this instant; later changes do not affect it.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.entries.load_full())
    }

    /// Replaces what a name serves (callers serialize changes; see `lifecycle`).
    pub fn install(&self, name: &str, entry: Entry) {
        for version in entry.versions() {
            if version.metric_handles.load().is_none() {
                let handles = self.metrics.serve_version(name, version.short_digest());
                version.metric_handles.store(Some(Arc::new(handles)));
            }
        }
        let mut next = HashMap::clone(&self.entries.load());
        let previous = next.insert(name.to_owned(), Arc::new(entry.clone()));
        self.entries.store(Arc::new(next));
        if let Some(previous) = previous {
            self.retire(name, &previous, Some(&entry));
        }
    }

    /// Stops serving a name.
    pub fn remove(&self, name: &str) {
        let mut next = HashMap::clone(&self.entries.load());
        let previous = next.remove(name);
        self.entries.store(Arc::new(next));
        if let Some(previous) = previous {
            self.retire(name, &previous, None);
        }
    }

    /// Drops the metric series of the versions `previous` served that `next` does not.
    fn retire(&self, name: &str, previous: &Entry, next: Option<&Entry>) {
        for old in previous.versions() {
            let serving = next.is_some_and(|next| {
                next.versions()
                    .any(|new| Arc::ptr_eq(new, old) || new.digest == old.digest)
            });
            if !serving {
                old.metric_handles.store(None);
                self.metrics.retire_version(name, old.short_digest());
            }
        }
    }

    /// Every served name with its entry, sorted by name.
    pub fn list(&self) -> Vec<(String, Arc<Entry>)> {
        let mut out: Vec<(String, Arc<Entry>)> = self
            .entries
            .load()
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn len(&self) -> usize {
        self.entries.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.load().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_covers_component_and_config() {
        let a = digest(b"wasm", Some("{}"));
        assert!(a.starts_with("sha256:") && a.len() == 71);
        assert_ne!(a, digest(b"wasm", Some("{ }")));
        assert_ne!(a, digest(b"wasm2", Some("{}")));
        assert_eq!(digest(b"wasm", None), digest(b"wasm", Some("")));
    }
}
