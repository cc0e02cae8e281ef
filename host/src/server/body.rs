//! Request bodies: read within a size limit and a time limit, and parsed as JSON naming the
//! offending field.

use super::errors::{ApiError, ApiErrorKind};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use std::time::Duration;

/// How long a client may take to send a request body (as hyper allows for the headers): a
/// slow sender is cut off instead of holding a connection without end.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole body, or 413 past `limit` bytes, 408 past [`BODY_READ_TIMEOUT`].
pub(super) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let collected = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                ApiErrorKind::RequestTimeout,
                "body_timeout",
                None,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
        })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error)
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                ApiErrorKind::TooLarge,
                "body_too_large",
                None,
                format!("request body is over the {limit}-byte limit"),
            ))
        }
        Err(error) => Err(ApiError::new(
            ApiErrorKind::BadRequest,
            "body_unreadable",
            None,
            error.to_string(),
        )),
    }
}

/// Parses a body, naming the offending field on error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        ApiError::new(
            ApiErrorKind::BadRequest,
            "invalid_body",
            field,
            e.inner().to_string(),
        )
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            ApiErrorKind::BadRequest,
            "invalid_body",
            None,
            e.to_string(),
        )
    })?;
    Ok(value)
}
