//! `tailor serve`: run the decision service.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tailor_host::config::{ServeConfig, ServeFlags};
use tailor_host::server::{AppState, Server};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of the options below, keys in snake_case (flags and environment
    /// variables win over it).
    #[arg(long, env = "TAILOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub options: ServeFlags,
}

pub fn run(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = ServeConfig::load(args.options, args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.http_threads())
        .thread_name("tailor-http")
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
