//! [`AppState`]: what every request shares, and how the node builds it at start-up.

use super::drain::Drain;
use super::errors::{ApiError, ApiErrorKind};
use crate::config::ServeConfig;
use crate::engine::{Engine, EngineConfig, EngineError, Limits};
use crate::lifecycle::signing::{KeyError, TrustedKeys};
use crate::lifecycle::{Lifecycle, LifecycleConfig, RestoreError};
use crate::metrics::Metrics;
use crate::outcomes::Outcomes;
use crate::privacy::{DataKey, Eraser, Pseudonyms, SealedReader, seal_into_place};
use crate::profiles::{self, Profiles, StoreError};
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Policies(#[from] RestoreError),
    #[error("config key `trusted_keys`: {0}")]
    TrustedKeys(#[from] KeyError),
    #[error("config key `config_signing_key`: {0}")]
    ConfigSigningKey(String),
    #[error(transparent)]
    Profiles(#[from] StoreError),
    #[error(transparent)]
    Scheduler(#[from] crate::scheduler::SpawnError),
    #[error(transparent)]
    Outcomes(#[from] crate::outcomes::log::LogError),
    #[error(transparent)]
    Pseudonyms(#[from] crate::privacy::pseudonym::PseudonymError),
    #[error(transparent)]
    DataKey(#[from] crate::privacy::KeyError),
    #[error("writing the sealed sample snapshot {}", path.display())]
    SealedSample {
        path: PathBuf,
        #[source]
        source: crate::privacy::sealed::WriteError,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct AppState {
    pub engine: Engine,
    pub registry: Arc<Registry>,
    pub lifecycle: Arc<Lifecycle>,
    pub profiles: Arc<Profiles>,
    pub metrics: Arc<Metrics>,
    pub config: ServeConfig,
    /// The snapshot file the node loaded at start (what a reload re-reads by default).
    pub snapshot_path: PathBuf,
    /// Whether shutdown has begun, and the requests in flight.
    pub(super) drain: Drain,
    /// The link to the fleet's broker, once started (never, without a broker configured).
    pub fleet: std::sync::OnceLock<crate::fleet::Fleet>,
    /// The decision threads, and each policy version's share of them.
    pub scheduler: Scheduler,
    /// Exposures, outcomes and their counts (none with `outcome_retention_hours = 0`).
    pub outcomes: Option<Arc<Outcomes>>,
    /// Forgets customers, here and for the fleet.
    pub eraser: Arc<Eraser>,
    /// Pseudonyms of customer ids, for the decision log.
    pub pseudonyms: Arc<Pseudonyms>,
    /// Console sessions (signed in with the admin or editor token).
    pub(super) sessions: super::session::Sessions,
    permits: Semaphore,
    node_tag: u64,
    sequence: AtomicU64,
}

impl AppState {
    /// Checks the configuration, builds the engine, restores the policies from the policy store
    /// (seeding the bundled examples into an empty one) and loads the profile snapshot (the
    /// sample one when none is configured).
    pub fn start(config: ServeConfig) -> Result<AppState, StartError> {
        config.validate()?;
        let limits = Limits {
            deadline: config.deadline(),
            max_memory_bytes: config.max_memory_bytes(),
            ..Limits::default()
        };
        let engine = Engine::new(EngineConfig {
            max_concurrent_decisions: config.max_concurrent_decisions,
            default_limits: limits,
            max_memory_bytes_ceiling: config.max_memory_bytes().max(16 << 20),
            ..EngineConfig::default()
        })?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
            what: format!("creating data_dir {}", config.data_dir.display()),
            source,
        })?;
        let data_key = match &config.data_key {
            Some(source) => Some(Arc::new(DataKey::load(source)?)),
            None => None,
        };
        let snapshot_path = snapshot_path(&config, data_key.as_deref())?;
        let started = Instant::now();
        let pseudonyms = Arc::new(match &data_key {
            Some(key) => Pseudonyms::from_data_key(key),
            None => Pseudonyms::open(&config.data_dir)?,
        });
        let profiles = Arc::new(Profiles::load(
            &config.data_dir,
            &snapshot_path,
            config.cache_profiles,
            pseudonyms.clone(),
            data_key.clone(),
            config.snapshot_partition.clone(),
        )?);
        if let Some(key) = &data_key {
            tracing::info!(key_id = %key.key_id(), "customer data is encrypted at rest");
        }
        if config.fleet().is_some() {
            // Before the first event is accepted: every one of them must reach the fleet.
            profiles.event_log().enable_outbox();
        }
        let generation = profiles.current();
        tracing::info!(
            snapshot = %generation.store.header.snapshot_version,
            profiles = generation.store.profiles,
            bytes = generation.store.file_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "profile snapshot loaded"
        );
        let metrics = Arc::new(Metrics::default());
        // A lane may hold half the node's admission slots waiting, so one policy's backlog can
        // never take every slot from the others, while a burst of one policy's requests (every
        // connection at once) still queues. Refusing earlier, from the lane's measured backlog,
        // was measured and made things worse (docs/benchmarks.md, "Fair shares").
        let scheduler = Scheduler::start(
            config.decision_threads(),
            (config.max_concurrent_decisions as usize / 2).max(1),
            std::time::Duration::from_micros(config.inline_under_us),
        )?;
        record_snapshot(&metrics, &generation.store);
        let registry = Arc::new(Registry::new(metrics.clone()));
        let trusted_keys = TrustedKeys::load(&config.trusted_keys)?;
        let config_signing_key = config_signing_key(&config, &trusted_keys)?;
        let lifecycle = Arc::new(Lifecycle::start(
            engine.clone(),
            registry.clone(),
            metrics.clone(),
            LifecycleConfig {
                store_dir: config.data_dir.join("policies"),
                trusted_keys,
                require_signatures: config.signatures_required(),
                keep_versions: config.keep_versions,
                auto_rollback: config.auto_rollback(),
                seed_bundled: config.seed_bundled,
                default_share: config.default_share(),
                decision_threads: config.decision_threads(),
                config_signing_key,
            },
        )?);
        let outcomes = match config.outcome_retention_hours {
            0 => None,
            hours => {
                let retention_ms = i64::try_from(hours).unwrap_or(i64::MAX / 3_600_000) * 3_600_000;
                let outcomes = Outcomes::start(
                    &config.data_dir.join("outcomes"),
                    retention_ms,
                    data_key.clone(),
                    registry.clone(),
                    metrics.clone(),
                    config.fleet().map(|fleet| fleet.node_id),
                )?;
                engine.attach_outcomes(outcomes.clone());
                Some(outcomes)
            }
        };
        let eraser = Arc::new(Eraser::new(
            &config.data_dir,
            profiles.clone(),
            outcomes.clone(),
        ));
        Ok(AppState {
            outcomes,
            eraser,
            pseudonyms,
            engine,
            registry,
            lifecycle,
            profiles,
            metrics,
            snapshot_path,
            drain: Drain::default(),
            fleet: std::sync::OnceLock::new(),
            scheduler,
            sessions: Default::default(),
            permits: Semaphore::new(config.max_concurrent_decisions as usize),
            config,
            node_tag: (crate::clock::now_ms() as u64) << 16 ^ u64::from(std::process::id()),
            sequence: AtomicU64::new(0),
        })
    }

    /// Loads a snapshot file aside and swaps it in (blocking: call off the request threads),
    /// updating the snapshot metrics. On error the current snapshot keeps serving.
    pub fn reload_snapshot(
        &self,
        path: &std::path::Path,
    ) -> Result<Arc<profiles::Generation>, StoreError> {
        let generation = self.profiles.reload(path)?;
        record_snapshot(&self.metrics, &generation.store);
        tracing::info!(
            snapshot = %generation.store.header.snapshot_version,
            profiles = generation.store.profiles,
            path = %path.display(),
            "profile snapshot loaded"
        );
        Ok(generation)
    }

    /// A decision id unique on this node and across its restarts, and whether this decision
    /// goes to the decision log (every `1 / decision_log_rate`-th one).
    pub(super) fn next_decision(&self) -> (String, bool) {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let rate = self.config.decision_log_rate;
        let logged = rate > 0.0 && seq.is_multiple_of(((1.0 / rate).round() as u64).max(1));
        (format!("{:x}-{:x}", self.node_tag, seq), logged)
    }

    /// A decision slot from the pool, or 503 (with `Retry-After`) when every one is busy.
    pub(super) fn admit(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        self.permits.try_acquire().map_err(|_| {
            self.metrics.load_shed.inc();
            ApiError::new(
                ApiErrorKind::Overloaded,
                "overloaded",
                None,
                "every decision slot is busy; retry shortly",
            )
        })
    }
}

/// The key console changes are signed with: readable, and one the node itself trusts (a
/// signature it would refuse is worth nothing).
fn config_signing_key(
    config: &ServeConfig,
    trusted: &TrustedKeys,
) -> Result<Option<Arc<crate::lifecycle::signing::SecretKey>>, StartError> {
    let Some(path) = &config.config_signing_key else {
        return Ok(None);
    };
    let key = crate::lifecycle::signing::load_secret(path)
        .map_err(|e| StartError::ConfigSigningKey(crate::report::chain(&e)))?;
    let id = key.public().key_id().to_owned();
    if !trusted.key_ids().contains(&id.as_str()) {
        return Err(StartError::ConfigSigningKey(format!(
            "the key in {} (key id {id}) is not one of the trusted_keys; list its public key there",
            path.display()
        )));
    }
    Ok(Some(Arc::new(key)))
}

/// The configured snapshot, or the sample one in `data_dir` (written on first start): sealed
/// with the data key when there is one, so a node with a key keeps no plaintext profile on
/// disk.
fn snapshot_path(config: &ServeConfig, key: Option<&DataKey>) -> Result<PathBuf, StartError> {
    if let Some(path) = &config.snapshot {
        return Ok(path.clone());
    }
    let count = config.sample_profiles;
    let plain = config.data_dir.join(format!("sample-{count}.ndjson"));
    let Some(key) = key else {
        if !plain.is_file() {
            profiles::sample::write(&plain, count).map_err(|source| StartError::Io {
                what: format!("writing the sample snapshot {}", plain.display()),
                source,
            })?;
        }
        return Ok(plain);
    };
    let sealed = config
        .data_dir
        .join(format!("sample-{count}.ndjson.sealed"));
    // The sample is generated, so one sealed with another key is simply written again.
    let readable = std::fs::File::open(&sealed)
        .and_then(|file| SealedReader::new(file, key, &sealed.display().to_string()))
        .is_ok();
    if !readable {
        seal_into_place(&sealed, key, |out| profiles::sample::write_to(out, count)).map_err(
            |source| StartError::SealedSample {
                path: sealed.clone(),
                source,
            },
        )?;
    }
    // A plaintext sample left by a run without the key goes.
    match std::fs::remove_file(&plain) {
        Ok(()) => {
            tracing::info!(path = %plain.display(), "removed the plaintext sample snapshot: the sample is sealed now")
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(StartError::Io {
                what: format!("removing the plaintext sample snapshot {}", plain.display()),
                source: error,
            });
        }
    }
    Ok(sealed)
}

/// The snapshot gauges: profiles held and when the export was generated.
fn record_snapshot(metrics: &Metrics, store: &profiles::ProfileStore) {
    metrics
        .snapshot_profiles
        .set(i64::try_from(store.profiles).unwrap_or(i64::MAX));
    metrics
        .snapshot_generated
        .set(store.header.generated_at_ms as f64 / 1000.0);
}
