//! `POST /admin/v1/customers/{id}/erase`: forget a customer on this node and, with a broker,
//! on every node of the fleet; `GET /admin/v1/erasures`: the audit log of erasures.

use super::AppState;
use super::auth::Caller;
use super::errors::{ApiError, ApiErrorKind};
use crate::privacy::Erasure;
use crate::privacy::erasure::check_customer_id;
use crate::profiles::events::Origin;
use std::sync::Arc;

/// Audit entries listed by default, and at most.
const DEFAULT_AUDIT: usize = 100;
const MAX_AUDIT: usize = 10_000;

/// Erases the customer the path names (percent-decoded), durably before answering;
/// idempotent (asking again completes an erasure a crash cut short, and moves its time on).
pub(super) async fn erase(
    state: &Arc<AppState>,
    raw_id: &str,
    caller: &Caller,
) -> Result<serde_json::Value, ApiError> {
    let invalid = |message: String| {
        ApiError::field(
            ApiErrorKind::BadRequest,
            "invalid_customer_id",
            "id",
            message,
        )
    };
    let id = percent_decode(raw_id).ok_or_else(|| {
        invalid("the customer id in the path is not valid percent-encoded UTF-8".into())
    })?;
    check_customer_id(&id).map_err(invalid)?;
    let erasure = Erasure {
        customer_id: id,
        at_ms: crate::clock::now_ms(),
    };
    let (eraser, by) = (state.eraser.clone(), caller.describe());
    let report = super::blocking("erasure_aborted", move || {
        eraser.erase(&erasure, by, Origin::Local)
    })
    .await?
    .map_err(|e| {
        ApiError::new(
            ApiErrorKind::Internal,
            "erasure_failed",
            None,
            format!("{}; asking again completes it", crate::report::chain(&e)),
        )
    })?;
    let mut answer = serde_json::to_value(&report).unwrap_or_default();
    answer["fleet"] = serde_json::Value::from(match state.fleet.get() {
        Some(_) => "sent",
        None if state.config.fleet().is_some() => "queued",
        None => "none",
    });
    Ok(answer)
}

/// The newest erasures first (`?limit=`, default 100).
pub(super) async fn audit(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        limit: Option<usize>,
    }
    let query: Query = serde_urlencoded::from_str(query.unwrap_or("")).map_err(|e| {
        ApiError::field(
            ApiErrorKind::BadRequest,
            "invalid_query",
            "limit",
            e.to_string(),
        )
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_AUDIT);
    if !(1..=MAX_AUDIT).contains(&limit) {
        return Err(ApiError::field(
            ApiErrorKind::BadRequest,
            "invalid_query",
            "limit",
            format!("limit must be 1 to {MAX_AUDIT}, not {limit}"),
        ));
    }
    let eraser = state.eraser.clone();
    let entries = super::blocking("audit_aborted", move || eraser.audit(limit))
        .await?
        .map_err(|e| {
            ApiError::new(
                ApiErrorKind::Internal,
                "audit_log",
                None,
                crate::report::chain(&e),
            )
        })?;
    Ok(serde_json::json!({ "erasures": entries }))
}

/// `%XX` sequences decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn path_ids_are_percent_decoded() {
        assert_eq!(
            percent_decode("cust-000042").as_deref(),
            Some("cust-000042")
        );
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
