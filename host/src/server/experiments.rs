//! `/admin/v1/experiments`: each experiment's results (per arm exposures, conversions, rates,
//! lift and probability to beat control, the sample-ratio check); `/admin/v1/exposures`: the
//! exposure log as NDJSON, for a warehouse.

use super::errors::{ApiError, ApiErrorKind};
use super::{AppState, Response};
use crate::outcomes::Outcomes;
use crate::outcomes::stats::{self, ArmCounts};
use hyper::StatusCode;
use hyper::body::{Bytes, Frame};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a results request waits for the outcome thread to count what the node has already
/// acknowledged.
const SETTLE: Duration = Duration::from_secs(2);

fn outcomes(state: &AppState) -> Result<&Arc<Outcomes>, ApiError> {
    state.outcomes.as_ref().ok_or_else(|| {
        ApiError::new(
            ApiErrorKind::NotFound,
            "outcomes_off",
            None,
            "this node records no outcomes (outcome_retention_hours = 0)",
        )
    })
}

/// One experiment's results: the arms its serving config defines (in its order, with their
/// weights) and any other arm units were exposed to (weight 0: an arm since removed).
fn analyse(outcomes: &Outcomes, policy: &str, key: &str) -> serde_json::Value {
    let definitions = outcomes.definitions(policy);
    let definition = definitions.experiment(key);
    let seen = outcomes.arms(policy, key);
    let mut arms: Vec<ArmCounts> = definition
        .map(|d| {
            d.arms
                .iter()
                .map(|(variant, weight)| ArmCounts {
                    variant: variant.clone(),
                    weight: *weight,
                    exposures: 0,
                    conversions: 0,
                    value: 0.0,
                })
                .collect()
        })
        .unwrap_or_default();
    for (variant, counts) in seen {
        let arm = match arms.iter_mut().position(|a| a.variant == variant) {
            Some(index) => &mut arms[index],
            None => {
                arms.push(ArmCounts {
                    variant,
                    // An experiment the config does not define: every arm seen counts equally.
                    weight: if definition.is_some() { 0.0 } else { 1.0 },
                    exposures: 0,
                    conversions: 0,
                    value: 0.0,
                });
                let last = arms.len() - 1;
                &mut arms[last]
            }
        };
        arm.exposures = counts.trials;
        arm.conversions = counts.successes;
        arm.value = counts.value;
    }
    let rule = definition.map_or(&definitions.items, |d| &d.outcomes);
    let analysis = stats::analyze(&arms, definition.map_or(0, |d| d.control));
    let mut value = serde_json::to_value(&analysis).unwrap_or_default();
    if let serde_json::Value::Object(object) = &mut value {
        let mut head = serde_json::Map::new();
        head.insert("key".into(), key.into());
        head.insert("policy".into(), policy.into());
        head.insert("defined".into(), definition.is_some().into());
        head.insert(
            "outcomes".into(),
            serde_json::json!({
                "kinds": rule.kinds,
                "window_hours": rule.window_ms as f64 / 3_600_000.0,
            }),
        );
        head.insert("method".into(), "bayesian-beta-binomial".into());
        head.append(object);
        // With a broker the arms above are the fleet's (a unit seen on two nodes is one
        // unit); each node's own counts follow.
        let nodes = outcomes.arms_by_node(policy, key);
        if !nodes.is_empty() {
            let nodes: Vec<serde_json::Value> = nodes
                .into_iter()
                .map(|(node, arms)| {
                    let arms: Vec<serde_json::Value> = arms
                        .into_iter()
                        .map(|(variant, c)| {
                            serde_json::json!({
                                "variant": variant,
                                "exposures": c.trials,
                                "conversions": c.successes,
                                "value": c.value,
                            })
                        })
                        .collect();
                    serde_json::json!({"node": node, "arms": arms})
                })
                .collect();
            head.insert("nodes".into(), nodes.into());
        }
        *object = head;
    }
    value
}

/// Every experiment units were exposed to, on this node.
pub(super) async fn list(state: &Arc<AppState>) -> Result<serde_json::Value, ApiError> {
    let outcomes = outcomes(state)?.clone();
    let results = super::blocking("results_aborted", move || {
        let _ = outcomes.settle(SETTLE);
        outcomes
            .experiments()
            .into_iter()
            .map(|(policy, key)| analyse(&outcomes, &policy, &key))
            .collect::<Vec<_>>()
    })
    .await?;
    Ok(serde_json::json!({ "experiments": results }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExperimentQuery {
    /// The policy whose experiment it is, when two policies use the same key.
    policy: Option<String>,
}

/// One experiment's results, by key.
pub(super) async fn describe(
    state: &Arc<AppState>,
    key: &str,
    query: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let query: ExperimentQuery = super::parse_query(query)?;
    let outcomes = outcomes(state)?.clone();
    let key = key.to_owned();
    super::blocking("results_aborted", move || {
        let _ = outcomes.settle(SETTLE);
        let mut policies: Vec<String> = outcomes
            .experiments()
            .into_iter()
            .filter(|(_, k)| *k == key)
            .map(|(policy, _)| policy)
            .collect();
        // An experiment a serving config defines has results before its first exposure.
        for (name, _) in outcomes.registry().list() {
            if !policies.contains(&name) && outcomes.definitions(&name).experiment(&key).is_some() {
                policies.push(name);
            }
        }
        if let Some(policy) = &query.policy {
            policies.retain(|p| p == policy);
        }
        match policies.as_slice() {
            [] => Err(ApiError::new(
                ApiErrorKind::NotFound,
                "unknown_experiment",
                Some("key".into()),
                format!("no experiment {key:?} has exposures or a definition here"),
            )),
            [policy] => Ok(analyse(&outcomes, policy, &key)),
            several => Err(ApiError::new(
                ApiErrorKind::BadRequest,
                "ambiguous_experiment",
                Some("policy".into()),
                format!(
                    "policies {several:?} each have an experiment {key:?}: name one with ?policy="
                ),
            )),
        }
    })
    .await?
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExposureQuery {
    /// Exposures decided at or after this time (ms since the Unix epoch); all retained ones
    /// when absent.
    since: Option<i64>,
}

/// Chunks of about this size are sent as the log is read.
const CHUNK_BYTES: usize = 64 << 10;

/// The exposures since a time, streamed as NDJSON while the log is read (off the request
/// threads); the stream ends with the log as it was when the request came.
pub(super) async fn exposures(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let query: ExposureQuery = super::parse_query(query)?;
    let outcomes = outcomes(state)?.clone();
    let since = query.since.unwrap_or(i64::MIN);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let _ = outcomes.settle(SETTLE);
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024);
        let mut open = true;
        let result = outcomes.log().exposures_since(since, |line| {
            chunk.extend_from_slice(line);
            chunk.push(b'\n');
            if chunk.len() >= CHUNK_BYTES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 1024));
                // The client went away: stop reading.
                open = sender
                    .blocking_send(Ok(Frame::data(Bytes::from(full))))
                    .is_ok();
            }
            open
        });
        if !open {
            return;
        }
        let last = match result {
            Ok(()) if chunk.is_empty() => return,
            Ok(()) => Ok(Frame::data(Bytes::from(chunk))),
            Err(error) => {
                tracing::error!(error = %crate::report::chain(&error), "the exposure stream stopped early");
                Err(std::io::Error::other(error))
            }
        };
        let _ = sender.blocking_send(last);
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|frame| (frame, receiver))
    });
    let body = http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(stream));
    let mut response = hyper::Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
