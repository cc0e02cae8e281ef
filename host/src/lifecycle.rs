//! The policy lifecycle: a durable, content-addressed store of policy versions, signatures,
//! publishing with validation and an atomic swap, rollback, canaries and automatic rollback.
//!
//! Every change goes through [`Lifecycle`], one at a time: the new state is committed to the
//! store first and only then swapped into the [`Registry`], so what a node serves is always what
//! its store says, and a restart (even after a kill -9 mid-change) serves the last committed set.
//!
//! Readers never wait: the committed state is an [`ArcSwap`] snapshot. Changes serialize on a
//! change lock held only from re-reading the current state to the swap; the slow part of a
//! publish or rollback (signature, compilation, contract checks, fixtures) runs before it, on a
//! snapshot, and the change re-checks under the lock that what it built on still holds.

pub mod fixtures;
mod guard;
mod health;
mod load;
mod publish;
pub mod rollback;
pub mod signing;
mod state;
mod store;
pub mod watch_dir;

pub use guard::{Guard, Guardrails};
pub use health::{AutoRollback, monitor};
pub use publish::{MAX_NOTE_CHARS, PublishError, PublishOutcome, PublishRequest};
pub use state::{Action, CanaryRecord, HistoryEntry, PolicyRecord, StoreState, VersionRecord};
pub use store::{Manifest, NewVersion, PolicyStore, StoreError};

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::registry::Registry;
use arc_swap::ArcSwap;
use signing::TrustedKeys;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// How a node manages its policies.
#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    /// Directory of the policy store.
    pub store_dir: PathBuf,
    /// Public keys whose signatures the node accepts.
    pub trusted_keys: TrustedKeys,
    /// Refuse unsigned policies (production); the embedded dev defaults do not.
    pub require_signatures: bool,
    /// Earlier versions kept per policy for rollback.
    pub keep_versions: usize,
    /// When to roll a new or canary version back on its own.
    pub auto_rollback: AutoRollback,
    /// Publish the bundled example policies into an empty store at start (not when signatures
    /// are required: they are unsigned).
    pub seed_bundled: bool,
    /// A policy's share of the decision threads where its publish sets none.
    pub default_share: crate::scheduler::Share,
    /// Decision threads (what a share's CPU cap is checked against).
    pub decision_threads: u32,
    /// Signs console config changes (`PublishRequest::node_signs`); one of the trusted keys.
    pub config_signing_key: Option<Arc<signing::SecretKey>>,
}

/// Publishes, swaps and rolls back policy versions; owns the policy store.
#[derive(Debug)]
pub struct Lifecycle {
    engine: Engine,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    store: PolicyStore,
    config: LifecycleConfig,
    /// The committed state, as last swapped in: readers load it and never wait.
    state: ArcSwap<StoreState>,
    /// Held by a change from re-reading the current state to the swap (never across its slow
    /// part), so changes apply one at a time, in commit order.
    changes: Mutex<()>,
    /// Refused publishes per name (not part of the committed state), most recent last. Held
    /// only to update or copy the list.
    refusals: Mutex<HashMap<String, VecDeque<HistoryEntry>>>,
    /// Called when a publish has done its slow part, before it takes the change lock.
    #[cfg(test)]
    prepared_hook: tests::Hook,
}

/// Refusals remembered per name.
const REFUSALS_KEPT: usize = 20;

/// Times a change prepares on a snapshot (and finds, under the lock, that another change
/// replaced what it built on) before it prepares under the change lock, which always ends.
const UNLOCKED_ATTEMPTS: usize = 3;

/// What the unlocked part of a change found.
enum Step<P, T> {
    /// Made ready: to apply under the change lock.
    Ready(P),
    /// Nothing to apply: the change ends with this.
    Done(T),
    /// Failed on what another change since the snapshot replaced (and dropped): prepare again
    /// (the error stands when the change lock was held, as nothing changed then).
    Again(PublishError),
}

/// Proof that the change lock is held.
struct Changing<'a>(#[expect(dead_code, reason = "held, never read")] MutexGuard<'a, ()>);

/// Why the policies could not be restored at start.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("seeding the bundled policy `{name}`: {source}")]
    Seed {
        name: String,
        #[source]
        source: PublishError,
    },
}

impl Lifecycle {
    /// A policy's share: what its publishes set, over the node's defaults.
    fn share(&self, set: Option<&crate::scheduler::ShareOverride>) -> crate::scheduler::Share {
        let defaults = self.config.default_share;
        set.map_or(defaults, |set| set.apply(defaults))
    }

