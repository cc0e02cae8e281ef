//! The outbox forwarder: publishes the events this node accepted to JetStream, oldest first,
//! and removes them from the outbox once the broker has acknowledged them.
//!
//! Each message carries the event id as its `Nats-Msg-Id`, so a re-send after a lost
//! acknowledgment is dropped by the stream's duplicate window (and, past it, by every
//! consumer's event-id dedupe). Nothing leaves the outbox unacknowledged: a broker that is
//! away only makes the outbox grow until it is back.

use super::connection::backoff;
use super::{Counters, FleetConfig, Link};
use crate::metrics::Metrics;
use crate::profiles::Profiles;
use crate::profiles::events::{Outbound, Outgoing};
use async_nats::jetstream::message::PublishMessage;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Most events published per round before their acknowledgments are awaited: enough that a
/// round keeps up with many clients posting batches at once (each round clears the outbox in
/// one commit, and commits take turns with the accepting requests'). Below the JetStream
/// context's 5,000 acknowledgments in flight, which a round holds until it awaits them.
const BATCH: usize = 4096;

/// Header naming the node that accepted an event.
pub(super) const ORIGIN_HEADER: &str = "Tailor-Origin";
/// Header with the wall-clock time (ms) the origin acknowledged the event.
pub(super) const ACCEPTED_HEADER: &str = "Tailor-Accepted-Ms";
/// Header marking a message that is not an event: `erasure` (its payload an
/// [`crate::privacy::Erasure`]).
pub(super) const KIND_HEADER: &str = "Tailor-Kind";
pub(super) const ERASURE_KIND: &str = "erasure";

pub(super) async fn run(link: Arc<Link>) {
    let Link {
        config,
        jetstream,
        profiles,
        metrics,
        counters,
        ..
    } = &*link;
    let mut failures = 0u32;
    let mut stream_ready = false;
    loop {
        let pending = {
            let profiles = profiles.clone();
            tokio::task::spawn_blocking(move || {
                let log = profiles.event_log();
                Ok::<_, crate::profiles::events::EventLogError>((
                    log.outbox(BATCH)?,
                    log.outbox_depth()?,
                ))
            })
            .await
        };
        let (pending, depth) = match pending {
            Ok(Ok(read)) => read,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot read the outbox");
                tokio::time::sleep(backoff(5)).await;
                continue;
            }
            Err(_) => return,
        };
        metrics
            .fleet_outbox_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        if pending.is_empty() {
            // Woken by the next accepted event; the timeout only bounds a missed wake-up.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), profiles.accepted().notified()).await;
            continue;
        }
        if !stream_ready {
            match super::connection::event_stream(jetstream, config).await {
                Ok(_) => stream_ready = true,
                Err(error) => {
                    tracing::debug!(%error, "events stream not available yet");
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            }
        }
        match publish(config, jetstream, &pending).await {
            Ok(through) => {
                failures = 0;
                record(profiles, metrics, counters, &pending, through).await;
            }
            Err((through, error)) => {
                tracing::warn!(%error, "forwarding events to the broker; will retry");
                if through.is_some() {
                    record(profiles, metrics, counters, &pending, through).await;
                }
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

/// Publishes `pending` in order and awaits the acknowledgments in order; returns the sequence
/// number of the last event of the acknowledged prefix (and the error that ended it, if any).
async fn publish(
    config: &FleetConfig,
    jetstream: &async_nats::jetstream::Context,
    pending: &[Outgoing],
) -> Result<Option<u64>, (Option<u64>, async_nats::Error)> {
    let mut acks = Vec::with_capacity(pending.len());
    let mut failed = None;
    for outgoing in pending {
        let (payload, id, kind) = match &outgoing.item {
            Outbound::Event(event) => (serde_json::to_vec(event), event.event_id.clone(), None),
            // Unique per node and outbox entry: a re-send is dropped like an event's.
            Outbound::Erasure(erasure) => (
                serde_json::to_vec(erasure),
                format!("erasure-{}-{}", config.node_id, outgoing.seq),
                Some(ERASURE_KIND),
            ),
        };
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => {
                failed = Some(e.into());
                break;
            }
        };
        let mut message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&id)
            .header(ORIGIN_HEADER, config.node_id.as_str())
            .header(ACCEPTED_HEADER, outgoing.accepted_ms.to_string().as_str());
        if let Some(kind) = kind {
            message = message.header(KIND_HEADER, kind);
        }
        match jetstream
            .send_publish(config.event_subject(outgoing.item.customer_id()), message)
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
    for (outgoing, ack) in pending.iter().zip(acks) {
        match ack.await {
            Ok(_) => through = Some(outgoing.seq),
            Err(e) => {
                failed.get_or_insert(e.into());
                break;
            }
        }
    }
    match failed {
        None => Ok(through),
        Some(error) => Err((through, error)),
    }
}

/// Removes the acknowledged prefix from the outbox and counts it.
async fn record(
    profiles: &Arc<Profiles>,
    metrics: &Metrics,
    counters: &Counters,
    pending: &[Outgoing],
    through: Option<u64>,
) {
    let Some(through) = through else { return };
    let count = pending.iter().take_while(|o| o.seq <= through).count() as u64;
    let worker = profiles.clone();
    match tokio::task::spawn_blocking(move || worker.event_log().forwarded(through)).await {
        Ok(Ok(())) => {}
        // They are re-sent and dropped as duplicates: nothing is lost.
        Ok(Err(error)) => tracing::error!(%error, "cannot clear forwarded events from the outbox"),
        Err(_) => return,
    }
    counters.forwarded.fetch_add(count, Ordering::Relaxed);
    metrics.fleet_events_forwarded.inc_by(count);
}
