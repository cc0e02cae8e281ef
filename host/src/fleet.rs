//! The fleet: customer events flowing between nodes through NATS JetStream.
//!
//! - [`connection`]: the broker connection (cluster URLs, credentials, TLS), kept up in the
//!   background so a node starts and serves while the broker is away.
//! - [`forward`]: the outbox forwarder. Every event this node accepts is committed to its
//!   event log first (the `202` never waits for the broker) and then published to JetStream
//!   with the event id as the message id, retried until the broker acknowledges it.
//! - [`consume`]: this node's durable consumer. Other nodes' events are applied through the
//!   same log and overlay as local ones (event-id dedupe), durably, before the broker is told.
//!   An erasure accepted by one node travels the same way (the outbox, the customer's
//!   partition subject, a `Tailor-Kind: erasure` header) and is applied by every other node.
//! - [`notices`]: policy-change notices, so every node following a tag checks it as soon as
//!   one node has published the version it moved to.
//! - [`outcomes`]: exposures and conversions each node recorded, published from its outcome
//!   log (`<prefix>.outcomes.<node>`, stream `<events stream>_OUTCOMES`) and applied by every
//!   other node to its fleet-wide counts.
//!
//! Subject layout: `<prefix>.events.<partition>`, where the partition is a stable hash of the
//! customer id (`tailor-bucketing`'s MurmurHash3 under the salt `tailor-fleet`) modulo the
//! partition count, so a deployment can later give a node only some partitions. One stream
//! (`--events-stream`) holds `<prefix>.events.>`; its retention (`--events-retention-hours`)
//! must be longer than the interval between profile snapshot exports, so that a node starting
//! from the newest snapshot finds every event since in the stream.

mod connection;
mod consume;
mod forward;
mod notices;
mod outcomes;

pub use connection::Credentials;
pub use notices::{Follower, PolicyNotice, subject as notice_subject};

use crate::metrics::Metrics;
use crate::profiles::Profiles;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Salt of the customer → partition hash.
const PARTITION_SALT: &str = "tailor-fleet";

/// How a node joins the fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Broker URLs (`nats://host:port`, `tls://host:port`); several for a cluster.
    pub servers: Vec<String>,
    /// This node's name: its durable consumer's name and the origin of what it publishes.
    pub node_id: String,
    /// The JetStream stream holding the fleet's events.
    pub stream: String,
    /// First token of every subject tailor uses.
    pub subject_prefix: String,
    /// Customer partitions of the event subjects.
    pub partitions: u32,
    /// How long the stream keeps events.
    pub retention: Duration,
    pub credentials: Credentials,
    pub tls: Tls,
}

/// TLS files beyond the system's roots.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// A CA certificate (PEM) the broker's certificate may chain to.
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl FleetConfig {
    /// The subject an event of `customer_id` is published on.
    pub fn event_subject(&self, customer_id: &str) -> String {
        let hash = tailor_bucketing::unit_hash(PARTITION_SALT, customer_id);
        format!(
            "{}.events.{}",
            self.subject_prefix,
            hash % self.partitions.max(1)
        )
    }

    /// The subjects of every partition.
    pub fn event_subjects(&self) -> String {
        format!("{}.events.>", self.subject_prefix)
    }
}

/// Why a fleet setting is unusable; names the config key.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {message}")]
pub struct FleetConfigError {
    pub key: &'static str,
    pub message: String,
}

/// Checks the settings a broker will not explain well later.
pub fn validate(config: &FleetConfig) -> Result<(), FleetConfigError> {
    let bad = |key, message: String| Err(FleetConfigError { key, message });
    if config.servers.is_empty() {
        return bad("events_broker", "at least one broker URL is needed".into());
    }
    for server in &config.servers {
        if let Err(e) = server.parse::<async_nats::ServerAddr>() {
            return bad(
                "events_broker",
                format!("`{server}` is not a broker URL: {e}"),
            );
        }
    }
    // Durable consumer and stream names may not hold subject separators or wildcards.
    let is_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !is_name(&config.node_id) {
        return bad(
            "node_id",
            format!(
                "`{}` must be 1 to 64 letters, digits, `-` or `_`",
                config.node_id
            ),
        );
    }
    if !is_name(&config.stream) {
        return bad(
            "events_stream",
            format!(
                "`{}` must be 1 to 64 letters, digits, `-` or `_`",
                config.stream
            ),
        );
    }
    let token_ok = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !config.subject_prefix.split('.').all(token_ok) {
        return bad(
            "events_subject_prefix",
            format!(
                "`{}` must be dot-separated tokens of letters, digits, `-` or `_`",
                config.subject_prefix
            ),
        );
    }
    if !(1..=4096).contains(&config.partitions) {
        return bad(
            "events_partitions",
            format!("{} is not between 1 and 4096", config.partitions),
        );
    }
    if config.retention < Duration::from_secs(60) {
        return bad(
            "events_retention_hours",
            "the stream must keep events for longer than that".into(),
        );
    }
    Ok(())
}

/// What a node's fleet link is doing, for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetStatus {
    pub node_id: String,
    pub servers: Vec<String>,
    /// `connected`, `disconnected` or `pending` (never connected yet).
    pub broker: &'static str,
    pub outbox_depth: u64,
    pub consumer_lag: u64,
    pub events_forwarded: u64,
    pub remote_events_applied: u64,
    pub duplicates_dropped: u64,
}

