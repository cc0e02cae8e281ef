//! `tailor serve` configuration. [`ServeConfig`] is written once and is at the same time the
//! command line (every option a `--flag` and a `TAILOR_…` variable, its default shown in
//! `--help`), the TOML file given with `--config` (the same keys in snake_case, unknown keys
//! refused) and the resolved configuration the server reads. Flags win over variables, variables
//! over the file, the file over the defaults ([`ServeConfig::load`]); a bad value stops start-up
//! naming its key ([`ServeConfig::validate`]).

mod load;
mod validate;
mod values;

pub use load::ServeFlags;

use crate::distribution::{Follow, RegistryAccess};
use crate::fleet::{Credentials, FleetConfig, Tls};
use crate::lifecycle::{AutoRollback, Guardrails};
use crate::scheduler::Share;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The options of `tailor serve`: each field's doc is its `--help` text, its name the file key,
/// its attributes the flag, the variable and the default. [`Default`] gives the defaults;
/// [`ServeConfig::load`] layers flags, variables and a file (deserializing this type directly
/// would need every key).
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on, `host:port` (a host name listens on its first address).
    #[arg(long, env = "TAILOR_LISTEN", default_value = "127.0.0.1:8080", value_parser = values::listen)]
    #[serde(deserialize_with = "values::deserialize_listen")]
    pub listen: SocketAddr,
    /// Directory for the profile store and generated files.
    #[arg(long, env = "TAILOR_DATA_DIR", default_value = "tailor-data")]
    pub data_dir: PathBuf,
    /// Where the key that encrypts customer data at rest comes from (the profile store, the
    /// event log, the outcome log, sealed snapshots): `file:PATH` (mode 0600), `env:VARIABLE`
    /// or `systemd:CREDENTIAL` (from `LoadCredentialEncrypted=`); 32 bytes, as 64 hex digits
    /// or base64. Never beside the data. Without it the stores are plaintext. `tailor seal`
    /// and `tailor unseal` take this same option, and `tailor push --partition` seals shares
    /// with it.
    #[arg(long, env = "TAILOR_DATA_KEY", value_name = "SOURCE")]
    pub data_key: Option<crate::privacy::KeySource>,
    /// Profile snapshot to load (NDJSON, gzip accepted, either one sealed with the data key by
    /// `tailor seal`); the generated sample when absent (sealed, with a data key).
    #[arg(long, env = "TAILOR_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,
    /// The share of the snapshot this node serves: `trait:KEY=VALUE[,VALUE…]` (a kiosk's
    /// store, `trait:preferred_store=store-0042`; a PoP's region) or `hash:I/N` (part I of N by
    /// a stable hash of the customer id). Only those profiles are loaded; a customer outside it
    /// is served as anonymous, with her own events. The whole snapshot when absent.
    #[arg(long, env = "TAILOR_SNAPSHOT_PARTITION", value_name = "PARTITION")]
    pub snapshot_partition: Option<crate::profiles::Partition>,
    /// Profiles in the generated sample snapshot.
    #[arg(long, env = "TAILOR_SAMPLE_PROFILES", default_value_t = 10_000)]
    pub sample_profiles: u64,
    /// Decoded profiles kept in memory.
    #[arg(long, env = "TAILOR_CACHE_PROFILES", default_value_t = 100_000)]
    pub cache_profiles: usize,
    /// Decisions that may run at once; beyond it requests get 503 with Retry-After.
    #[arg(long, env = "TAILOR_MAX_CONCURRENT_DECISIONS", default_value_t = 64)]
    pub max_concurrent_decisions: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TAILOR_MAX_BODY_BYTES", default_value_t = 256 << 10)]
    pub max_body_bytes: usize,
    /// Most slots in one decide request.
    #[arg(long, env = "TAILOR_MAX_SLOTS", default_value_t = 20)]
    pub max_slots: usize,
    /// Default deadline of one decision, in milliseconds.
    #[arg(long, env = "TAILOR_DEADLINE_MS", default_value_t = 10)]
    pub deadline_ms: u64,
    /// Default linear-memory cap of a policy, in MiB (at most 1024).
    #[arg(long, env = "TAILOR_MAX_MEMORY_MIB", default_value_t = 16)]
    pub max_memory_mib: usize,
    /// Threads that run decisions (0: one per core). Decisions never run on the threads that
    /// accept connections and parse requests.
    #[arg(long, env = "TAILOR_DECISION_THREADS", default_value_t = 0)]
    pub decision_threads: u32,
    /// Threads that serve HTTP: parse requests, look profiles up, write responses, and run the
    /// decisions of cheap policies inline (0: one per core; see docs/benchmarks.md).
    #[arg(long, env = "TAILOR_HTTP_THREADS", default_value_t = 0)]
    pub http_threads: u32,
    /// A policy version whose decisions take less than this many microseconds runs them on the
    /// HTTP thread that parsed the request, when that jumps ahead of no other policy's waiting
    /// decision and the version is within its CPU budget; a version with more than a tenth of
    /// its recent decisions over it goes back to the decision threads (0: every decision goes
    /// to a decision thread).
    #[arg(long, env = "TAILOR_INLINE_UNDER_US", default_value_t = 250)]
    pub inline_under_us: u64,
    /// A policy's weight in the decision scheduler unless its publish sets one: under
    /// contention policies get decision CPU in proportion to their weights.
    #[arg(long, env = "TAILOR_SHARE_WEIGHT", default_value_t = 1)]
    pub share_weight: u32,
    /// Decisions of one policy version that may run at once unless its publish sets it (0: all
    /// decision threads but one, so no policy can occupy them all).
    #[arg(long, env = "TAILOR_SHARE_MAX_CONCURRENT", default_value_t = 0)]
    pub share_max_concurrent: u32,
    /// CPU milliseconds per second a policy version's decisions may use unless its publish sets
    /// it (0: no cap beyond its weight).
    #[arg(long, env = "TAILOR_SHARE_CPU_MS_PER_SECOND", default_value_t = 0)]
    pub share_cpu_ms_per_second: u64,
    /// Latency guardrail: a new or canary version whose p99 decision time passes this many
    /// milliseconds is rolled back (0: no absolute latency budget).
    #[arg(long, env = "TAILOR_GUARD_P99_MS", default_value_t = 0.0)]
    pub guard_p99_ms: f64,
    /// Cost guardrail: a new or canary version whose mean CPU time per decision passes this
    /// many milliseconds is rolled back, and a publish whose fixture cases already do is
    /// refused (0: no absolute cost budget).
    #[arg(long, env = "TAILOR_GUARD_CPU_MS", default_value_t = 0.0)]
    pub guard_cpu_ms: f64,
    /// Regression guardrail: a new or canary version whose p99 decision time or mean CPU per
    /// decision is more than this many times the version it replaces is rolled back (0: off).
    #[arg(long, env = "TAILOR_GUARD_REGRESSION", default_value_t = 3.0)]
    pub guard_regression: f64,
    /// Bearer token for the admin API (`/admin/v1/*`), at least 16 characters; without one the
    /// admin API refuses every request.
    #[arg(long, env = "TAILOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer token of the editor role, at least 16 characters: reads the admin API, changes
    /// policies' configs, previews drafts, runs canaries and rollbacks (also from the console
    /// at `/console`), but may not upload components, reload snapshots or read the exposure log.
    #[arg(long, env = "TAILOR_EDITOR_TOKEN", hide_env_values = true)]
    pub editor_token: Option<String>,
    /// Bearer token the decide API (`/v1/*`) requires, when set; at least 16 characters.
    #[arg(long, env = "TAILOR_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Share of decide requests written to the decision log, 0 to 1.
    #[arg(long, env = "TAILOR_DECISION_LOG_RATE", default_value_t = 0.01)]
    pub decision_log_rate: f64,
    /// Write decide request bodies to the decision log as received (customer ids and request
    /// attributes included). Off, the log holds pseudonymized ids and attribute keys only.
    #[arg(
        long,
        env = "TAILOR_DECISION_LOG_REQUESTS",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub decision_log_requests: bool,
    /// Hours the outcome log keeps exposures and conversions (experiment results and the
    /// statistics policies learn from cover this span); 0 records none.
    #[arg(long, env = "TAILOR_OUTCOME_RETENTION_HOURS", default_value_t = 168)]
    pub outcome_retention_hours: u64,
    /// Seconds between checks of the snapshot file for changes (0 disables reloading on change).
    #[arg(long, env = "TAILOR_SNAPSHOT_POLL_SECONDS", default_value_t = 5)]
    pub snapshot_poll_seconds: u64,
    /// Public key file (`tailor keygen`) whose signatures the node accepts; repeatable, or
    /// comma-separated in the variable.
    #[arg(
        long = "trusted-key",
        env = "TAILOR_TRUSTED_KEYS",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub trusted_keys: Vec<PathBuf>,
    /// Refuse unsigned policies (`--require-signatures false` accepts them even with trusted
    /// keys); when not set, on exactly when trusted keys are given.
    #[arg(
        long,
        env = "TAILOR_REQUIRE_SIGNATURES",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub require_signatures: Option<bool>,
    /// Secret key file (`tailor keygen`) with which the node signs the config changes made in
    /// the console, where a person has no signing key at hand. Its public key must be one of
    /// the `trusted_keys`; keep the file readable by the node only. Without it, a node that
    /// requires signatures refuses console changes, saying so.
    #[arg(long, env = "TAILOR_CONFIG_SIGNING_KEY", value_name = "FILE")]
    pub config_signing_key: Option<PathBuf>,
    /// Directory watched for `<name>.wasm`, `<name>.config.json` and `<name>.sig` to publish.
    #[arg(long, env = "TAILOR_POLICIES_DIR")]
    pub policies_dir: Option<PathBuf>,
    /// Seconds between scans of the policies directory.
    #[arg(long, env = "TAILOR_POLICIES_POLL_SECONDS", default_value_t = 2)]
    pub policies_poll_seconds: u64,
    /// Earlier versions kept per policy for rollback.
    #[arg(long, env = "TAILOR_KEEP_VERSIONS", default_value_t = 5)]
    pub keep_versions: usize,
    /// Publish the bundled example policies into an empty policy store (`--seed-bundled false`
    /// to start empty).
    #[arg(
        long,
        env = "TAILOR_SEED_BUNDLED",
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub seed_bundled: bool,
    /// Failure share of a new or canary version that rolls it back, below 1 (0 disables).
    #[arg(long, env = "TAILOR_AUTO_ROLLBACK_ERROR_RATE", default_value_t = 0.05)]
    pub auto_rollback_error_rate: f64,
    /// Decisions the window must hold before the failure share is judged.
    #[arg(long, env = "TAILOR_AUTO_ROLLBACK_MIN_DECISIONS", default_value_t = 50)]
    pub auto_rollback_min_decisions: u64,
    /// Sliding window of the failure share, in seconds.
    #[arg(
        long,
        env = "TAILOR_AUTO_ROLLBACK_WINDOW_SECONDS",
        default_value_t = 60
    )]
    pub auto_rollback_window_seconds: u64,
    /// How long a newly activated version is watched, in seconds.
    #[arg(
        long,
        env = "TAILOR_AUTO_ROLLBACK_WATCH_SECONDS",
        default_value_t = 600
    )]
    pub auto_rollback_watch_seconds: u64,
    /// Serve a policy from a registry tag, `<name>=https://<registry>/<repository>:<tag>`;
    /// repeatable, or comma-separated in the variable. New versions are pulled, verified and
    /// swapped in as the tag moves.
    #[arg(
        long,
        env = "TAILOR_FOLLOW",
        value_name = "NAME=REFERENCE",
        value_delimiter = ',',
        value_parser = Follow::parse
    )]
    #[serde(with = "values::follow_list")]
    pub follow: Vec<Follow>,
    /// Seconds between checks of followed tags.
    #[arg(long, env = "TAILOR_FOLLOW_POLL_SECONDS", default_value_t = 10)]
    pub follow_poll_seconds: u64,
    /// Credentials on the followed registries, `user:password`, or `@FILE` for a file holding
    /// `user:password`. Without them, `registry_username`/`registry_password`, then the
    /// registry's entry in docker's `config.json`, else anonymous.
    #[arg(long, env = "TAILOR_REGISTRY_AUTH", hide_env_values = true)]
    pub registry_auth: Option<String>,
    /// User name on the followed registries (with `registry_password`).
    #[arg(long, env = "TAILOR_REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    /// Password or access token on the followed registries (with `registry_username`).
    #[arg(long, env = "TAILOR_REGISTRY_PASSWORD", hide_env_values = true)]
    pub registry_password: Option<String>,
    /// CA certificate (PEM) the registries' TLS certificates are checked against, beside the
    /// system's roots (a registry with a private CA).
    #[arg(long, env = "TAILOR_REGISTRY_CA", value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
    /// Allow plain `http://` to a followed registry that is not on a loopback address (plain
    /// HTTP is always allowed on loopback; everything else needs `https://`).
    #[arg(
        long,
        env = "TAILOR_REGISTRY_INSECURE",
        value_name = "BOOL",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub registry_insecure: bool,
    /// NATS broker of the fleet, `nats://host:port` or `tls://host:port`; repeatable (or
    /// comma-separated in the variable) for a cluster. Events and policy changes then flow
    /// between nodes; without one the node works on its own.
    #[arg(
        long,
        env = "TAILOR_EVENTS_BROKER",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub events_broker: Vec<String>,
    /// This node's name in the fleet (its durable consumer, the origin of what it publishes);
    /// the host name when not set.
    #[arg(long, env = "TAILOR_NODE_ID")]
    pub node_id: Option<String>,
    /// JetStream stream holding the fleet's events.
    #[arg(long, env = "TAILOR_EVENTS_STREAM", default_value = "TAILOR_EVENTS")]
    pub events_stream: String,
    /// First token of every subject tailor uses on the broker.
    #[arg(long, env = "TAILOR_EVENTS_SUBJECT_PREFIX", default_value = "tailor")]
    pub events_subject_prefix: String,
    /// Customer partitions of the event subjects (`<prefix>.events.<partition>`).
    #[arg(long, env = "TAILOR_EVENTS_PARTITIONS", default_value_t = 64)]
    pub events_partitions: u32,
    /// How long the stream keeps events, in hours: longer than the interval between profile
    /// snapshot exports, so a node starting from the newest snapshot finds every later event.
    #[arg(long, env = "TAILOR_EVENTS_RETENTION_HOURS", default_value_t = 168)]
    pub events_retention_hours: u64,
    /// User name on the broker (with `events_password`).
    #[arg(long, env = "TAILOR_EVENTS_USER")]
    pub events_user: Option<String>,
    /// Password on the broker (with `events_user`).
    #[arg(long, env = "TAILOR_EVENTS_PASSWORD", hide_env_values = true)]
    pub events_password: Option<String>,
    /// Token on the broker.
    #[arg(long, env = "TAILOR_EVENTS_TOKEN", hide_env_values = true)]
    pub events_token: Option<String>,
    /// NATS credentials file (`.creds`: JWT and nkey seed).
    #[arg(long, env = "TAILOR_EVENTS_CREDENTIALS_FILE")]
    pub events_credentials_file: Option<PathBuf>,
    /// CA certificate (PEM) the broker's TLS certificate is checked against, beside the
    /// system's roots (for a `tls://` broker with a private CA).
    #[arg(long, env = "TAILOR_EVENTS_TLS_CA")]
    pub events_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a broker that requires mutual TLS (with `events_tls_key`).
    #[arg(long, env = "TAILOR_EVENTS_TLS_CERT")]
    pub events_tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, env = "TAILOR_EVENTS_TLS_KEY")]
    pub events_tls_key: Option<PathBuf>,
}

