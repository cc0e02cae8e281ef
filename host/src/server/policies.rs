//! `/admin/v1/policies[/{name}[/rollback|/promote|/abort]]`: what a node serves, publishing,
//! rollback and canaries. Changes run off the request threads and one at a time.

use super::AppState;
use super::auth::Caller;
use super::errors::{ApiError, ApiErrorKind};
use crate::engine::ConfigProblem;
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
            "config": config_text(&entry.active),
            "cost": entry.active.cost.summary(),
            "scheduling": entry.active.lane.usage(),
        },
        "canary": entry.canary.as_ref().map(|c| serde_json::json!({
            "digest": c.version.digest,
            "contract": c.version.loaded.contract().as_str(),
            "percent": c.percent,
            "publish_to_first_decision_ms": first_decision_ms(&c.version),
            "config": config_text(&c.version),
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
    /// Why, kept in the policy's history (at most 500 characters).
    note: Option<String>,
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
        note: body.note,
        by: None,
        node_signs: false,
    })
}

/// A version's config document as indented JSON text (`null` for a policy without one).
fn config_text(version: &crate::registry::PolicyVersion) -> Option<String> {
    let document = version.loaded.config().json();
    (!document.is_null())
        .then(|| serde_json::to_string_pretty(document).ok())
        .flatten()
}

/// `PUT /admin/v1/policies/{name}`. An editor may change the config only; a change from the
/// console is signed by the node's config-signing key when it has one.
pub(super) async fn publish(
    state: &AppState,
    name: &str,
    body: &[u8],
    caller: &Caller,
) -> Result<serde_json::Value, ApiError> {
    let mut request = parse_publish(body)?;
    super::console::refuse_component(caller.role, request.component.is_some())?;
    let console = caller.session.is_some();
    request.node_signs = console && request.signature.is_none() && request.component.is_none();
    request.by = Some(caller.describe().to_owned());
    let name = name.to_owned();
    change(state, move |lifecycle| lifecycle.publish(&name, request)).await
}

/// `GET /admin/v1/policies/{name}/schema`: the JSON Schema of the active version's config.
pub(super) async fn schema(state: &AppState, name: &str) -> Result<super::Response, ApiError> {
    let entry = state.registry.entry(name).ok_or_else(|| unknown(name))?;
    let engine = state.engine.clone();
    let schema = super::blocking("aborted", move || {
        engine.config_schema(&entry.active.loaded)
    })
    .await?
    .map_err(|e| {
        ApiError::new(
            ApiErrorKind::Unprocessable,
            "config_schema_failed",
            None,
            format!("the policy could not describe its config: {e}"),
        )
    })?;
    let Some(schema) = schema else {
        return Err(ApiError::new(
            ApiErrorKind::NotFound,
            "no_schema",
            None,
            format!("policy {name:?} describes no schema for its config"),
        ));
    };
    let mut response = hyper::Response::new(super::full(schema));
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/schema+json"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// A draft config to check (`validate`) or try (`preview`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Draft {
    /// The config document's text.
    config: String,
}

/// `POST /admin/v1/policies/{name}/validate`: the problems the active version's component
/// finds in a draft config — the checks a publish of it would meet.
pub(super) async fn validate(
    state: &AppState,
    name: &str,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let draft: Draft = super::parse_json(body)?;
    let entry = state.registry.entry(name).ok_or_else(|| unknown(name))?;
    let engine = state.engine.clone();
    let problems = super::blocking("aborted", move || {
        draft_problems(&engine, &entry.active.loaded, &draft.config)
    })
    .await??;
    Ok(serde_json::json!({ "valid": problems.is_empty(), "problems": problems }))
}

/// The problems of config `text` under `base`'s component: not JSON (at the line and column),
/// the node's own rules for experiments and outcomes, then the policy's checks.
pub(super) fn draft_problems(
    engine: &crate::engine::Engine,
    base: &crate::engine::LoadedPolicy,
    text: &str,
) -> Result<Vec<ConfigProblem>, ApiError> {
    let problem = |message: String| ConfigProblem {
        path: String::new(),
        message,
    };
    let document = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(document) => document,
        Err(e) => return Ok(vec![problem(format!("not valid JSON: {e}"))]),
    };
    if let Err(e) = crate::outcomes::definition::parse(&document) {
        return Ok(vec![problem(e.to_string())]);
    }
    let draft = match base.with_config(Some(text)) {
        Ok(draft) => draft,
        Err(e) => return Ok(vec![problem(crate::report::chain(&e))]),
    };
    engine.check_config(&draft).map_err(|e| {
        ApiError::new(
            ApiErrorKind::Unprocessable,
            "config_check_failed",
            Some("config".into()),
            format!("the policy could not check the config: {e}"),
        )
    })
}

/// The optional body of a rollback, promote or abort.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeNote {
    /// Why, kept in the policy's history (at most 500 characters).
    note: Option<String>,
}

/// A change's note from its body (which may be empty).
fn change_note(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let ChangeNote { note } = super::parse_json(body)?;
    match note {
        Some(note) if note.chars().count() > crate::lifecycle::MAX_NOTE_CHARS => {
            Err(ApiError::field(
                ApiErrorKind::Unprocessable,
                "invalid_body",
                "note",
                format!(
                    "note must be at most {} characters",
                    crate::lifecycle::MAX_NOTE_CHARS
                ),
            ))
        }
        note => Ok(note),
    }
}

pub(super) async fn act(
    state: &AppState,
    route: PolicyRoute<'_>,
    caller: Option<&Caller>,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let by = caller.map(|c| c.describe().to_owned());
    match route {
        PolicyRoute::Rollback(name) => {
            let (name, note) = (name.to_owned(), change_note(body)?);
            change(state, move |l| l.rollback(&name, Trigger::Manual, note, by)).await
        }
        PolicyRoute::Promote(name) => {
            let (name, note) = (name.to_owned(), change_note(body)?);
            change(state, move |l| l.promote(&name, note, by)).await
        }
        PolicyRoute::Abort(name) => {
            let (name, note) = (name.to_owned(), change_note(body)?);
            change(state, move |l| {
                l.abort_canary(&name, Trigger::Manual, note, by)
            })
            .await
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

pub(super) fn unknown(name: &str) -> ApiError {
    ApiError::new(
        ApiErrorKind::NotFound,
        "unknown_policy",
        None,
        format!("no policy named {name:?}"),
    )
}
