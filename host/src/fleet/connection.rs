//! The broker connection: kept up in the background (a node starts and serves while the broker
//! is away), with the fleet's credentials and TLS, and its state in the metrics.

use super::FleetConfig;
use crate::metrics::Metrics;
use async_nats::connection::State;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the node authenticates to the broker.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
    /// A NATS `.creds` file (JWT and nkey seed).
    CredsFile(PathBuf),
}

/// Why the connection could not be set up (a broker that is down is not such a reason).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("config key `events_credentials_file`: {path}: {source}")]
    CredsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("events broker: {0}")]
    Connect(#[from] async_nats::ConnectError),
}

/// The longest wait between reconnection attempts: a broker that comes back is used within it.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Connects to the fleet's brokers, retrying for as long as the node runs.
pub(super) async fn connect(config: &FleetConfig) -> Result<async_nats::Client, ConnectError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("tailor {}", config.node_id))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| backoff(u32::try_from(attempts).unwrap_or(u32::MAX)))
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("events broker connected"),
                async_nats::Event::Disconnected => tracing::warn!("events broker disconnected"),
                other => tracing::debug!(event = %other, "events broker"),
            }
        });
    options = match &config.credentials {
        Credentials::None => options,
        Credentials::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.clone())
        }
        Credentials::Token(token) => options.token(token.clone()),
        Credentials::CredsFile(path) => {
            options
                .credentials_file(path)
                .await
                .map_err(|source| ConnectError::CredsFile {
                    path: path.clone(),
                    source,
                })?
        }
    };
    if let Some(ca) = &config.tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls.client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let servers: Vec<async_nats::ServerAddr> = config
        .servers
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    Ok(options.connect(servers).await?)
}

/// The connection state's name, for the admin API.
pub(super) fn state_name(client: &async_nats::Client) -> &'static str {
    match client.connection_state() {
        State::Connected => "connected",
        State::Disconnected => "disconnected",
        State::Pending => "pending",
    }
}

/// Keeps the connection gauge current.
pub(super) async fn watch(client: async_nats::Client, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let connected = client.connection_state() == State::Connected;
        metrics.fleet_broker_connected.set(i64::from(connected));
    }
}

/// How long a JetStream request or publish acknowledgment may take before it is retried.
const JETSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// The JetStream context the forwarder and the consumer share.
pub(super) fn jetstream(client: async_nats::Client) -> async_nats::jetstream::Context {
    async_nats::jetstream::context::ContextBuilder::new()
        .timeout(JETSTREAM_TIMEOUT)
        .build(client)
}

/// The fleet's event stream, created when the broker does not have it yet.
pub(super) async fn event_stream(
    jetstream: &async_nats::jetstream::Context,
    config: &FleetConfig,
) -> Result<async_nats::jetstream::stream::Stream, async_nats::Error> {
    use async_nats::jetstream::stream;
    let stream = jetstream
        .get_or_create_stream(stream::Config {
            name: config.stream.clone(),
            subjects: vec![config.event_subjects()],
            max_age: config.retention,
            storage: stream::StorageType::File,
            // JetStream drops a re-sent message id within this window; the consumers' event-id
            // dedupe covers anything re-sent after it.
            duplicate_window: Duration::from_secs(120),
            ..stream::Config::default()
        })
        .await?;
    Ok(stream)
}

/// The wait before the next attempt after `failures` failures in a row.
pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << failures.min(5))).min(MAX_RECONNECT_DELAY)
}
