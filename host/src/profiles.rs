//! The profile snapshot at the edge: an embedded, durable store on disk with a sharded
//! in-memory LRU of decoded profiles in front.
//!
//! A snapshot exported by the customer data platform (NDJSON, optionally gzip, optionally sealed
//! with the data key, a header line with version and generation time) is loaded into a fresh
//! redb file beside the serving one and swapped in atomically; requests in flight keep the
//! generation they started with, so no request ever sees a half-loaded snapshot. Only what is
//! hot lives in memory.
//!
//! Customer events go to a durable log and overlay the snapshot: a lookup applies the
//! customer's events newer than the snapshot, so they take effect at once and survive reloads.

mod cache;
mod customer;
mod deltas;
pub mod events;
mod partition;
pub mod sample;
#[cfg(test)]
mod scratch;
mod snapshot;
mod store;

pub use customer::CustomerProfile;
pub use partition::{Partition, PartitionError};
pub(crate) use snapshot::parse as parse_snapshot_line;
pub use snapshot::{Share, SnapshotError, SnapshotHeader, split_snapshot};
pub use store::{ProfileStore, StoreError, StoredProfile};

use cache::ShardedLru;
use deltas::Deltas;

/// redb's page cache for the event log: appends and one customer's range at a time.
pub(crate) const EVENT_LOG_CACHE_BYTES: usize = 16 << 20;
use crate::privacy::{DataKey, Erasure, Pseudonyms};
use events::{Appended, CustomerEvent, EventLog, EventLogError, Origin};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tailor_types::Profile;

/// Where the profile a decision used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileSource {
    /// Decoded profile found in the in-memory cache.
    Cache,
    /// Read from the snapshot store on disk.
    SnapshotStore,
    /// Snapshot profile (or none) with the customer's newer events applied.
    EventOverlay,
    /// No customer id, or one the snapshot does not know: served as an anonymous visitor.
    Anonymous,
}

impl ProfileSource {
    /// The name used in responses and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSource::Cache => "cache",
            ProfileSource::SnapshotStore => "snapshot_store",
            ProfileSource::EventOverlay => "event_overlay",
            ProfileSource::Anonymous => "anonymous",
        }
    }
}

/// A profile found for a decision, with its provenance.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub profile: CustomerProfile,
    pub source: ProfileSource,
    pub generation: Arc<Generation>,
}

/// One loaded snapshot: its store and its cache, swapped together.
#[derive(Debug)]
pub struct Generation {
    pub store: ProfileStore,
    cache: ShardedLru,
}

/// The serving profile snapshot.
#[derive(Debug)]
pub struct Profiles {
    current: RwLock<Arc<Generation>>,
    events: EventLog,
    /// Bumped by every event append; a lookup caches only if no append happened meanwhile.
    event_epoch: AtomicU64,
    data_dir: PathBuf,
    cache_capacity: usize,
    /// Encrypts every store built from a snapshot, when set.
    data_key: Option<Arc<DataKey>>,
    /// The node's share of every snapshot it loads (all of it when `None`).
    partition: Option<Partition>,
    /// Woken by every local append, for the fleet forwarder.
    accepted: tokio::sync::Notify,
    /// Held while a reload builds its store.
    building: Mutex<()>,
    /// The deltas applied since the start-up snapshot, for a restart.
    deltas: Deltas,
}

