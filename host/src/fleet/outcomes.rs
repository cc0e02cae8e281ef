//! Outcome records between the nodes of a fleet. This node's own exposures and conversions are
//! published from the outcome log, which is the outbox: a saved cursor says how far the broker
//! has acknowledged, so a node killed or cut off from the broker resumes where it stopped.
//! Every other node's records are applied to this node's fleet-wide counts (and kept in its
//! log) before the broker is told, so a re-delivery is all a crash can cause, and the outcome
//! store drops those.

use super::connection::backoff;
use super::forward::ORIGIN_HEADER;
use super::{FleetConfig, Link};
use crate::outcomes::Outcomes;
use crate::outcomes::log::Cursor;
use crate::outcomes::record::Record;
use async_nats::jetstream::consumer::{self, PullConsumer};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Records published, or fetched and applied, in one round.
const BATCH: usize = 1024;
/// How often the forwarder looks for new records when it has none.
const POLL: Duration = Duration::from_millis(200);
/// How long applying a fetched batch may take before it is handed back for re-delivery.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Beside the segments: present once this log has a consumer position in the fleet's stream.
const JOINED: &str = "joined";

impl FleetConfig {
    /// The JetStream stream of the fleet's outcome records.
    pub fn outcome_stream(&self) -> String {
        format!("{}_OUTCOMES", self.stream)
    }

    /// The subject this node publishes its outcome records on.
    pub fn outcome_subject(&self) -> String {
        format!("{}.outcomes.{}", self.subject_prefix, self.node_id)
    }
}

