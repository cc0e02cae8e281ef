//! `POST /v1/decide`: every slot of a page or screen decided in one call.

use super::body::read_body;
use super::dispatch::{self, SlotWork};
use super::errors::{ApiError, ApiErrorKind};
use super::{AppState, Response, json};
use crate::engine::{Contract, Cost, DecisionError, ErrorCode, Evaluation};
use crate::outcomes::record::{ExposureRef, PackedExposures};
use crate::profiles::ProfileSource;
use crate::registry::PolicyVersion;
use futures_util::future::BoxFuture;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tailor_types::{
    Candidate, Channel, Consent, Context, Decision, DeviceClass, Page, Pairs, Profile, Reason,
    Value,
};

/// Who the decision is for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub customer_id: Option<String>,
    pub anonymous_id: Option<String>,
}

/// Request context shared by every slot.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestContext {
    #[serde(default, deserialize_with = "tailor_types::object::option")]
    pub page: Option<Page>,
    pub locale: Option<String>,
    pub store_id: Option<String>,
    #[serde(default)]
    pub device: DeviceClass,
    /// Decision time (ms since the Unix epoch); the server's clock when absent.
    #[serde(default, deserialize_with = "tailor_types::integer::option")]
    pub now_ms: Option<i64>,
    #[serde(default, with = "tailor_types::pairs")]
    pub attributes: Pairs<Value>,
}

/// One slot to decide.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotRequest {
    pub id: String,
    pub policy: String,
    #[serde(default, deserialize_with = "tailor_types::object::list")]
    pub candidates: Vec<Candidate>,
    /// What the slot shows if its policy fails; an empty `DEFAULT` decision when absent.
    #[serde(default, deserialize_with = "tailor_types::object::option")]
    pub default: Option<Decision>,
    /// Show no item an earlier slot of the request shows: the slot is decided after them, on
    /// the candidates they did not rank.
    #[serde(default)]
    pub dedupe: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub request_id: Option<String>,
    pub channel: Channel,
    #[serde(default, deserialize_with = "tailor_types::object::deserialize")]
    pub unit: Unit,
    #[serde(default, deserialize_with = "tailor_types::object::deserialize")]
    pub context: RequestContext,
    /// Consent of an anonymous visitor (from the channel's consent banner). A known customer's
    /// consent comes from their profile.
    #[serde(default, deserialize_with = "tailor_types::object::option")]
    pub consent: Option<Consent>,
    #[serde(deserialize_with = "tailor_types::object::list")]
    pub slots: Vec<SlotRequest>,
}

#[derive(Debug, Serialize)]
pub struct ProfileInfo {
    pub id: Option<String>,
    pub snapshot_version: String,
    pub age_seconds: i64,
    pub source: ProfileSource,
}

#[derive(Debug, Serialize)]
pub struct SlotError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct SlotResult {
    pub id: String,
    pub policy: String,
    /// Digest of the policy version that answered.
    pub version: String,
    #[serde(flatten)]
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SlotError>,
}

#[derive(Debug, Serialize)]
pub struct DecideResponse {
    pub decision_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub profile: ProfileInfo,
    pub slots: Vec<SlotResult>,
}

/// Checks the request and resolves each slot's policy version once, so every slot of the
/// request runs the version that was active when it was validated.
fn validate(
    request: &DecideRequest,
    state: &AppState,
) -> Result<Vec<Arc<PolicyVersion>>, ApiError> {
    let unprocessable = |field: String, code: &'static str, message: String| {
        Err(ApiError::field(
            ApiErrorKind::Unprocessable,
            code,
            field,
            message,
        ))
    };
    if request.slots.is_empty() {
        return unprocessable(
            "slots".into(),
            "no_slots",
            "at least one slot is required".into(),
        );
    }
    if request.slots.len() > state.config.max_slots {
        return unprocessable(
            "slots".into(),
            "too_many_slots",
            format!(
                "{} slots, at most {} per request",
                request.slots.len(),
                state.config.max_slots
            ),
        );
    }
    let mut seen = HashSet::new();
    let mut versions = Vec::with_capacity(request.slots.len());
    // One view of the registry for the whole request: every slot (two of one policy included)
    // answers from the versions that were serving at this instant, even when a swap lands
    // while the request runs.
    let policies = state.registry.snapshot();
    let unit = request
        .unit
        .customer_id
        .as_deref()
        .or(request.unit.anonymous_id.as_deref());
    for (i, slot) in request.slots.iter().enumerate() {
        if slot.id.is_empty() {
            return unprocessable(
                format!("slots[{i}].id"),
                "empty_slot_id",
                "slot id must not be empty".into(),
            );
        }
        if !seen.insert(slot.id.as_str()) {
            return unprocessable(
                format!("slots[{i}].id"),
                "duplicate_slot_id",
                format!("slot id {:?} appears twice", slot.id),
            );
        }
        let resolved = policies.resolve(&slot.policy, unit);
        let Some(version) = resolved else {
            return unprocessable(
                format!("slots[{i}].policy"),
                "unknown_policy",
                format!("no policy named {:?}", slot.policy),
            );
        };
        versions.push(version);
    }
    if request.unit.customer_id.as_deref() == Some("") {
        return unprocessable(
            "unit.customer_id".into(),
            "empty_customer_id",
            "omit customer_id for anonymous visitors".into(),
        );
    }
    Ok(versions)
}