impl Profiles {
    /// Loads a snapshot file into a new store under `data_dir` and serves it; with a data key
    /// the event log and every store are encrypted at rest, with a partition every store holds
    /// only the snapshot's profiles in it.
    pub fn load(
        data_dir: &Path,
        snapshot: &Path,
        cache_capacity: usize,
        pseudonyms: Arc<Pseudonyms>,
        data_key: Option<Arc<DataKey>>,
        partition: Option<Partition>,
    ) -> Result<Profiles, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        // The event log's lock makes this process the data directory's only user: profile
        // stores left by a process that was killed (they are rebuilt from the snapshot at
        // start) can go.
        let events = EventLog::open(data_dir, pseudonyms, data_key.as_deref())?;
        remove_stale_stores(data_dir);
        let (mut store, mut present) = build(
            data_dir,
            snapshot,
            &events,
            data_key.as_deref(),
            partition.as_ref(),
            None,
        )?;
        // The deltas applied on top of this snapshot before a restart, again; a chain that
        // does not start from it (a newer whole snapshot is here) or fails part way ends there.
        let deltas = Deltas::new(data_dir);
        for delta in deltas.files() {
            match build(
                data_dir,
                &delta,
                &events,
                data_key.as_deref(),
                partition.as_ref(),
                Some(&store),
            ) {
                Ok((next, next_present)) => {
                    tracing::info!(
                        delta = %delta.display(),
                        snapshot = %next.header.snapshot_version,
                        "kept snapshot delta applied again"
                    );
                    (store, present) = (next, next_present);
                }
                Err(error) => {
                    tracing::warn!(
                        delta = %delta.display(),
                        error = %crate::report::chain(&error),
                        "kept snapshot deltas from this one on no longer apply; forgotten"
                    );
                    deltas.forget_from(Some(&delta));
                    break;
                }
            }
        }
        let profiles = Profiles {
            current: RwLock::new(Arc::new(Generation {
                store,
                cache: ShardedLru::new(cache_capacity),
            })),
            events,
            event_epoch: AtomicU64::new(0),
            data_dir: data_dir.to_owned(),
            cache_capacity,
            data_key,
            partition,
            accepted: tokio::sync::Notify::new(),
            building: Mutex::new(()),
            deltas,
        };
        profiles.after_load(&profiles.current(), &present);
        Ok(profiles)
    }

    /// The generation serving now.
    pub fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Builds a new generation from a snapshot file aside and swaps it in: a whole snapshot,
    /// or a delta on top of the serving one. The old one keeps serving until the swap and is
    /// removed from disk when its last request finishes.
    pub fn reload(&self, snapshot: &Path) -> Result<Arc<Generation>, StoreError> {
        // One reload at a time: a delta is built on the generation it will replace.
        let _building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
        let base = self.current();
        let (store, present) = build(
            &self.data_dir,
            snapshot,
            &self.events,
            self.data_key.as_deref(),
            self.partition.as_ref(),
            Some(&base.store),
        )?;
        drop(base);
        // A delta is kept before it serves, so a restart serves it too; a whole snapshot makes
        // the kept ones history. (Restarts load the start-up snapshot: a whole snapshot loaded
        // here from another path serves until then.)
        if store.header.base_version.is_some() {
            self.deltas
                .keep(snapshot, self.data_key.as_deref())
                .map_err(|source| StoreError::Io {
                    path: snapshot.to_owned(),
                    source,
                })?;
        } else {
            self.deltas.forget_from(None);
        }
        let next = Arc::new(Generation {
            store,
            cache: ShardedLru::new(self.cache_capacity),
        });
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = next.clone();
        drop(guard);
        self.after_load(&next, &present);
        Ok(next)
    }

    /// Drops logged events the snapshot already contains (a failure only costs disk space), and
    /// ends the suppression of erased customers it no longer holds.
    fn after_load(&self, generation: &Generation, present: &HashSet<String>) {
        match self.events.lift_suppression(present) {
            Ok(0) => {}
            Ok(lifted) => tracing::info!(
                lifted,
                "erased customers the new snapshot no longer holds are no longer suppressed"
            ),
            Err(error) => {
                tracing::warn!(error = %crate::report::chain(&error), "could not record the end of suppressions")
            }
        }
        match self
            .events
            .prune_until(generation.store.header.generated_at_ms)
        {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(dropped, "events older than the snapshot pruned"),
            Err(error) => {
                tracing::warn!(error = %crate::report::chain(&error), "could not prune old events")
            }
        }
    }

    /// The profile of a customer — snapshot plus newer events — or an anonymous one (with the
    /// given consent) when there is no customer id or nothing is known about it.
    pub fn lookup(
        &self,
        customer_id: Option<&str>,
        anonymous: impl FnOnce() -> Profile,
    ) -> Result<Lookup, StoreError> {
        let generation = self.current();
        let found = match customer_id {
            None => None,
            Some(id) => match generation.cache.get(id) {
                Some(profile) => Some((profile, ProfileSource::Cache)),
                None => self.load_profile(&generation, id)?,
            },
        };
        let (profile, source) =
            found.unwrap_or_else(|| (anonymous().into(), ProfileSource::Anonymous));
        Ok(Lookup {
            profile,
            source,
            generation,
        })
    }

    /// A customer's profile as [`Profiles::lookup`] finds it, without putting it in the
    /// cache: for reading many profiles once (a preview's sample) without evicting the ones
    /// decisions keep reading.
    pub fn peek(&self, customer_id: &str) -> Result<Option<CustomerProfile>, StoreError> {
        let generation = self.current();
        if let Some(profile) = generation.cache.get(customer_id) {
            return Ok(Some(profile));
        }
        Ok(self
            .read_profile(&generation, customer_id)?
            .map(|(profile, _)| profile))
    }

    fn load_profile(
        &self,
        generation: &Generation,
        id: &str,
    ) -> Result<Option<(CustomerProfile, ProfileSource)>, StoreError> {
        let epoch = self.event_epoch.load(Ordering::Acquire);
        let Some((profile, source)) = self.read_profile(generation, id)? else {
            return Ok(None);
        };
        if self.event_epoch.load(Ordering::Acquire) == epoch {
            generation.cache.offer(id, profile.clone());
        }
        Ok(Some((profile, source)))
    }

    /// The snapshot's profile with the newer events applied, from the store.
    fn read_profile(
        &self,
        generation: &Generation,
        id: &str,
    ) -> Result<Option<(CustomerProfile, ProfileSource)>, StoreError> {
        // An erased customer's snapshot profile is never read (their newer events, from after the
        // erasure, are theirs again).
        let snapshot = match self.events.erased(id) {
            Some(erased) if erased.snapshot_suppressed => None,
            _ => generation.store.get(id)?,
        };
        let newer = self
            .events
            .events_after(id, generation.store.header.generated_at_ms)?;
        let (profile, source) = match (snapshot, newer.is_empty()) {
            (None, true) => return Ok(None),
            (Some(stored), true) => (stored.into(), ProfileSource::SnapshotStore),
            (snapshot, false) => {
                let mut profile = snapshot.map_or_else(
                    || Profile {
                        customer_id: Some(id.to_owned()),
                        ..Profile::default()
                    },
                    |stored| stored.decode(),
                );
                events::apply(&mut profile, &newer);
                (profile.into(), ProfileSource::EventOverlay)
            }
        };
        Ok(Some((profile, source)))
    }

    /// Records a batch of events durably (fsync'd before this returns) and makes the next
    /// lookup of each customer reflect them. Returns how many were new (re-sent ids are skipped).
    pub fn ingest(&self, batch: &[CustomerEvent]) -> Result<Appended, EventLogError> {
        let appended = self.append(batch, Origin::Local)?;
        if appended.new > 0 {
            self.accepted.notify_one();
        }
        Ok(appended)
    }

    /// Records events other nodes accepted (received from the broker) the same way, without
    /// forwarding them again.
    pub fn ingest_remote(&self, batch: &[CustomerEvent]) -> Result<Appended, EventLogError> {
        self.append(batch, Origin::Remote)
    }

    fn append(&self, batch: &[CustomerEvent], origin: Origin) -> Result<Appended, EventLogError> {
        let appended = self.events.append(batch, origin)?;
        self.event_epoch.fetch_add(1, Ordering::AcqRel);
        let generation = self.current();
        for customer in &appended.touched {
            generation.cache.remove(customer);
        }
        Ok(appended)
    }

    /// Forgets a customer (blocking: an fsync'd commit): their events, their cached profile,
    /// and their snapshot profile from now on ([`EventLog::erase`]). An erasure accepted here
    /// wakes the fleet forwarder.
    pub fn erase(&self, erasure: &Erasure, origin: Origin) -> Result<ProfileErased, StoreError> {
        let events = self.events.erase(erasure, origin)?;
        self.event_epoch.fetch_add(1, Ordering::AcqRel);
        let generation = self.current();
        let cached = generation.cache.get(&erasure.customer_id).is_some();
        generation.cache.remove(&erasure.customer_id);
        let in_snapshot = generation.store.contains(&erasure.customer_id)?;
        if origin == Origin::Local {
            self.accepted.notify_one();
        }
        Ok(ProfileErased {
            events: events.events,
            again: events.again,
            cached,
            in_snapshot,
        })
    }

    /// A customer's pseudonym ([`Pseudonyms::label`]).
    pub fn pseudonym(&self, customer_id: &str) -> String {
        self.events.pseudonyms().label(customer_id)
    }

    /// Up to `n` customer ids of the serving snapshot, evenly spread
    /// ([`ProfileStore::sample_ids`]), without erased customers.
    pub fn sample_ids(&self, n: usize) -> Result<Vec<String>, StoreError> {
        let mut ids = self.current().store.sample_ids(n)?;
        ids.retain(|id| self.events.erased(id).is_none());
        Ok(ids)
    }

    /// The durable event log (and the fleet's outbox).
    pub fn event_log(&self) -> &EventLog {
        &self.events
    }

    /// Notified whenever an accepted event enters the outbox.
    pub fn accepted(&self) -> &tokio::sync::Notify {
        &self.accepted
    }
}

