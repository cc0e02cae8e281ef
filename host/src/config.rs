//! `tailor serve` configuration: every option is a flag, an environment variable and a key of
//! the TOML file given with `--config`; flags and variables win over the file, the file over the
//! defaults. A bad value stops start-up with a message naming the key.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The TOML file: the same keys as the flags, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub snapshot: Option<PathBuf>,
    pub sample_profiles: Option<u64>,
    pub cache_profiles: Option<usize>,
    pub max_concurrent_decisions: Option<u32>,
    pub max_body_bytes: Option<usize>,
    pub max_slots: Option<usize>,
    pub deadline_ms: Option<u64>,
    pub max_memory_mib: Option<usize>,
    pub admin_token: Option<String>,
    pub api_token: Option<String>,
    pub decision_log_rate: Option<f64>,
    pub snapshot_poll_seconds: Option<u64>,
    pub trusted_keys: Option<Vec<PathBuf>>,
    pub require_signatures: Option<bool>,
    pub policies_dir: Option<PathBuf>,
    pub policies_poll_seconds: Option<u64>,
    pub keep_versions: Option<usize>,
    pub seed_bundled: Option<bool>,
    pub auto_rollback_error_rate: Option<f64>,
    pub auto_rollback_min_decisions: Option<u64>,
    pub auto_rollback_window_seconds: Option<u64>,
    pub auto_rollback_watch_seconds: Option<u64>,
    pub follow: Option<Vec<String>>,
    pub follow_poll_seconds: Option<u64>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Snapshot to load; `None` generates the bundled sample snapshot.
    pub snapshot: Option<PathBuf>,
    pub sample_profiles: u64,
    pub cache_profiles: usize,
    pub max_concurrent_decisions: u32,
    pub max_body_bytes: usize,
    pub max_slots: usize,
    pub deadline: Duration,
    pub max_memory_bytes: usize,
    /// Bearer token for `/admin/v1/*`; without one the admin API answers 401 to everyone.
    pub admin_token: Option<String>,
    /// Bearer token required on `/v1/*` when set.
    pub api_token: Option<String>,
    /// Share of decide requests written to the decision log (0 = none, 1 = all).
    pub decision_log_rate: f64,
    /// How often the snapshot file is checked for changes and reloaded; `None` disables it.
    pub snapshot_poll: Option<Duration>,
    /// Public key files whose signatures this node accepts.
    pub trusted_keys: Vec<PathBuf>,
    /// Refuse unsigned policies; on by default when trusted keys are configured.
    pub require_signatures: bool,
    /// A directory watched for `<name>.wasm` (+ `.config.json`, `.sig`) to publish.
    pub policies_dir: Option<PathBuf>,
    pub policies_poll: Duration,
    /// Earlier versions kept per policy for rollback.
    pub keep_versions: usize,
    /// Publish the bundled example policies into an empty policy store.
    pub seed_bundled: bool,
    pub auto_rollback: crate::lifecycle::AutoRollback,
    /// Policies served from registry tags (`<name>=<registry>/<repository>:<tag>`).
    pub follow: Vec<crate::distribution::Follow>,
    pub follow_poll: Duration,
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
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl ServeFile {
    pub fn read(path: &Path) -> Result<ServeFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Tokens must be long enough not to be guessed.
fn token(key: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(token) if token.len() < 16 => Err(invalid(key, "must be at least 16 characters")),
        other => Ok(other),
    }
}

