//! The policy lifecycle: a durable, content-addressed store of policy versions, signatures,
//! publishing with validation and an atomic swap, rollback, canaries and automatic rollback.
//!
//! Every change goes through [`Lifecycle`], one at a time: the new state is committed to the
//! store first and only then swapped into the [`Registry`], so what a node serves is always what
//! its store says, and a restart (even after a kill -9 mid-change) serves the last committed set.

pub mod fixtures;
mod health;
mod load;
mod publish;
pub mod rollback;
pub mod signing;
mod state;
mod store;
pub mod watch_dir;

pub use health::{AutoRollback, monitor};
pub use publish::{PublishError, PublishOutcome, PublishRequest};
pub use state::{Action, CanaryRecord, HistoryEntry, PolicyRecord, StoreState, VersionRecord};
pub use store::{Manifest, NewVersion, PolicyStore, StoreError, sha256};

use crate::engine::Engine;
use crate::metrics::{self, Metrics};
use crate::registry::Registry;
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
}

/// Publishes, swaps and rolls back policy versions; owns the policy store.
#[derive(Debug)]
pub struct Lifecycle {
    engine: Engine,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    store: PolicyStore,
    config: LifecycleConfig,
    /// The committed state; held for the whole of a change so changes never interleave.
    state: Mutex<StoreState>,
    /// Refused publishes per name (not part of the committed state), most recent last.
    refusals: Mutex<HashMap<String, VecDeque<HistoryEntry>>>,
}

/// Refusals remembered per name.
const REFUSALS_KEPT: usize = 20;

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
            state: Mutex::new(state),
            refusals: Mutex::default(),
        };
        lifecycle.restore()?;
        let empty = lifecycle.lock_state().policies.is_empty();
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

    /// A copy of one policy's committed record.
    pub fn record(&self, name: &str) -> Option<PolicyRecord> {
        self.lock_state().policies.get(name).cloned()
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

    fn lock_state(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits `next` (with the version it adds, if any) durably, then makes it the in-memory
    /// state.
    fn commit(
        &self,
        state: &mut StoreState,
        mut next: StoreState,
        added: Option<NewVersion<'_>>,
    ) -> Result<(), StoreError> {
        next.generation = state.generation + 1;
        self.store.commit(&next, added)?;
        *state = next;
        Ok(())
    }

    fn refused(&self, name: &str, digest: &str, detail: String) {
        // Labels stay bounded: a refused publish of a name no policy has counts under one label.
        let known = self.registry.entry(name).is_some();
        let label = if known { name } else { "(new)" };
        self.metrics.inc(
            metrics::POLICY_PUBLISHES,
            &[("policy", label), ("outcome", "refused")],
        );
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        if !known && publish::validate_name(name).is_err() {
            return;
        }
        if refusals.len() >= 1024 && !refusals.contains_key(name) {
            return;
        }
        let entries = refusals.entry(name.to_owned()).or_default();
        entries.push_back(HistoryEntry {
            at_ms: crate::profiles::now_ms(),
            action: Action::Refused,
            digest: digest.to_owned(),
            detail: Some(detail),
        });
        if entries.len() > REFUSALS_KEPT {
            entries.pop_front();
        }
    }

    /// The delivery gauges of one policy from its history: change-failure ratio.
    fn record_delivery(&self, name: &str, record: &PolicyRecord) {
        let changes = record
            .history
            .iter()
            .filter(|h| matches!(h.action, Action::Activated | Action::CanaryPromoted))
            .count();
        let failures = record
            .history
            .iter()
            .filter(|h| {
                matches!(
                    h.action,
                    Action::RolledBack
                        | Action::AutoRolledBack
                        | Action::CanaryAborted
                        | Action::CanaryAutoAborted
                )
            })
            .count();
        if changes > 0 {
            self.metrics.set(
                metrics::POLICY_CHANGE_FAILURE_RATIO,
                &[("policy", name)],
                failures as f64 / changes as f64,
            );
        }
    }
}
