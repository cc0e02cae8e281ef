//! This node's durable consumer of the fleet's events: other nodes' events are applied through
//! the same log and overlay as local ones, committed durably before the broker is told, so a
//! node killed mid-stream resumes where it was and re-deliveries are dropped by event id.

use super::connection::{backoff, event_stream};
use super::forward::{ACCEPTED_HEADER, ERASURE_KIND, KIND_HEADER, ORIGIN_HEADER};
use super::{Counters, FleetConfig, Link};
use crate::metrics::Metrics;
use crate::profiles::Profiles;
use crate::profiles::events::CustomerEvent;
use async_nats::jetstream::consumer::{self, PullConsumer};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Messages fetched and applied in one commit.
const BATCH: usize = 2048;
/// How long one fetch waits for messages when the stream is quiet.
const FETCH_WAIT: Duration = Duration::from_secs(1);

pub(super) async fn run(link: Arc<Link>) {
    let Link {
        config,
        jetstream,
        profiles,
        outcomes,
        eraser,
        metrics,
        counters,
    } = &*link;
    let mut failures = 0u32;
    loop {
        let consumer = match durable_consumer(jetstream, config, profiles).await {
            Ok(consumer) => consumer,
            Err(error) => {
                tracing::debug!(%error, "events consumer not available yet");
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        // Fetch, apply, acknowledge, until the broker goes away; then set up again.
        loop {
            let batch = match consumer
                .fetch()
                .max_messages(BATCH)
                .expires(FETCH_WAIT)
                .messages()
                .await
            {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::debug!(%error, "fetching events");
                    break;
                }
            };
            let messages: Vec<Message> = batch.filter_map(|m| async { m.ok() }).collect().await;
            if messages.is_empty() {
                if consumer_gone(&consumer).await {
                    break;
                }
                continue;
            }
            if !apply(
                config,
                profiles,
                eraser,
                outcomes.as_deref(),
                metrics,
                counters,
                &messages,
            )
            .await
            {
                tokio::time::sleep(backoff(3)).await;
            }
        }
        tokio::time::sleep(backoff(1)).await;
    }
}

/// This node's consumer, created on first use: every event of the stream from the start of
/// its retention, acknowledged one by one. A data directory that has never read the stream
/// (new, or wiped under a node id the broker knows) starts over from the beginning.
async fn durable_consumer(
    jetstream: &async_nats::jetstream::Context,
    config: &FleetConfig,
    profiles: &Arc<Profiles>,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = event_stream(jetstream, config).await?;
    let worker = profiles.clone();
    let joined = tokio::task::spawn_blocking(move || worker.event_log().joined_fleet()).await??;
    if !joined {
        match stream.delete_consumer(&config.node_id).await {
            Ok(_) => {
                tracing::info!(node = %config.node_id, "a new event log reads the fleet's stream from its start")
            }
            Err(error) if not_found(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let consumer = stream
        .get_or_create_consumer(
            &config.node_id,
            consumer::pull::Config {
                durable_name: Some(config.node_id.clone()),
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                filter_subject: config.event_subjects(),
                max_ack_pending: 20_000,
                ..consumer::pull::Config::default()
            },
        )
        .await?;
    if !joined {
        let worker = profiles.clone();
        tokio::task::spawn_blocking(move || worker.event_log().mark_joined_fleet()).await??;
    }
    Ok(consumer)
}

/// Whether the broker answered that there is no such consumer.
fn not_found(error: &async_nats::jetstream::stream::ConsumerError) -> bool {
    matches!(
        error.kind(),
        async_nats::jetstream::stream::ConsumerErrorKind::JetStream(e) if e.code() == 404
    )
}

/// True when the consumer cannot be reached (the broker is away or lost it).
async fn consumer_gone(consumer: &PullConsumer) -> bool {
    let mut consumer = consumer.clone();
    consumer.info().await.is_err()
}

/// Applies one fetched batch durably, then acknowledges it; false if it could not be applied
/// (the messages are handed back for re-delivery).
async fn apply(
    config: &FleetConfig,
    profiles: &Arc<Profiles>,
    eraser: &Arc<crate::privacy::Eraser>,
    outcomes: Option<&crate::outcomes::Outcomes>,
    metrics: &Metrics,
    counters: &Counters,
    messages: &[Message],
) -> bool {
    let mut events = Vec::with_capacity(messages.len());
    let mut erasures = Vec::new();
    let mut accepted_at = Vec::with_capacity(messages.len());
    for message in messages {
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        // This node's own events come back too: it has them already.
        if header(ORIGIN_HEADER).as_deref() == Some(config.node_id.as_str()) {
            continue;
        }
        if header(KIND_HEADER).as_deref() == Some(ERASURE_KIND) {
            match serde_json::from_slice::<crate::privacy::Erasure>(&message.payload) {
                Ok(erasure) => erasures.push((erasure, header(ORIGIN_HEADER))),
                Err(error) => {
                    tracing::warn!(subject = %message.subject, %error, "a broker message that is not an erasure was dropped");
                    metrics.fleet_messages_rejected.inc();
                }
            }
            continue;
        }
        match serde_json::from_slice::<CustomerEvent>(&message.payload) {
            Ok(event) => {
                events.push(event);
                accepted_at.push(header(ACCEPTED_HEADER).and_then(|v| v.parse::<i64>().ok()));
            }
            Err(error) => {
                tracing::warn!(subject = %message.subject, %error, "a broker message that is not an event was dropped");
                metrics.fleet_messages_rejected.inc();
            }
        }
    }
    // Erasures first: the batch's events from before an erasure are then dropped as they are
    // appended (and any applied earlier were removed by it); the order within a batch does not
    // change what is kept.
    if !erasures.is_empty() {
        let eraser = eraser.clone();
        let erased = tokio::task::spawn_blocking(move || {
            for (erasure, origin) in &erasures {
                let by = format!("fleet ({})", origin.as_deref().unwrap_or("unknown node"));
                eraser.erase(erasure, &by, crate::profiles::events::Origin::Remote)?;
            }
            Ok::<_, crate::privacy::ErasureError>(())
        })
        .await;
        match erased {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(error = %crate::report::chain(&error), "cannot apply an erasure from the fleet; it will be re-delivered");
                for message in messages {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                }
                return false;
            }
            Err(_) => return false,
        }
    }
    if !events.is_empty() {
        let worker = profiles.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let appended = worker.ingest_remote(&events);
            (appended, events)
        })
        .await;
        let appended = match applied {
            Ok((Ok(appended), events)) => {
                if let Some(outcomes) = outcomes {
                    outcomes.observe(appended.fresh_of(events));
                }
                appended
            }
            Ok((Err(error), _)) => {
                tracing::error!(%error, "cannot record events from the fleet; they will be re-delivered");
                for message in messages {
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                }
                return false;
            }
            Err(_) => return false,
        };
        let now = crate::clock::now_ms();
        for at in accepted_at.into_iter().flatten() {
            let millis = u64::try_from(now.saturating_sub(at)).unwrap_or(0);
            metrics
                .fleet_replication_seconds
                .observe(Duration::from_millis(millis));
        }
        counters
            .applied
            .fetch_add(appended.new as u64, Ordering::Relaxed);
        counters
            .duplicates
            .fetch_add(appended.duplicates as u64, Ordering::Relaxed);
        metrics
            .fleet_remote_events_applied
            .inc_by(appended.new as u64);
        metrics
            .fleet_duplicates_dropped
            .inc_by(appended.duplicates as u64);
    }
    // Durable here: now the broker may forget them for this node.
    for message in messages {
        if let Err(error) = message.ack().await {
            tracing::debug!(%error, "acknowledging an applied event (it will be re-delivered and dropped)");
        }
    }
    if let Some(Ok(info)) = messages.last().map(Message::info) {
        counters.lag.store(info.pending, Ordering::Relaxed);
        metrics
            .fleet_consumer_lag
            .set(i64::try_from(info.pending).unwrap_or(i64::MAX));
    }
    true
}
