//! `/admin/v1/policies[/{name}[/rollback|/promote|/abort]]`: what a node serves, publishing,
//! rollback and canaries. Changes run off the request threads and one at a time.

use super::AppState;
use super::errors::{ApiError, ApiErrorKind};
use crate::lifecycle::rollback::Trigger;
use crate::lifecycle::{Lifecycle, PublishError, PublishRequest};
use crate::scheduler::ShareOverride;
use base64::Engine as _;
use serde::Deserialize;
use tailor_types::fixture::FixtureCase;

/// Largest publish request: a component of a few MiB, base64-encoded, with its fixtures.
pub(super) const MAX_PUBLISH_BYTES: usize = 16 << 20;

/// What a request under `/admin/v1/policies/{name}` asks of one policy (see `route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PolicyRoute<'a> {
    Policy(&'a str),
    Rollback(&'a str),
    Promote(&'a str),
    Abort(&'a str),
}

pub(super) fn list(state: &AppState) -> serde_json::Value {
    let policies: Vec<serde_json::Value> = state
        .registry
        .list()
        .into_iter()
        .map(|(name, entry)| {
            serde_json::json!({
                "name": name,
                "digest": entry.active.digest,
                "canary": entry.canary.as_ref().map(|c| serde_json::json!({
                    "digest": c.version.digest, "percent": c.percent,
                })),
            })
        })
        .collect();
    serde_json::json!({ "policies": policies })
}

/// One policy: what it serves, its versions and history, its delivery figures.
pub(super) fn describe(state: &AppState, name: &str) -> Result<serde_json::Value, ApiError> {
    let (Some(entry), Some(record)) = (state.registry.entry(name), state.lifecycle.record(name))
    else {
        return Err(unknown(name));
    };
    let first_decision_ms = |v: &crate::registry::PolicyVersion| {
        v.first_served_after().map(|d| d.as_secs_f64() * 1000.0)
    };
    let count = |actions: &[crate::lifecycle::Action]| record.count(|a| actions.contains(&a));
    use crate::lifecycle::Action::*;
    let share = entry.active.lane.share();
    Ok(serde_json::json!({
        "name": name,
        "active": {
            "digest": entry.active.digest,
            "contract": entry.active.loaded.contract().as_str(),
            "published_at_ms": record.active.published_at_ms,
            "signed_by": record.active.signed_by,
            "publish_to_first_decision_ms": first_decision_ms(&entry.active),
            "cost": entry.active.cost.summary(),
            "scheduling": entry.active.lane.usage(),
        },
        "canary": entry.canary.as_ref().map(|c| serde_json::json!({
            "digest": c.version.digest,
            "contract": c.version.loaded.contract().as_str(),
            "percent": c.percent,
            "publish_to_first_decision_ms": first_decision_ms(&c.version),
            "cost": c.version.cost.summary(),
            "scheduling": c.version.lane.usage(),
        })),
        "share": {
            "weight": share.weight,
            "max_concurrent": share.max_concurrent,
            "cpu_ms_per_second": share.cpu_per_second.map(|cpu| cpu.as_millis() as u64),
            "set_by_publish": record.share,
        },
        "previous": record.previous,
        "history": record.history,
        "refused": state.lifecycle.refusals(name),
        "delivery": {
            "changes": record.changes(),
            "rollbacks_manual": count(&[RolledBack]),
            "rollbacks_automatic": count(&[AutoRolledBack, CanaryAutoAborted]),
            "failed_publishes": state.lifecycle.refusals(name).len(),
            "change_failure_rate": record.change_failure_rate(),
        },
    }))
}

/// The wire form of a publish (`tailor publish` sends it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishBody {
    /// Standard base64 of the component bytes.
    component: Option<String>,
    /// The config document's exact text.
    config: Option<String>,
    signature: Option<String>,
    #[serde(default, deserialize_with = "tailor_types::object::list")]
    fixtures: Vec<FixtureCase>,
    canary_percent: Option<f64>,
    /// The policy's share of the decision threads from now on (kept when absent).
    #[serde(default, deserialize_with = "tailor_types::object::option")]
    share: Option<ShareOverride>,
}

/// Parses a publish request body into what the lifecycle takes.
pub(crate) fn parse_publish(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let body: PublishBody = super::parse_json(body)?;
    let component = body
        .component
        .map(|text| base64::engine::general_purpose::STANDARD.decode(text.trim()))
        .transpose()
        .map_err(|e| {
            ApiError::field(
                ApiErrorKind::BadRequest,
                "invalid_body",
                "component",
                format!("component is not standard base64: {e}"),
            )
        })?;
    Ok(PublishRequest {
        component,
        config: body.config,
        signature: body.signature,
        fixtures: body.fixtures,
        canary_percent: body.canary_percent,
        automated: false,
        share: body.share,
    })
}

pub(super) async fn publish(
    state: &AppState,
    name: &str,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let request = parse_publish(body)?;
    let name = name.to_owned();
    change(state, move |lifecycle| lifecycle.publish(&name, request)).await
}

pub(super) async fn act(
    state: &AppState,
    route: PolicyRoute<'_>,
) -> Result<serde_json::Value, ApiError> {
    match route {
        PolicyRoute::Rollback(name) => {
            let name = name.to_owned();
            change(state, move |l| l.rollback(&name, Trigger::Manual, None)).await
        }
        PolicyRoute::Promote(name) => {
            let name = name.to_owned();
            change(state, move |l| l.promote(&name)).await
        }
        PolicyRoute::Abort(name) => {
            let name = name.to_owned();
            change(state, move |l| l.abort_canary(&name, Trigger::Manual, None)).await
        }
        PolicyRoute::Policy(name) => describe(state, name),
    }
}

/// Runs a change on the blocking pool and maps its error to a response.
async fn change<T: serde::Serialize + Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Lifecycle) -> Result<T, PublishError> + Send + 'static,
) -> Result<serde_json::Value, ApiError> {
    let lifecycle = state.lifecycle.clone();
    let done = tokio::task::spawn_blocking(move || work(&lifecycle))
        .await
        .map_err(|e| {
            ApiError::new(
                ApiErrorKind::Internal,
                "change_aborted",
                None,
                e.to_string(),
            )
        })?;
    let value = done.map_err(ApiError::from)?;
    serde_json::to_value(value)
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, "encode", None, e.to_string()))
}

fn unknown(name: &str) -> ApiError {
    ApiError::new(
        ApiErrorKind::NotFound,
        "unknown_policy",
        None,
        format!("no policy named {name:?}"),
    )
}
