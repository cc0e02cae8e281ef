//! `POST /v1/events`: customer events, durable before the 202.

use super::AppState;
use super::errors::{ApiError, ApiErrorKind};
use crate::profiles::events::CustomerEvent;
use serde::Deserialize;
use std::sync::Arc;

/// Most events in one request.
pub const MAX_EVENTS_PER_BATCH: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventBatch {
    #[serde(deserialize_with = "tailor_types::object::list")]
    events: Vec<CustomerEvent>,
}

fn validate(batch: &EventBatch) -> Result<(), ApiError> {
    let bad = |field: String, code: &'static str, message: &str| {
        Err(ApiError::field(
            ApiErrorKind::Unprocessable,
            code,
            field,
            message,
        ))
    };
    if batch.events.is_empty() {
        return bad(
            "events".into(),
            "no_events",
            "at least one event is required",
        );
    }
    if batch.events.len() > MAX_EVENTS_PER_BATCH {
        return bad(
            "events".into(),
            "too_many_events",
            "at most 1000 events per request",
        );
    }
    for (i, event) in batch.events.iter().enumerate() {
        for (name, value) in [
            ("event_id", &event.event_id),
            ("customer_id", &event.customer_id),
            ("kind", &event.kind),
        ] {
            if value.is_empty() {
                return bad(
                    format!("events[{i}].{name}"),
                    "empty_field",
                    "must not be empty",
                );
            }
        }
        for (name, value) in [("decision_id", &event.decision_id), ("slot", &event.slot)] {
            if value.as_deref() == Some("") {
                return bad(
                    format!("events[{i}].{name}"),
                    "empty_field",
                    "must not be empty when present",
                );
            }
        }
        if event.slot.is_some() && event.decision_id.is_none() {
            return bad(
                format!("events[{i}].slot"),
                "missing_field",
                "a slot names a slot of the decision in decision_id",
            );
        }
        if event.kind == "consent_change" && event.consent.is_none() {
            return bad(
                format!("events[{i}].consent"),
                "missing_field",
                "a consent_change carries the new consent",
            );
        }
        if event.kind == "loyalty_change" && event.loyalty.is_none() {
            return bad(
                format!("events[{i}].loyalty"),
                "missing_field",
                "a loyalty_change carries the new tier",
            );
        }
    }
    Ok(())
}

/// Parses and validates an event batch.
pub(crate) fn parse_batch(body: &[u8]) -> Result<Vec<CustomerEvent>, ApiError> {
    let batch: EventBatch = super::parse_json(body)?;
    validate(&batch)?;
    Ok(batch.events)
}

/// Validates the batch, appends it to the log with an fsync'd commit (off the request threads),
/// and only then answers: an acknowledged event survives a crash right after the 202.
pub(super) async fn ingest(
    state: Arc<AppState>,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let events = parse_batch(body).inspect_err(|_| {
        state.metrics.event("rejected");
    })?;
    let received = events.len();
    let worker = state.clone();
    let (appended, events) = tokio::task::spawn_blocking(move || {
        let appended = worker.profiles.ingest(&events);
        (appended, events)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            ApiErrorKind::Internal,
            "ingest_aborted",
            None,
            e.to_string(),
        )
    })?;
    let appended = appended.map_err(|e| {
        let message = crate::report::chain(&e);
        ApiError::new(ApiErrorKind::Internal, "event_log", None, message)
    })?;
    let applied = appended.new;
    if let Some(outcomes) = &state.outcomes {
        outcomes.observe(appended.fresh_of(events));
    }
    for _ in 0..applied {
        state.metrics.event("applied");
    }
    for _ in applied + appended.forgotten..received {
        state.metrics.event("duplicate");
    }
    // Events of an erased customer from before the erasure are acknowledged and forgotten.
    let forgotten = appended.forgotten;
    Ok(serde_json::json!({
        "accepted": applied,
        "duplicates": received - applied - forgotten,
        "forgotten": forgotten,
    }))
}