/// Values derived from the options, in the units the rest of the host works in.
impl ServeConfig {
    /// The default deadline of one decision (`deadline_ms`).
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// The default linear-memory cap of a policy (`max_memory_mib`).
    pub fn max_memory_bytes(&self) -> usize {
        self.max_memory_mib << 20
    }

    /// How often the snapshot file is checked for changes; `None` when reloading is off.
    pub fn snapshot_poll(&self) -> Option<Duration> {
        (self.snapshot_poll_seconds > 0).then(|| Duration::from_secs(self.snapshot_poll_seconds))
    }

    /// Whether unsigned policies are refused: `require_signatures`, or else whether any
    /// `trusted_keys` are configured.
    pub fn signatures_required(&self) -> bool {
        self.require_signatures
            .unwrap_or(!self.trusted_keys.is_empty())
    }

    pub fn policies_poll(&self) -> Duration {
        Duration::from_secs(self.policies_poll_seconds)
    }

    pub fn follow_poll(&self) -> Duration {
        Duration::from_secs(self.follow_poll_seconds)
    }

    /// How followed registries are reached (`registry_*`).
    pub fn registry_access(&self) -> RegistryAccess {
        RegistryAccess {
            registry_auth: self.registry_auth.clone(),
            registry_username: self.registry_username.clone(),
            registry_password: self.registry_password.clone(),
            registry_ca: self.registry_ca.clone(),
            registry_insecure: self.registry_insecure,
        }
    }