/// The HTTP side of a decision: JSON in, the body read before a decision slot is taken, and
/// the response marked personal (never stored by a shared cache) with its `server-timing`.
pub(super) async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            ApiErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            None,
            "send the request as application/json",
        ));
    }
    // The body first: a decision slot is held only while a decision runs, never while a
    // (possibly slow) client is still sending.
    let body = read_body(body, state.config.max_body_bytes).await?;
    let _permit = state.admit()?;
    let started = Instant::now();
    let response = decide(state, &body).await?;
    let elapsed = started.elapsed();
    let body = serde_json::to_string(&response)
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, "encode", None, e.to_string()))?;
    let mut response = json(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(timing) =
        HeaderValue::from_str(&format!("decide;dur={:.3}", elapsed.as_secs_f64() * 1000.0))
    {
        headers.insert("server-timing", timing);
    }
    Ok(response)
}

/// Decides every slot; a slot whose policy fails gets its default with reason `ERROR` and never
/// affects the others. Slots answer in request order.
pub(crate) async fn decide(state: &AppState, body: &[u8]) -> Result<DecideResponse, ApiError> {
    let request: DecideRequest = super::parse_json(body)?;
    decide_request(state, request, body).await
}

/// [`decide`] for a request already parsed (OFREP builds one from its evaluation context);
/// `body` is what the decision log keeps, with `decision_log_requests`.
pub(super) async fn decide_request(
    state: &AppState,
    mut request: DecideRequest,
    body: &[u8],
) -> Result<DecideResponse, ApiError> {
    let versions = validate(&request, state)?;
    let now_ms = request.context.now_ms.unwrap_or_else(crate::clock::now_ms);

    let lookup = state
        .profiles
        .lookup(request.unit.customer_id.as_deref(), || Profile {
            consent: request.consent.unwrap_or_default(),
            ..Profile::default()
        })
        .map_err(|e| {
            let message = crate::report::chain(&e);
            ApiError::new(ApiErrorKind::Internal, "profile_store", None, message)
        })?;
    let source = lookup.source.as_str();
    state.metrics.profile_lookup(source);
    let store = &lookup.generation.store;
    let (decision_id, logged) = state.next_decision();
    if logged {
        super::decision_log::request(
            state,
            &decision_id,
            &request,
            body,
            now_ms,
            &store.header.snapshot_version,
            source,
        );
    }

    let ctx = &request.context;
    let work = |slot: &mut SlotRequest, version: &Arc<PolicyVersion>| {
        let context = Context {
            channel: request.channel.clone(),
            slot: slot.id.clone(),
            page: ctx.page.clone(),
            locale: ctx.locale.clone(),
            store_id: ctx.store_id.clone(),
            device: ctx.device.clone(),
            now_ms,
            anonymous_id: request.unit.anonymous_id.clone(),
            attributes: ctx.attributes.clone(),
        };
        SlotWork {
            version: version.clone(),
            context,
            profile: lookup.profile.clone(),
            candidates: std::mem::take(&mut slot.candidates),
            fallback: fallback(slot),
        }
    };
    // Slots are decided as soon as they can (side by side on the decision threads, or inline);
    // slots of one 0.2.0 version are decided together, in one instance (`decide-page`). A
    // `dedupe` slot waits for the slots before it, and neither gets nor shows an item they show.
    // Answers come back in request order.
    let count = request.slots.len();
    let mut evaluations: Vec<Option<Evaluation>> = (0..count).map(|_| None).collect();
    let mut pending = Vec::new();
    for index in 0..count {
        if !request.slots[index].dedupe {
            pending.push(index);
            if index + 1 < count {
                continue;
            }
        }
        // The slots since the last `dedupe` slot, grouped by version in order of first use.
        let mut groups: Vec<(&Arc<PolicyVersion>, Vec<usize>)> = Vec::new();
        for slot in pending.drain(..) {
            let version = &versions[slot];
            match groups.iter_mut().find(|(v, _)| Arc::ptr_eq(v, version)) {
                Some((_, slots)) => slots.push(slot),
                None => groups.push((version, vec![slot])),
            }
        }
        let mut running: Vec<BoxFuture<'_, Vec<(usize, Evaluation)>>> = Vec::new();
        for (version, slots) in groups {
            if slots.len() > 1 && version.loaded.contract() != Contract::V0_1 {
                let works = slots
                    .iter()
                    .map(|&slot| work(&mut request.slots[slot], version))
                    .collect();
                running.push(Box::pin(async move {
                    slots
                        .into_iter()
                        .zip(dispatch::evaluate_page(state, works).await)
                        .collect()
                }));
            } else {
                for slot in slots {
                    let work = work(&mut request.slots[slot], version);
                    running.push(Box::pin(async move {
                        vec![(slot, dispatch::evaluate(state, work).await)]
                    }));
                }
            }
        }
        for (slot, evaluation) in futures_util::future::join_all(running)
            .await
            .into_iter()
            .flatten()
        {
            evaluations[slot] = Some(evaluation);
        }
        if !request.slots[index].dedupe {
            continue;
        }
        let shown: HashSet<String> = evaluations[..index]
            .iter()
            .flatten()
            .flat_map(|e| e.decision.items.iter())
            .map(|item| item.id.clone())
            .collect();
        let mut unique = work(&mut request.slots[index], &versions[index]);
        unique.candidates.retain(|c| !shown.contains(&c.id));
        let mut evaluation = dispatch::evaluate(state, unique).await;
        evaluation
            .decision
            .items
            .retain(|item| !shown.contains(&item.id));
        evaluations[index] = Some(evaluation);
    }
    // Exposures are recorded for a unit the policies could bucket (the profile's customer id,
    // else the anonymous id) that consented to analytics.
    let exposed_unit = state
        .outcomes
        .as_ref()
        .filter(|_| lookup.profile.consent().analytics)
        .and_then(|outcomes| {
            let unit = lookup
                .profile
                .customer_id()
                .or(request.unit.anonymous_id.as_deref())?;
            Some((outcomes, unit))
        });
    let mut exposures = PackedExposures::default();
    let mut slots = Vec::with_capacity(request.slots.len());
    for ((slot, version), evaluation) in request.slots.iter().zip(&versions).zip(evaluations) {
        // Every slot was decided above; a gap would be a bug, answered as a fallback.
        let evaluation = evaluation.unwrap_or_else(|| {
            Evaluation::failed(
                &fallback(slot),
                DecisionError::new(ErrorCode::Capacity, "the slot was not decided"),
                Cost::default(),
            )
        });
        let policy = slot.policy.as_str();
        let ran = evaluation
            .error
            .as_ref()
            .is_none_or(|e| !e.code.never_ran());
        let failed = evaluation.error.is_some() && ran;
        let first = version.record_decision(failed);
        version.metrics(|m| {
            if ran {
                m.wall(evaluation.cost.wall);
            }
            m.decided(evaluation.decision.reason);
            if let Some(first) = first {
                m.first_served(first);
            }
            if let Some(error) = &evaluation.error {
                m.fallback(error.code.as_str());
            }
        });
        if logged {
            tracing::info!(
                target: "tailor::decision",
                decision_id = %decision_id,
                slot = %slot.id,
                policy,
                digest = %version.digest,
                snapshot = %store.header.snapshot_version,
                reason = evaluation.decision.reason.as_str(),
                variant = evaluation.decision.variant.as_deref(),
                error = evaluation.error.as_ref().map(|e| e.code.as_str()),
                "slot decided"
            );
        }
        if let Some((_, unit)) = exposed_unit
            && evaluation.error.is_none()
            && (evaluation.decision.experiment.is_some() || !evaluation.decision.items.is_empty())
        {
            let experiment = evaluation.decision.experiment.as_ref();
            if exposures.is_empty() {
                exposures = PackedExposures::with_capacity(256);
            }
            exposures.push(&ExposureRef {
                decision_id: &decision_id,
                slot: &slot.id,
                policy: &slot.policy,
                version: &version.digest,
                experiment: experiment.map(|e| e.key.as_str()),
                arm: experiment.map(|e| e.variant.as_str()),
                items: evaluation
                    .decision
                    .items
                    .iter()
                    .map(|item| item.id.as_str())
                    .collect(),
                unit,
                channel: request.channel.as_str(),
                at_ms: now_ms,
                node: None,
            });
        }
        slots.push(SlotResult {
            id: slot.id.clone(),
            policy: slot.policy.clone(),
            version: version.digest.clone(),
            decision: evaluation.decision,
            error: evaluation.error.map(|e| SlotError {
                code: e.code.as_str(),
                message: e.message,
            }),
        });
    }
    if let Some((outcomes, _)) = exposed_unit {
        outcomes.expose(exposures);
    }
    Ok(DecideResponse {
        decision_id,
        request_id: request.request_id,
        profile: ProfileInfo {
            id: request
                .unit
                .customer_id
                .filter(|_| lookup.source != ProfileSource::Anonymous),
            snapshot_version: store.header.snapshot_version.clone(),
            age_seconds: store.age_seconds(crate::clock::now_ms()),
            source: lookup.source,
        },
        slots,
    })
}

fn fallback(slot: &SlotRequest) -> Decision {
    slot.default
        .clone()
        .unwrap_or_else(|| Decision::new(Reason::Default))
}