/// Running totals for the admin API (the metrics have them too, per name).
#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    applied: AtomicU64,
    duplicates: AtomicU64,
    lag: AtomicU64,
}

/// What the forwarder and the consumer share.
#[derive(Debug)]
struct Link {
    config: FleetConfig,
    jetstream: async_nats::jetstream::Context,
    profiles: Arc<Profiles>,
    /// Where events from other nodes are attributed to this node's exposures.
    outcomes: Option<Arc<crate::outcomes::Outcomes>>,
    /// Applies erasures other nodes accepted.
    eraser: Arc<crate::privacy::Eraser>,
    metrics: Arc<Metrics>,
    counters: Counters,
}

/// A node's running fleet link: the forwarder, the consumer and the policy notices.
#[derive(Debug)]
pub struct Fleet {
    link: Arc<Link>,
    client: async_nats::Client,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Connects in the background and starts forwarding, consuming and listening for policy
    /// notices (waking each of `followers` when its policy or tag is announced); must run inside a
    /// tokio runtime. Accepted events wait in the outbox while the broker is away (the outbox
    /// must be enabled before the node accepts its first event: [`crate::profiles::events::EventLog::enable_outbox`]).
    pub async fn start(
        config: FleetConfig,
        profiles: Arc<Profiles>,
        outcomes: Option<Arc<crate::outcomes::Outcomes>>,
        eraser: Arc<crate::privacy::Eraser>,
        metrics: Arc<Metrics>,
        followers: Vec<Follower>,
    ) -> Result<Fleet, connection::ConnectError> {
        let client = connection::connect(&config).await?;
        let link = Arc::new(Link {
            config: config.clone(),
            jetstream: connection::jetstream(client.clone()),
            profiles,
            outcomes,
            eraser,
            metrics: metrics.clone(),
            counters: Counters::default(),
        });
        let mut tasks = vec![
            tokio::spawn(forward::run(link.clone())),
            tokio::spawn(consume::run(link.clone())),
            tokio::spawn(connection::watch(client.clone(), metrics)),
            tokio::spawn(notices::listen(
                client.clone(),
                config.clone(),
                Arc::new(followers),
            )),
        ];
        if let Some(outcomes) = &link.outcomes {
            tasks.push(tokio::spawn(outcomes::forward(
                link.clone(),
                outcomes.clone(),
            )));
            tasks.push(tokio::spawn(outcomes::consume(
                link.clone(),
                outcomes.clone(),
            )));
        }
        Ok(Fleet {
            link,
            client,
            tasks,
        })
    }

    /// Tells the fleet a policy version was published here (in the background).
    pub fn announce(&self, policy: &str, digest: &str, reference: Option<String>) {
        let notice = PolicyNotice {
            policy: policy.to_owned(),
            digest: digest.to_owned(),
            reference,
            origin: self.link.config.node_id.clone(),
        };
        let (client, config) = (self.client.clone(), self.link.config.clone());
        tokio::spawn(async move { notices::announce(&client, &config, &notice).await });
    }

    pub fn status(&self) -> FleetStatus {
        use std::sync::atomic::Ordering::Relaxed;
        let Link {
            config,
            profiles,
            counters,
            ..
        } = &*self.link;
        FleetStatus {
            node_id: config.node_id.clone(),
            servers: config.servers.clone(),
            broker: connection::state_name(&self.client),
            outbox_depth: profiles.event_log().outbox_depth().unwrap_or(0),
            consumer_lag: counters.lag.load(Relaxed),
            events_forwarded: counters.forwarded.load(Relaxed),
            remote_events_applied: counters.applied.load(Relaxed),
            duplicates_dropped: counters.duplicates.load(Relaxed),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FleetConfig {
        FleetConfig {
            servers: vec!["nats://127.0.0.1:4222".into()],
            node_id: "edge-fra-1".into(),
            stream: "TAILOR_EVENTS".into(),
            subject_prefix: "tailor".into(),
            partitions: 64,
            retention: Duration::from_secs(7 * 86_400),
            credentials: Credentials::None,
            tls: Tls::default(),
        }
    }

    #[test]
    fn a_customer_always_maps_to_one_partition_subject() {
        let config = config();
        let subject = config.event_subject("cust-000042");
        assert_eq!(subject, config.event_subject("cust-000042"));
        let partition: u32 = subject.rsplit('.').next().unwrap().parse().unwrap();
        assert!(partition < 64);
        assert!(subject.starts_with("tailor.events."));
        let spread: std::collections::HashSet<String> = (0..1000)
            .map(|i| config.event_subject(&format!("cust-{i:06}")))
            .collect();
        assert!(spread.len() > 50, "{} partitions used", spread.len());
    }

    #[test]
    fn bad_settings_name_their_key() {
        type Tweak = fn(&mut FleetConfig);
        let cases: [(Tweak, &str); 6] = [
            (|c| c.servers.clear(), "events_broker"),
            (|c| c.servers = vec!["http://[::1".into()], "events_broker"),
            (|c| c.node_id = "edge.fra".into(), "node_id"),
            (|c| c.stream = "a b".into(), "events_stream"),
            (
                |c| c.subject_prefix = "tailor.>".into(),
                "events_subject_prefix",
            ),
            (|c| c.partitions = 0, "events_partitions"),
        ];
        assert!(validate(&config()).is_ok());
        for (change, key) in cases {
            let mut c = config();
            change(&mut c);
            let error = validate(&c).unwrap_err();
            assert_eq!(error.key, key, "{error}");
        }
    }
}
