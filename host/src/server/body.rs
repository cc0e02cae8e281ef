//! Request bodies: read within a size limit and a time limit, and parsed as JSON naming the
//! offending field.

use super::errors::{ApiError, ApiErrorKind};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use std::time::Duration;
use tailor_types::object::Object;

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

/// Parses a body (a JSON object, never the array form of one), naming the offending field on
/// error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let Object(value) = serde_path_to_error::deserialize(&mut de).map_err(|e| {
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

/// Parses a query string (none: the defaults); a malformed one is a 400 saying what is wrong.
pub(crate) fn parse_query<T: serde::de::DeserializeOwned + Default>(
    query: Option<&str>,
) -> Result<T, ApiError> {
    match query {
        None | Some("") => Ok(T::default()),
        Some(query) => serde_urlencoded::from_str(query).map_err(|e| {
            ApiError::new(
                ApiErrorKind::BadRequest,
                "invalid_query",
                None,
                e.to_string(),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_json;
    use crate::server::decide::DecideRequest;

    fn refusal(body: &str) -> (String, Option<String>) {
        let error = parse_json::<DecideRequest>(body.as_bytes()).unwrap_err();
        assert_eq!(error.code, "invalid_body", "{error}");
        (error.message, error.field)
    }

    #[test]
    fn an_array_in_place_of_an_object_is_refused_naming_the_field() {
        let slots = r#""slots": [{"id": "hero", "policy": "p"}]"#;
        let (message, field) = refusal(&format!(
            r#"{{"channel": "web", "unit": [null, null], {slots}}}"#
        ));
        assert_eq!(field.as_deref(), Some("unit"), "{message}");
        assert!(message.contains("expected a JSON object"), "{message}");
        let (_, field) = refusal(r#"{"channel": "web", "slots": [["hero", "p"]]}"#);
        assert_eq!(field.as_deref(), Some("slots[0]"));
        let (_, field) = refusal(r#"["web", {}, {}, null, []]"#);
        assert_eq!(field, None);
    }

    #[test]
    fn an_integral_number_is_an_integer_and_a_fraction_is_refused() {
        let body = |now: &str| {
            format!(
                r#"{{"channel": "web", "context": {{"now_ms": {now}}}, "slots": [{{"id": "a", "policy": "p", "default": {{"reason": "STATIC", "ttl_seconds": 60.0}}}}]}}"#
            )
        };
        let read = parse_json::<DecideRequest>(body("1764547200000.0").as_bytes()).unwrap();
        assert_eq!(read.context.now_ms, Some(1_764_547_200_000));
        let (message, field) = refusal(&body("1.5"));
        assert_eq!(field.as_deref(), Some("context.now_ms"), "{message}");
    }
}
