//! API errors and the one place they become HTTP responses.

use super::Response;
use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};

/// A request the API refuses, with the field it is about when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub kind: ApiErrorKind,
    /// Machine-readable code, for example `invalid_body`.
    pub code: &'static str,
    /// The JSON path of the offending field, for example `slots[1].policy`.
    pub field: Option<String>,
    pub message: String,
}

/// What went wrong, which decides the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// Malformed JSON or a field of the wrong type.
    BadRequest,
    /// Well-formed, but refers to something that does not exist or breaks a rule.
    Unprocessable,
    TooLarge,
    /// The client took too long to send the request.
    RequestTimeout,
    NotFound,
    /// Conflicts with the current state (a canary in progress, nothing to roll back to).
    Conflict,
    /// Authenticated, but refused (a policy signature that does not verify).
    Forbidden,
    MethodNotAllowed,
    Unauthorized,
    UnsupportedMediaType,
    /// Every decision slot is busy: try again shortly.
    Overloaded,
    NotReady,
    Internal,
}

impl ApiError {
    pub fn new(
        kind: ApiErrorKind,
        code: &'static str,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            kind,
            code,
            field,
            message: message.into(),
        }
    }

    pub fn field(
        kind: ApiErrorKind,
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError::new(kind, code, Some(field.into()), message)
    }

    pub fn status(&self) -> StatusCode {
        match self.kind {
            ApiErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ApiErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiErrorKind::NotFound => StatusCode::NOT_FOUND,
            ApiErrorKind::Conflict => StatusCode::CONFLICT,
            ApiErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ApiErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiErrorKind::Overloaded | ApiErrorKind::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON error response: `{"error": {"code", "field", "message"}}`.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "field": self.field, "message": self.message }
        });
        let mut response = hyper::Response::new(super::full(body.to_string()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.kind == ApiErrorKind::Unauthorized {
            headers.insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        if self.kind == ApiErrorKind::Overloaded {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<crate::lifecycle::PublishError> for ApiError {
    fn from(error: crate::lifecycle::PublishError) -> ApiError {
        use crate::engine::LoadError;
        use crate::lifecycle::PublishError;
        let message = crate::report::chain(&error);
        let (kind, code, field) = match &error {
            PublishError::Invalid { field, .. } => {
                (ApiErrorKind::Unprocessable, "invalid_publish", Some(*field))
            }
            PublishError::Signature(e) => (ApiErrorKind::Forbidden, e.code(), Some("signature")),
            PublishError::Load(LoadError::NotAComponent { .. }) => (
                ApiErrorKind::Unprocessable,
                "not_a_component",
                Some("component"),
            ),
            PublishError::Load(LoadError::ForbiddenImport { .. }) => (
                ApiErrorKind::Unprocessable,
                "forbidden_import",
                Some("component"),
            ),
            PublishError::Load(LoadError::WrongWorld { .. }) => (
                ApiErrorKind::Unprocessable,
                "wrong_world",
                Some("component"),
            ),
            PublishError::Load(LoadError::InvalidConfig { .. }) => (
                ApiErrorKind::Unprocessable,
                "invalid_config",
                Some("config"),
            ),
            PublishError::Load(LoadError::InvalidLimits { .. }) => {
                (ApiErrorKind::Unprocessable, "invalid_limits", None)
            }
            PublishError::ConfigRefused { .. } => (
                ApiErrorKind::Unprocessable,
                "invalid_config",
                Some("config"),
            ),
            PublishError::ConfigCheck(_) => (
                ApiErrorKind::Unprocessable,
                "config_check_failed",
                Some("component"),
            ),
            PublishError::Fixture { .. } => (
                ApiErrorKind::Unprocessable,
                "fixture_failed",
                Some("fixtures"),
            ),
            PublishError::OverBudget { .. } => (
                ApiErrorKind::Unprocessable,
                "fixture_over_budget",
                Some("fixtures"),
            ),
            PublishError::CanaryInProgress { .. } => {
                (ApiErrorKind::Conflict, "canary_in_progress", None)
            }
            PublishError::UnknownPolicy { .. } => (ApiErrorKind::NotFound, "unknown_policy", None),
            PublishError::NothingToRollBack { .. } => {
                (ApiErrorKind::Conflict, "nothing_to_roll_back", None)
            }
            PublishError::NoCanary { .. } => (ApiErrorKind::Conflict, "no_canary", None),
            PublishError::Withdrawn { .. } => (ApiErrorKind::Conflict, "withdrawn", None),
            PublishError::Store(_) => (ApiErrorKind::Internal, "policy_store", None),
        };
        ApiError::new(kind, code, field.map(str::to_owned), message)
    }
}
