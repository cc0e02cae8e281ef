//! `GET /v1/segment-decide`: one slot decided for a segment rather than a person, so a shared
//! cache (a CDN edge) can serve it to everyone in the segment.
//!
//! Only policies whose config opts in with `{"cache": {"scope": "segment"}}` answer here. The
//! request names at most a segment and a loyalty tier; the policy sees a profile holding only
//! those (no customer id, no traits, no events), so the decision cannot depend on anything
//! personal, whatever the policy does: sharing it across the segment is safe by construction.
//! A slot that fell back is never cacheable.

use super::dispatch::{self, SlotWork};
use super::errors::{ApiError, ApiErrorKind};
use super::{AppState, Response, json};
use crate::profiles::CustomerProfile;
use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use serde::{Deserialize, Serialize};
use tailor_types::{Channel, Consent, Context, Decision, DeviceClass, Loyalty, Profile, Reason};

/// Longest a segment decision may be cached, whatever its TTL says.
const MAX_AGE_CAP_SECONDS: u32 = 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SegmentQuery {
    policy: String,
    channel: Channel,
    /// The slot id the policy sees; `segment` when absent.
    slot: Option<String>,
    segment: Option<String>,
    tier: Option<String>,
    locale: Option<String>,
    store_id: Option<String>,
    device: Option<DeviceClass>,
}

#[derive(Debug, Serialize)]
pub(super) struct SegmentDecision {
    pub(super) policy: String,
    pub(super) version: String,
    pub(super) segment: Option<String>,
    pub(super) tier: Option<String>,
    #[serde(flatten)]
    pub(super) decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<&'static str>,
}

/// A segment decision over HTTP, with the shared-cache headers its TTL allows.
pub(super) async fn serve(state: &AppState, query: Option<&str>) -> Result<Response, ApiError> {
    let _permit = state.admit()?;
    let (decision, max_age) = decide(state, query.unwrap_or_default()).await?;
    let body = serde_json::to_string(&decision)
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, "encode", None, e.to_string()))?;
    let mut response = json(StatusCode::OK, body);
    // Not personal by construction (see above): a shared cache may keep it for its TTL. A
    // fallback is never cached.
    if let Some(max_age) = max_age
        && let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}"))
    {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    Ok(response)
}

/// The decision and how long a shared cache may keep it (`None`: not at all).
async fn decide(state: &AppState, query: &str) -> Result<(SegmentDecision, Option<u32>), ApiError> {
    let query: SegmentQuery = serde_urlencoded::from_str(query).map_err(|e| {
        ApiError::new(
            ApiErrorKind::BadRequest,
            "invalid_query",
            None,
            e.to_string(),
        )
    })?;
    let Some(version) = state.registry.resolve(&query.policy, None) else {
        return Err(ApiError::field(
            ApiErrorKind::Unprocessable,
            "unknown_policy",
            "policy",
            format!("no policy named {:?}", query.policy),
        ));
    };
    let opted_in = version.loaded.config().json().pointer("/cache/scope")
        == Some(&serde_json::Value::from("segment"));
    if !opted_in {
        return Err(ApiError::field(
            ApiErrorKind::Unprocessable,
            "not_segment_cacheable",
            "policy",
            format!(
                "policy {:?} does not declare {{\"cache\": {{\"scope\": \"segment\"}}}}; use POST /v1/decide",
                query.policy
            ),
        ));
    }
    for (field, value) in [("segment", &query.segment), ("tier", &query.tier)] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 64) {
            return Err(ApiError::field(
                ApiErrorKind::Unprocessable,
                "invalid_query",
                field,
                format!("{field} must be 1 to 64 characters"),
            ));
        }
    }
    let profile = CustomerProfile::from(Profile {
        segments: query.segment.iter().cloned().collect(),
        loyalty: query.tier.as_ref().map(|tier| Loyalty {
            tier: tier.clone(),
            points: 0,
        }),
        // Asking for a segment's decision is the channel saying personalization applies.
        consent: Consent {
            personalization: query.segment.is_some() || query.tier.is_some(),
            ..Consent::default()
        },
        ..Profile::default()
    });
    let context = Context {
        locale: query.locale,
        store_id: query.store_id,
        device: query.device.unwrap_or_default(),
        ..Context::new(
            query.channel,
            query.slot.unwrap_or_else(|| "segment".into()),
            crate::clock::now_ms(),
        )
    };
    let evaluation = dispatch::evaluate(
        state,
        SlotWork {
            version: version.clone(),
            context,
            profile,
            candidates: Vec::new(),
            fallback: Decision::new(Reason::Default),
        },
    )
    .await;
    version.record_decision(
        evaluation
            .error
            .as_ref()
            .is_some_and(|e| !e.code.never_ran()),
    );
    version.metrics(|m| m.decided(evaluation.decision.reason));
    let max_age = match &evaluation.error {
        Some(_) => None,
        None => evaluation
            .decision
            .ttl_seconds
            .map(|ttl| ttl.min(MAX_AGE_CAP_SECONDS)),
    };
    Ok((
        SegmentDecision {
            policy: query.policy,
            version: version.digest.clone(),
            segment: query.segment,
            tier: query.tier,
            decision: evaluation.decision,
            error: evaluation.error.map(|e| e.code.as_str()),
        },
        max_age,
    ))
}
