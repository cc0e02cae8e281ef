//! `tailor serve`: run the decision service.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tailor_host::config::{ServeConfig, ServeFile};
use tailor_host::server::{AppState, Server};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of the options below (flags and environment variables win).
    #[arg(long, env = "TAILOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "TAILOR_LISTEN")]
    pub listen: Option<String>,
    /// Directory for the profile store and generated files.
    #[arg(long, env = "TAILOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Profile snapshot to load (NDJSON, gzip accepted); the bundled sample when absent.
    #[arg(long, env = "TAILOR_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,
    /// Profiles in the generated sample snapshot.
    #[arg(long, env = "TAILOR_SAMPLE_PROFILES")]
    pub sample_profiles: Option<u64>,
    /// Decoded profiles kept in memory.
    #[arg(long, env = "TAILOR_CACHE_PROFILES")]
    pub cache_profiles: Option<usize>,
    /// Decisions that may run at once; beyond it requests get 503 with Retry-After.
    #[arg(long, env = "TAILOR_MAX_CONCURRENT_DECISIONS")]
    pub max_concurrent_decisions: Option<u32>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TAILOR_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most slots in one decide request.
    #[arg(long, env = "TAILOR_MAX_SLOTS")]
    pub max_slots: Option<usize>,
    /// Default deadline of one decision, in milliseconds.
    #[arg(long, env = "TAILOR_DEADLINE_MS")]
    pub deadline_ms: Option<u64>,
    /// Default linear-memory cap of a policy, in MiB.
    #[arg(long, env = "TAILOR_MAX_MEMORY_MIB")]
    pub max_memory_mib: Option<usize>,
    /// Bearer token for the admin API (`/admin/v1/*`); without one it refuses every request.
    #[arg(long, env = "TAILOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer token the decide API requires, when set.
    #[arg(long, env = "TAILOR_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Share of decide requests written to the decision log, 0 to 1.
    #[arg(long, env = "TAILOR_DECISION_LOG_RATE")]
    pub decision_log_rate: Option<f64>,
    /// Seconds between checks of the snapshot file for changes (0 disables reloading on change).
    #[arg(long, env = "TAILOR_SNAPSHOT_POLL_SECONDS")]
    pub snapshot_poll_seconds: Option<u64>,
    /// Public key file (`tailor keygen`) whose signatures the node accepts; repeatable.
    #[arg(
        long = "trusted-key",
        env = "TAILOR_TRUSTED_KEYS",
        value_delimiter = ','
    )]
    pub trusted_keys: Vec<PathBuf>,
    /// Refuse unsigned policies (default: on when trusted keys are given).
    #[arg(long, env = "TAILOR_REQUIRE_SIGNATURES")]
    pub require_signatures: Option<bool>,
    /// Directory watched for `<name>.wasm`, `<name>.config.json` and `<name>.sig` to publish.
    #[arg(long, env = "TAILOR_POLICIES_DIR")]
    pub policies_dir: Option<PathBuf>,
    /// Seconds between scans of the policies directory.
    #[arg(long, env = "TAILOR_POLICIES_POLL_SECONDS")]
    pub policies_poll_seconds: Option<u64>,
    /// Earlier versions kept per policy for rollback.
    #[arg(long, env = "TAILOR_KEEP_VERSIONS")]
    pub keep_versions: Option<usize>,
    /// Publish the bundled example policies into an empty policy store.
    #[arg(long, env = "TAILOR_SEED_BUNDLED")]
    pub seed_bundled: Option<bool>,
    /// Failure share of a new or canary version that rolls it back (0 disables).
    #[arg(long, env = "TAILOR_AUTO_ROLLBACK_ERROR_RATE")]
    pub auto_rollback_error_rate: Option<f64>,
    /// Decisions the window must hold before the failure share is judged.
    #[arg(long, env = "TAILOR_AUTO_ROLLBACK_MIN_DECISIONS")]
    pub auto_rollback_min_decisions: Option<u64>,
    /// Sliding window of the failure share, in seconds.
    #[arg(long, env = "TAILOR_AUTO_ROLLBACK_WINDOW_SECONDS")]
    pub auto_rollback_window_seconds: Option<u64>,
    /// How long a newly activated version is watched, in seconds.
    #[arg(long, env = "TAILOR_AUTO_ROLLBACK_WATCH_SECONDS")]
    pub auto_rollback_watch_seconds: Option<u64>,
    /// Serve a policy from a registry tag, `<name>=http://<registry>/<repository>:<tag>`;
    /// repeatable. New versions are pulled, verified and swapped in as the tag moves.
    #[arg(long, env = "TAILOR_FOLLOW", value_delimiter = ',')]
    pub follow: Vec<String>,
    /// Seconds between checks of followed tags.
    #[arg(long, env = "TAILOR_FOLLOW_POLL_SECONDS")]
    pub follow_poll_seconds: Option<u64>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let file = match &args.config {
        Some(path) => ServeFile::read(path)?,
        None => ServeFile::default(),
    };
    let flags = ServeFile {
        listen: args.listen,
        data_dir: args.data_dir,
        snapshot: args.snapshot,
        sample_profiles: args.sample_profiles,
        cache_profiles: args.cache_profiles,
        max_concurrent_decisions: args.max_concurrent_decisions,
        max_body_bytes: args.max_body_bytes,
        max_slots: args.max_slots,
        deadline_ms: args.deadline_ms,
        max_memory_mib: args.max_memory_mib,
        admin_token: args.admin_token,
        api_token: args.api_token,
        decision_log_rate: args.decision_log_rate,
        snapshot_poll_seconds: args.snapshot_poll_seconds,
        trusted_keys: Some(args.trusted_keys),
        require_signatures: args.require_signatures,
        policies_dir: args.policies_dir,
        policies_poll_seconds: args.policies_poll_seconds,
        keep_versions: args.keep_versions,
        seed_bundled: args.seed_bundled,
        auto_rollback_error_rate: args.auto_rollback_error_rate,
        auto_rollback_min_decisions: args.auto_rollback_min_decisions,
        auto_rollback_window_seconds: args.auto_rollback_window_seconds,
        auto_rollback_watch_seconds: args.auto_rollback_watch_seconds,
        follow: Some(args.follow),
        follow_poll_seconds: args.follow_poll_seconds,
    };
    let config = ServeConfig::resolve(flags, file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let state = Arc::new(AppState::start(config)?);
        let server = Server::bind(state).await?;
        let addr = server.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "tailor is serving decisions on http://{addr}")?;
        writeln!(
            out,
            "try: curl -s http://{addr}/v1/decide -H 'content-type: application/json' -d '{{\"channel\":\"web\",\"unit\":{{\"customer_id\":\"cust-000042\"}},\"slots\":[{{\"id\":\"hero\",\"policy\":\"hero-banner\"}}]}}'"
        )?;
        drop(out);
        server.run(shutdown_signal()).await;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: draining requests in flight");
}
