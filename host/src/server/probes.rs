//! `GET /healthz`, `GET /readyz` and `GET /metrics`: what an orchestrator and Prometheus ask.
//!
//! `/healthz` answers 200 while the process serves at all; `/readyz` answers 200 with what the
//! node serves, and 503 once shutdown has begun, so a load balancer stops sending while the
//! requests in flight finish.

use super::errors::{ApiError, ApiErrorKind};
use super::{AppState, Response, json};
use crate::metrics;
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderValue};

pub(super) fn health() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#.into())
}

pub(super) fn ready(state: &AppState) -> Response {
    if state.drain.is_draining() {
        return ApiError::new(
            ApiErrorKind::NotReady,
            "draining",
            None,
            "the node is shutting down: it finishes the requests in flight and takes no more",
        )
        .into_response();
    }
    let generation = state.profiles.current();
    let body = serde_json::json!({
        "status": "ready",
        "policies": state.registry.list().len(),
        "snapshot_version": generation.store.header.snapshot_version,
        "profiles": generation.store.profiles,
    });
    json(StatusCode::OK, body.to_string())
}

/// The Prometheus text exposition; the in-flight gauge (this scrape included) is read now.
pub(super) fn metrics(state: &AppState) -> Response {
    let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    state
        .metrics
        .http_in_flight
        .set(gauge(state.drain.in_flight() as u64));
    if let Some(outcomes) = &state.outcomes {
        state
            .metrics
            .outcome_log_bytes
            .set(gauge(outcomes.log().bytes()));
    }
    let mut response = hyper::Response::new(super::full(state.metrics.render()));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}
