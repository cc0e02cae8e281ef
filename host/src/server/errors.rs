//! API errors and the one place they become HTTP responses.

use super::Response;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::body::Bytes;
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
    NotFound,
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
            ApiErrorKind::NotFound => StatusCode::NOT_FOUND,
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
        let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
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