async fn stream(
    jetstream: &async_nats::jetstream::Context,
    config: &FleetConfig,
) -> Result<async_nats::jetstream::stream::Stream, async_nats::Error> {
    use async_nats::jetstream::stream;
    Ok(jetstream
        .get_or_create_stream(stream::Config {
            name: config.outcome_stream(),
            subjects: vec![format!("{}.outcomes.>", config.subject_prefix)],
            max_age: config.retention,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..stream::Config::default()
        })
        .await?)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Publishes this node's records, oldest first, and saves the cursor past each acknowledged
/// prefix.
pub(super) async fn forward(link: Arc<Link>, outcomes: Arc<Outcomes>) {
    let Some(mut cursor) = blocking({
        let outcomes = outcomes.clone();
        move || outcomes.log().forwarded()
    })
    .await
    else {
        return;
    };
    let mut failures = 0u32;
    let mut ready = false;
    loop {
        let read = blocking({
            let (outcomes, cursor) = (outcomes.clone(), cursor.clone());
            move || outcomes.log().local_after(&cursor, BATCH)
        })
        .await;
        let pending = match read {
            Some(Ok(pending)) => pending,
            Some(Err(error)) => {
                tracing::error!(error = %crate::report::chain(&error), "cannot read the outcome log to forward it");
                tokio::time::sleep(backoff(5)).await;
                continue;
            }
            None => return,
        };
        if pending.is_empty() {
            tokio::time::sleep(POLL).await;
            continue;
        }
        if !ready {
            match stream(&link.jetstream, &link.config).await {
                Ok(_) => ready = true,
                Err(error) => {
                    tracing::debug!(%error, "outcome stream not available yet");
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            }
        }
        let (through, error) = publish(&link.config, &link.jetstream, &pending).await;
        if let Some(index) = through {
            let next = pending[index].0.clone();
            let saved = blocking({
                let (outcomes, next) = (outcomes.clone(), next.clone());
                move || outcomes.log().set_forwarded(&next)
            })
            .await;
            if let Some(Err(error)) = saved {
                // Re-published after a restart and dropped as duplicates: nothing is lost.
                tracing::warn!(error = %crate::report::chain(&error), "cannot save how far outcome records were forwarded");
            }
            cursor = next;
            link.metrics
                .fleet_outcomes_forwarded
                .inc_by((index + 1) as u64);
        }
        match error {
            None => failures = 0,
            Some(error) => {
                tracing::warn!(%error, "forwarding outcome records to the broker; will retry");
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

/// Publishes in order and awaits the acknowledgments in order: the index of the last record
/// of the acknowledged prefix, and the error that ended it.
async fn publish(
    config: &FleetConfig,
    jetstream: &async_nats::jetstream::Context,
    pending: &[(Cursor, Vec<u8>)],
) -> (Option<usize>, Option<async_nats::Error>) {
    let mut acks = Vec::with_capacity(pending.len());
    let mut failed = None;
    for (cursor, line) in pending {
        let id = format!("{}:{}:{}", config.node_id, cursor.segment, cursor.offset);
        let message = PublishMessage::build()
            .payload(line.clone().into())
            .message_id(&id)
            .header(ORIGIN_HEADER, config.node_id.as_str());
        match jetstream
            .send_publish(config.outcome_subject(), message)
            .await
        {
            Ok(ack) => acks.push(ack),
            Err(e) => {
                failed = Some(e.into());
                break;
            }
        }
    }
    let mut through = None;
    for (index, ack) in acks.into_iter().enumerate() {
        match ack.await {
            Ok(_) => through = Some(index),
            Err(e) => {
                failed.get_or_insert(e.into());
                break;
            }
        }
    }
    (through, failed)
}

/// Applies every other node's records, then acknowledges them.
pub(super) async fn consume(link: Arc<Link>, outcomes: Arc<Outcomes>) {
    let mut failures = 0u32;
    loop {
        let consumer = match durable_consumer(&link, &outcomes).await {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::debug!(%error, "outcome consumer not available yet");
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        loop {
            let batch = match consumer
                .fetch()
                .max_messages(BATCH)
                .expires(Duration::from_secs(1))
                .messages()
                .await
            {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::debug!(%error, "fetching outcome records");
                    break;
                }
            };
            let messages: Vec<Message> = batch.filter_map(|m| async { m.ok() }).collect().await;
            if messages.is_empty() {
                continue;
            }
            apply(&link, &outcomes, &messages).await;
        }
        tokio::time::sleep(backoff(1)).await;
    }
}

async fn apply(link: &Link, outcomes: &Arc<Outcomes>, messages: &[Message]) {
    let mut records = Vec::with_capacity(messages.len());
    for message in messages {
        let origin = message
            .headers
            .as_ref()
            .and_then(|h| h.get(ORIGIN_HEADER))
            .map(|v| v.as_str().to_owned());
        let Some(origin) = origin.filter(|o| *o != link.config.node_id) else {
            // This node's own, or without an origin: nothing to apply.
            continue;
        };
        match serde_json::from_slice::<Record>(&message.payload) {
            Ok(mut record) => {
                record.set_node(origin);
                records.push(record);
            }
            Err(error) => {
                tracing::warn!(subject = %message.subject, %error, "a broker message that is not an outcome record was dropped");
                link.metrics.fleet_messages_rejected.inc();
            }
        }
    }
    let received = records.len();
    let worker = outcomes.clone();
    let settled = blocking(move || {
        worker.receive(records);
        worker.settle(APPLY_TIMEOUT)
    })
    .await
    .unwrap_or(false);
    if !settled {
        for message in messages {
            let _ = message.ack_with(AckKind::Nak(None)).await;
        }
        return;
    }
    link.metrics.fleet_outcomes_received.inc_by(received as u64);
    for message in messages {
        if let Err(error) = message.ack().await {
            tracing::debug!(%error, "acknowledging an applied outcome record (it will be re-delivered and dropped)");
        }
    }
}

/// This node's consumer of the outcome stream, created on first use: every record from the
/// start of the retention. A log that never read the stream starts over from its beginning.
async fn durable_consumer(
    link: &Link,
    outcomes: &Arc<Outcomes>,
) -> Result<PullConsumer, async_nats::Error> {
    let config = &link.config;
    let stream = stream(&link.jetstream, config).await?;
    let marker = outcomes.log().dir().join(JOINED);
    let joined = marker.exists();
    if !joined {
        // A stale position of a wiped log would skip what it no longer has.
        let _ = stream.delete_consumer(&config.node_id).await;
    }
    let consumer = stream
        .get_or_create_consumer(
            &config.node_id,
            consumer::pull::Config {
                durable_name: Some(config.node_id.clone()),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 20_000,
                ..consumer::pull::Config::default()
            },
        )
        .await?;
    if !joined {
        std::fs::write(&marker, b"")?;
    }
    Ok(consumer)
}