/// What erasing a customer removed from the profiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileErased {
    /// Their events removed from the event log.
    pub events: u64,
    /// Whether they had been erased before.
    pub again: bool,
    /// Whether their profile was in the cache.
    pub cached: bool,
    /// Whether the serving snapshot holds them (now suppressed).
    pub in_snapshot: bool,
}

/// Builds a store from a snapshot file (a delta on top of `base`), noting which suppressed
/// (erased) customers it holds.
fn build(
    dir: &Path,
    snapshot: &Path,
    events: &EventLog,
    key: Option<&DataKey>,
    partition: Option<&Partition>,
    base: Option<&ProfileStore>,
) -> Result<(ProfileStore, HashSet<String>), StoreError> {
    let suppressed = events.suppressed();
    let present = Mutex::new(HashSet::new());
    let seen = |id: &str| {
        let label = events.pseudonyms().label(id);
        if suppressed.contains(&label) {
            present
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(label);
        }
    };
    let seen: Option<&(dyn Fn(&str) + Sync)> = if suppressed.is_empty() {
        None
    } else {
        Some(&seen)
    };
    let store = ProfileStore::build_from_file(dir, snapshot, key, partition, base, seen)?;
    Ok((
        store,
        present.into_inner().unwrap_or_else(PoisonError::into_inner),
    ))
}

/// Removes the profile stores a killed process left in `data_dir`: `profiles-*.profiles`, and
/// `profiles-*.redb` of the earlier format (a store is rebuilt at every start, never reopened).
fn remove_stale_stores(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let store = name.strip_prefix("profiles-").is_some_and(|rest| {
            rest.ends_with(".redb") || rest.ends_with(&format!(".{}", store::EXTENSION))
        });
        if store {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %name, "removed a profile store left by an earlier run")
                }
                Err(error) => {
                    tracing::warn!(file = %name, %error, "cannot remove a stale profile store")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