    /// Opens the store and serves its last committed set (offline, from disk only), seeding the
    /// bundled examples into an empty store when configured to.
    pub fn start(
        engine: Engine,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        config: LifecycleConfig,
    ) -> Result<Lifecycle, RestoreError> {
        let store = PolicyStore::open(&config.store_dir)?;
        store::remove_leftovers(store.root());
        let state = store.load_state()?;
        let lifecycle = Lifecycle {
            engine,
            registry,
            metrics,
            store,
            config,
            state: ArcSwap::from_pointee(state),
            changes: Mutex::default(),
            refusals: Mutex::default(),
            #[cfg(test)]
            prepared_hook: tests::Hook::default(),
        };
        lifecycle.restore()?;
        let empty = lifecycle.state().policies.is_empty();
        if empty && lifecycle.config.seed_bundled && lifecycle.config.require_signatures {
            // The examples are unsigned: a node that requires signatures serves only what was
            // published to it with one.
            tracing::info!("signatures are required: the bundled example policies are not seeded");
        } else if empty && lifecycle.config.seed_bundled {
            for policy in crate::bundled::ALL {
                let request = PublishRequest {
                    component: Some(policy.component.to_vec()),
                    config: policy.config.map(str::to_owned),
                    ..PublishRequest::default()
                };
                lifecycle
                    .publish(policy.name, request)
                    .map_err(|source| RestoreError::Seed {
                        name: policy.name.into(),
                        source,
                    })?;
            }
        }
        Ok(lifecycle)
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn config(&self) -> &LifecycleConfig {
        &self.config
    }

    /// The committed state now (a snapshot: later changes do not affect it). Never waits for a
    /// change in progress.
    pub fn state(&self) -> Arc<StoreState> {
        self.state.load_full()
    }

    /// A copy of one policy's committed record. Never waits for a change in progress.
    pub fn record(&self, name: &str) -> Option<PolicyRecord> {
        self.state.load().policies.get(name).cloned()
    }

    /// Refused publishes of a name, most recent last.
    pub fn refusals(&self, name: &str) -> Vec<HistoryEntry> {
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn lock_changes(&self) -> Changing<'_> {
        // The lock guards no data: a change that panicked left the state as committed.
        Changing(self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Commits `next` (with the version it adds, if any) durably, then makes it the state
    /// readers see. Under the change lock: `next` was computed from the current state.
    fn commit(
        &self,
        _changing: &Changing<'_>,
        mut next: StoreState,
        added: Option<NewVersion<'_>>,
    ) -> Result<Arc<StoreState>, StoreError> {
        next.generation = self.state.load().generation + 1;
        self.store.commit(&next, added)?;
        let next = Arc::new(next);
        self.state.store(next.clone());
        Ok(next)
    }

    /// Runs a change whose slow part needs no lock. `prepare` works from a snapshot and hands
    /// over what it made ready (or ends the change, or asks to start again); `apply` runs under
    /// the change lock against the current state and returns `None` when what `prepare` built
    /// on changed meanwhile, and then both run again (after [`UNLOCKED_ATTEMPTS`], `prepare`
    /// too runs under the lock, where nothing changes under it).
    fn change<P, T>(
        &self,
        mut prepare: impl FnMut() -> Result<Step<P, T>, PublishError>,
        mut apply: impl FnMut(&Changing<'_>, P) -> Result<Option<T>, PublishError>,
    ) -> Result<T, PublishError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let held = (attempt > UNLOCKED_ATTEMPTS).then(|| self.lock_changes());
            let prepared = match prepare()? {
                Step::Ready(prepared) => prepared,
                Step::Done(done) => return Ok(done),
                Step::Again(error) if held.is_some() => return Err(error),
                Step::Again(_) => continue,
            };
            let changing = held.unwrap_or_else(|| self.lock_changes());
            if let Some(done) = apply(&changing, prepared)? {
                return Ok(done);
            }
            tracing::debug!(
                attempt,
                "another change replaced what this one was prepared on; preparing again"
            );
        }
    }

    /// Whether the store's committed state, which is never behind a snapshot (a change commits
    /// before it swaps), no longer satisfies `still`: a change since the snapshot replaced, and
    /// may have dropped from the store, what a prepare read. Then the prepare starts again
    /// rather than fail; with the change lock held, nothing changed and the failure stands.
    fn replaced_since(&self, still: impl FnOnce(&StoreState) -> bool) -> bool {
        self.store.load_state().is_ok_and(|state| !still(&state))
    }

    fn refused(&self, name: &str, digest: &str, error: &PublishError, by: Option<String>) {
        let detail = crate::report::chain(error);
        tracing::warn!(policy = name, digest, error = %detail, "publish refused");
        // Labels stay bounded: a refused publish of a name no policy has counts under one label.
        let known = self.registry.entry(name).is_some();
        let label = if known { name } else { "(new)" };
        self.metrics.policy_published(label, "refused");
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if !known && publish::validate_name(name).is_err() {
            return;
        }
        if refusals.len() >= 1024 && !refusals.contains_key(name) {
            return;
        }
        let entries = refusals.entry(name.to_owned()).or_default();
        entries.push_back(HistoryEntry {
            at_ms: crate::clock::now_ms(),
            action: Action::Refused,
            digest: digest.to_owned(),
            detail: Some(detail),
            by,
        });
        if entries.len() > REFUSALS_KEPT {
            entries.pop_front();
        }
    }

    /// The delivery gauges of one policy from its history: change-failure ratio.
    fn record_delivery(&self, name: &str, record: &PolicyRecord) {
        if let Some(ratio) = record.change_failure_rate() {
            self.metrics.change_failure_ratio(name, ratio);
        }
    }
}

#[cfg(test)]
mod tests;