impl ServeConfig {
    /// Merges flags (already holding environment variables) over the file over defaults, and
    /// validates the result.
    pub fn resolve(flags: ServeFile, file: ServeFile) -> Result<ServeConfig, ConfigError> {
        let listen = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen
            .parse()
            .map_err(|e| invalid("listen", format!("{listen:?} is not an address:port ({e})")))?;
        let positive = |key: &'static str, value: u64| {
            if value == 0 {
                Err(invalid(key, "must be greater than zero"))
            } else {
                Ok(value)
            }
        };
        let max_concurrent_decisions = positive(
            "max_concurrent_decisions",
            u64::from(
                flags
                    .max_concurrent_decisions
                    .or(file.max_concurrent_decisions)
                    .unwrap_or(64),
            ),
        )?;
        let max_memory_mib = positive(
            "max_memory_mib",
            flags.max_memory_mib.or(file.max_memory_mib).unwrap_or(16) as u64,
        )?;
        if max_memory_mib > 1024 {
            return Err(invalid("max_memory_mib", "must be at most 1024"));
        }
        let trusted_keys = flags
            .trusted_keys
            .filter(|keys| !keys.is_empty())
            .or(file.trusted_keys)
            .unwrap_or_default();
        Ok(ServeConfig {
            listen,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("tailor-data")),
            snapshot: flags.snapshot.or(file.snapshot),
            sample_profiles: positive(
                "sample_profiles",
                flags
                    .sample_profiles
                    .or(file.sample_profiles)
                    .unwrap_or(10_000),
            )?,
            cache_profiles: positive(
                "cache_profiles",
                flags
                    .cache_profiles
                    .or(file.cache_profiles)
                    .unwrap_or(100_000) as u64,
            )? as usize,
            max_concurrent_decisions: u32::try_from(max_concurrent_decisions)
                .map_err(|_| invalid("max_concurrent_decisions", "is too large"))?,
            max_body_bytes: positive(
                "max_body_bytes",
                flags
                    .max_body_bytes
                    .or(file.max_body_bytes)
                    .unwrap_or(256 << 10) as u64,
            )? as usize,
            max_slots: positive(
                "max_slots",
                flags.max_slots.or(file.max_slots).unwrap_or(20) as u64,
            )? as usize,
            deadline: Duration::from_millis(positive(
                "deadline_ms",
                flags.deadline_ms.or(file.deadline_ms).unwrap_or(10),
            )?),
            max_memory_bytes: (max_memory_mib as usize) << 20,
            decision_log_rate: {
                let rate = flags
                    .decision_log_rate
                    .or(file.decision_log_rate)
                    .unwrap_or(0.01);
                if !(0.0..=1.0).contains(&rate) {
                    return Err(invalid(
                        "decision_log_rate",
                        format!("{rate} is not between 0 and 1"),
                    ));
                }
                rate
            },
            snapshot_poll: match flags
                .snapshot_poll_seconds
                .or(file.snapshot_poll_seconds)
                .unwrap_or(5)
            {
                0 => None,
                seconds => Some(Duration::from_secs(seconds)),
            },
            require_signatures: {
                let keys = trusted_keys.len();
                let required = flags
                    .require_signatures
                    .or(file.require_signatures)
                    .unwrap_or(keys > 0);
                if required && keys == 0 {
                    return Err(invalid(
                        "require_signatures",
                        "signatures are required but no trusted_keys are configured",
                    ));
                }
                required
            },
            trusted_keys,
            policies_dir: flags.policies_dir.or(file.policies_dir),
            policies_poll: Duration::from_secs(positive(
                "policies_poll_seconds",
                flags
                    .policies_poll_seconds
                    .or(file.policies_poll_seconds)
                    .unwrap_or(2),
            )?),
            keep_versions: positive(
                "keep_versions",
                flags.keep_versions.or(file.keep_versions).unwrap_or(5) as u64,
            )? as usize,
            seed_bundled: flags.seed_bundled.or(file.seed_bundled).unwrap_or(true),
            auto_rollback: crate::lifecycle::AutoRollback {
                error_rate: {
                    let rate = flags
                        .auto_rollback_error_rate
                        .or(file.auto_rollback_error_rate)
                        .unwrap_or(0.05);
                    if !(0.0..1.0).contains(&rate) {
                        return Err(invalid(
                            "auto_rollback_error_rate",
                            format!("{rate} is not in [0, 1) (0 disables automatic rollback)"),
                        ));
                    }
                    rate
                },
                min_decisions: positive(
                    "auto_rollback_min_decisions",
                    flags
                        .auto_rollback_min_decisions
                        .or(file.auto_rollback_min_decisions)
                        .unwrap_or(50),
                )?,
                window: Duration::from_secs(positive(
                    "auto_rollback_window_seconds",
                    flags
                        .auto_rollback_window_seconds
                        .or(file.auto_rollback_window_seconds)
                        .unwrap_or(60),
                )?),
                watch: Duration::from_secs(positive(
                    "auto_rollback_watch_seconds",
                    flags
                        .auto_rollback_watch_seconds
                        .or(file.auto_rollback_watch_seconds)
                        .unwrap_or(600),
                )?),
                ..crate::lifecycle::AutoRollback::default()
            },
            follow: flags
                .follow
                .filter(|f| !f.is_empty())
                .or(file.follow)
                .unwrap_or_default()
                .iter()
                .map(|text| {
                    crate::distribution::Follow::parse(text).map_err(|e| invalid("follow", e))
                })
                .collect::<Result<_, _>>()?,
            follow_poll: Duration::from_secs(positive(
                "follow_poll_seconds",
                flags
                    .follow_poll_seconds
                    .or(file.follow_poll_seconds)
                    .unwrap_or(10),
            )?),
            admin_token: token("admin_token", flags.admin_token.or(file.admin_token))?,
            api_token: token("api_token", flags.api_token.or(file.api_token))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_over_defaults() {
        let file = ServeFile {
            listen: Some("127.0.0.1:9000".into()),
            max_slots: Some(5),
            ..ServeFile::default()
        };
        let flags = ServeFile {
            max_slots: Some(7),
            ..ServeFile::default()
        };
        let config = ServeConfig::resolve(flags, file).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.max_slots, 7);
        assert_eq!(config.deadline, Duration::from_millis(10));
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = ServeConfig::resolve(
            ServeFile {
                listen: Some("nowhere".into()),
                ..ServeFile::default()
            },
            ServeFile::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`listen`"), "{err}");
        let err = ServeConfig::resolve(
            ServeFile::default(),
            ServeFile {
                max_slots: Some(0),
                ..ServeFile::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`max_slots`"), "{err}");
    }

    #[test]
    fn rates_and_tokens_are_checked() {
        let err = ServeConfig::resolve(
            ServeFile {
                decision_log_rate: Some(1.5),
                ..ServeFile::default()
            },
            ServeFile::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`decision_log_rate`"), "{err}");
        let err = ServeConfig::resolve(
            ServeFile::default(),
            ServeFile {
                admin_token: Some("short".into()),
                ..ServeFile::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`admin_token`"), "{err}");
        let off = ServeConfig::resolve(
            ServeFile {
                snapshot_poll_seconds: Some(0),
                ..ServeFile::default()
            },
            ServeFile::default(),
        )
        .unwrap();
        assert_eq!(off.snapshot_poll, None);
    }

    #[test]
    fn unknown_file_keys_are_named() {
        let err = toml::from_str::<ServeFile>("listen = \"127.0.0.1:1\"\nmax_slotz = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_slotz"), "{err}");
    }
}