    /// The fleet settings (`events_*`, `node_id`); `None` without a broker.
    pub fn fleet(&self) -> Option<FleetConfig> {
        if self.events_broker.is_empty() {
            return None;
        }
        let credentials = match (
            &self.events_user,
            &self.events_password,
            &self.events_token,
            &self.events_credentials_file,
        ) {
            (Some(user), Some(password), _, _) => Credentials::UserPassword {
                user: user.clone(),
                password: password.clone(),
            },
            (_, _, Some(token), _) => Credentials::Token(token.clone()),
            (_, _, _, Some(path)) => Credentials::CredsFile(path.clone()),
            _ => Credentials::None,
        };
        Some(FleetConfig {
            servers: self.events_broker.clone(),
            node_id: self.node_id.clone().unwrap_or_else(host_name),
            stream: self.events_stream.clone(),
            subject_prefix: self.events_subject_prefix.clone(),
            partitions: self.events_partitions,
            retention: Duration::from_secs(self.events_retention_hours.saturating_mul(3600)),
            credentials,
            tls: Tls {
                ca: self.events_tls_ca.clone(),
                client: self
                    .events_tls_cert
                    .clone()
                    .zip(self.events_tls_key.clone()),
            },
        })
    }

    /// The `auto_rollback_*` and `guard_*` options.
    pub fn auto_rollback(&self) -> AutoRollback {
        let millis = |ms: f64| (ms > 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
        AutoRollback {
            error_rate: self.auto_rollback_error_rate,
            min_decisions: self.auto_rollback_min_decisions,
            window: Duration::from_secs(self.auto_rollback_window_seconds),
            watch: Duration::from_secs(self.auto_rollback_watch_seconds),
            guard: Guardrails {
                p99: millis(self.guard_p99_ms),
                cpu: millis(self.guard_cpu_ms),
                regression: (self.guard_regression > 0.0).then_some(self.guard_regression),
            },
            ..AutoRollback::default()
        }
    }

    /// Decision threads (`decision_threads`, or one per core).
    pub fn decision_threads(&self) -> u32 {
        match self.decision_threads {
            0 => cores(),
            n => n,
        }
    }

    /// HTTP threads (`http_threads`, or one per core): they also run cheap policies' decisions
    /// inline, so fewer would leave cores idle (docs/benchmarks.md, "Speed").
    pub fn http_threads(&self) -> usize {
        match self.http_threads {
            0 => cores() as usize,
            n => n as usize,
        }
    }

    /// A policy's share unless its publish sets one (`share_*`).
    pub fn default_share(&self) -> Share {
        let threads = self.decision_threads();
        Share {
            weight: self.share_weight,
            max_concurrent: match self.share_max_concurrent {
                0 => threads.saturating_sub(1).max(1),
                n => n,
            },
            cpu_per_second: (self.share_cpu_ms_per_second > 0)
                .then(|| Duration::from_millis(self.share_cpu_ms_per_second)),
        }
    }
}

/// Cores this process may run on.
fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

impl ServeConfig {}

/// This machine's host name as a fleet node name (characters a consumer name may not hold
/// become `-`).
fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '-',
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "tailor".to_owned()
    } else {
        name
    }
}

/// A configuration value that is wrong, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: unknown key `{key}`")]
    UnknownKey { path: PathBuf, key: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// The result of reading or checking a configuration.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}
