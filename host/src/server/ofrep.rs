//! OpenFeature Remote Evaluation Protocol (OFREP 0.3): `POST /ofrep/v1/evaluate/flags/{key}`
//! and the bulk `POST /ofrep/v1/evaluate/flags`, so OpenFeature SDKs with an OFREP provider
//! call the node as a flag service.
//!
//! A flag is a policy; an evaluation is a `/v1/decide` request with one slot per flag, built
//! from the evaluation context (`context`) and decided by the same path (`decide`): profile
//! lookup, scheduler, decision log and exposures as for any decision. The answer (`answer`)
//! is the decision's variant, or its render map as an object where the policy's config says
//! `{"ofrep": {"value": "render"}}`; its reason is the decision's (tailor's reasons are
//! OpenFeature's); a policy that failed is an evaluation failure (`GENERAL`). Errors are
//! OFREP's: `PARSE_ERROR`, `TARGETING_KEY_MISSING` and `INVALID_CONTEXT` are 400,
//! `FLAG_NOT_FOUND` 404, a busy node 429 with `Retry-After`; a token is checked as on `/v1`,
//! none given 401, a wrong one 403.

mod answer;
mod context;

use super::body::read_body;
use super::decide::{self, DecideResponse};
use super::errors::{ApiError, ApiErrorKind};
use super::{AppState, Response, full};
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH,
    RETRY_AFTER,
};
use serde_json::json;

/// Why an evaluation was refused, in OFREP's terms.
#[derive(Debug, thiserror::Error)]
pub(super) enum OfrepError {
    #[error("{0}")]
    Parse(String),
    #[error("the context has no `targetingKey` (the customer id, or an anonymous id)")]
    TargetingKeyMissing,
    #[error("{0}")]
    InvalidContext(String),
    #[error("no policy named {0:?}")]
    FlagNotFound(String),
    /// Every decision slot is busy, or the decision was shed: 429 with `Retry-After`.
    #[error("{0}")]
    Busy(String),
    /// What the node's own API would refuse: a body too large or too slow, an internal error.
    #[error(transparent)]
    Api(ApiError),
}

impl From<ApiError> for OfrepError {
    fn from(error: ApiError) -> OfrepError {
        match error.kind {
            ApiErrorKind::Overloaded => OfrepError::Busy(error.message),
            ApiErrorKind::BadRequest => OfrepError::Parse(error.message),
            _ => OfrepError::Api(error),
        }
    }
}

impl OfrepError {
    /// The one place an OFREP refusal becomes a status: `key` is the flag's, for the
    /// single-flag route.
    fn into_response(self, key: Option<&str>) -> Response {
        let (status, code) = match &self {
            OfrepError::Parse(_) => (StatusCode::BAD_REQUEST, "PARSE_ERROR"),
            OfrepError::TargetingKeyMissing => (StatusCode::BAD_REQUEST, "TARGETING_KEY_MISSING"),
            OfrepError::InvalidContext(_) => (StatusCode::BAD_REQUEST, "INVALID_CONTEXT"),
            OfrepError::FlagNotFound(_) => (StatusCode::NOT_FOUND, "FLAG_NOT_FOUND"),
            OfrepError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "GENERAL"),
            OfrepError::Api(error) if error.kind == ApiErrorKind::Internal => {
                let body = json!({"errorDetails": error.message});
                return ofrep_json(StatusCode::INTERNAL_SERVER_ERROR, body.to_string());
            }
            OfrepError::Api(_) => {
                let OfrepError::Api(error) = self else {
                    unreachable!("matched above")
                };
                return error.into_response();
            }
        };
        let mut body = json!({"errorCode": code, "errorDetails": self.to_string()});
        if let Some(key) = key {
            body["key"] = key.into();
        }
        let mut response = ofrep_json(status, body.to_string());
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A token refused on an OFREP route: 403 when one was given (a wrong token), else 401.
pub(super) fn refused(headers: &HeaderMap, error: ApiError) -> ApiError {
    if headers.contains_key(AUTHORIZATION) {
        ApiError::new(
            ApiErrorKind::Forbidden,
            "forbidden",
            Some("authorization".into()),
            error.message,
        )
    } else {
        error
    }
}

/// `POST /ofrep/v1/evaluate/flags/{key}`.
pub(super) async fn evaluate_flag(state: &AppState, key: &str, body: Incoming) -> Response {
    match flag(state, key, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(Some(key)),
    }
}

async fn flag(state: &AppState, key: &str, body: Incoming) -> Result<Response, OfrepError> {
    let body = read_body(body, state.config.max_body_bytes).await?;
    let context = context::parse_body(&body)?;
    if state.registry.entry(key).is_none() {
        return Err(OfrepError::FlagNotFound(key.to_owned()));
    }
    let request = context::decide_request(&context, &[key])?;
    let decided = decide_now(state, request, &body).await?;
    let Some(slot) = decided.slots.into_iter().next() else {
        return Err(OfrepError::Api(internal("the flag was not decided")));
    };
    if let Some(error) = &slot.error
        && matches!(error.code, "capacity" | "over_budget")
    {
        return Err(OfrepError::Busy(error.message.clone()));
    }
    let answer = answer::evaluation(state, &slot);
    let status = if answer.get("errorCode").is_some() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    Ok(ofrep_json(status, answer.to_string()))
}

/// `POST /ofrep/v1/evaluate/flags`: every policy the node serves (OFREP has no filter, ADR
/// 0004), with an `ETag` over the answers; `If-None-Match` with it is 304 without a body.
pub(super) async fn evaluate_flags(
    state: &AppState,
    headers: &HeaderMap,
    body: Incoming,
) -> Response {
    match flags(state, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(None),
    }
}

async fn flags(
    state: &AppState,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Response, OfrepError> {
    let body = read_body(body, state.config.max_body_bytes).await?;
    let context = context::parse_body(&body)?;
    let names: Vec<String> = state
        .registry
        .list()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // Checked before anything is decided, so an empty node still refuses a bad context.
    context::decide_request(&context, &[])?;
    let mut evaluations = Vec::with_capacity(names.len());
    // A request holds at most `max_slots` slots; a node serving more policies decides them in
    // several.
    for chunk in names.chunks(state.config.max_slots.max(1)) {
        let request = context::decide_request(&context, chunk)?;
        let decided = decide_now(state, request, &body).await?;
        evaluations.extend(
            decided
                .slots
                .iter()
                .map(|slot| answer::evaluation(state, slot)),
        );
    }
    let document = json!({"flags": evaluations});
    let etag = answer::etag(&evaluations);
    let unchanged = headers
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|given| answer::matches(given, &etag));
    let mut response = if unchanged {
        let mut response = hyper::Response::new(full(""));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        ofrep_json(StatusCode::OK, document.to_string())
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    Ok(response)
}

/// Decides within a decision slot of the node, as `/v1/decide` does (429 when none is free).
async fn decide_now(
    state: &AppState,
    request: decide::DecideRequest,
    body: &[u8],
) -> Result<DecideResponse, OfrepError> {
    let _permit = state.admit()?;
    decide::decide_request(state, request, body)
        .await
        .map_err(|error| match error.code {
            // The policy was withdrawn between the check and the decision.
            "unknown_policy" => OfrepError::FlagNotFound(error.message),
            _ => OfrepError::from(error),
        })
}

fn internal(message: &str) -> ApiError {
    ApiError::new(ApiErrorKind::Internal, "internal", None, message)
}

/// A JSON answer that no shared cache stores (evaluations are personal).
fn ofrep_json(status: StatusCode, body: String) -> Response {
    let mut response = hyper::Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}
