//! `/admin/v1/snapshot`: the profile snapshot's status, and reloading it; `/admin/v1/status`:
//! the node at a glance, with its fleet link.

use super::AppState;
use super::errors::{ApiError, ApiErrorKind};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

pub(super) fn snapshot_status(state: &AppState) -> serde_json::Value {
    let generation = state.profiles.current();
    let store = &generation.store;
    serde_json::json!({
        "snapshot_version": store.header.snapshot_version,
        "base_version": store.header.base_version,
        "generated_at_ms": store.header.generated_at_ms,
        "age_seconds": store.age_seconds(crate::clock::now_ms()),
        "profiles": store.profiles,
        "store_bytes": store.file_bytes,
        "loaded_at_ms": store.loaded_at_ms,
        "encrypted": store.encrypted(),
        "partition": store.partition.as_ref().map(ToString::to_string),
        "outside_partition": store.outside_partition,
    })
}

/// The node's snapshot, events, policies and fleet link (broker state, outbox, consumer lag).
pub(super) fn node_status(state: &AppState) -> serde_json::Value {
    serde_json::json!({
        "snapshot": snapshot_status(state),
        // Events newer than the snapshot, applied on top of it (null if the log is unreadable).
        "events": { "held": state.profiles.event_log().held().ok() },
        // Customers erased here or in the fleet (kept by pseudonym, so they stay forgotten).
        "erased_customers": state.profiles.event_log().erased_count(),
        "policies": state.registry.len(),
        "draining": state.drain.is_draining(),
        "fleet": state.fleet.get().map(crate::fleet::Fleet::status),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReloadRequest {
    /// Snapshot file to load; the one the node was started with when absent.
    path: Option<PathBuf>,
}

/// Builds the new snapshot aside (off the request threads) and swaps it in; decisions keep
/// being served from the old one until the swap.
pub(super) async fn reload(
    state: Arc<AppState>,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let request: ReloadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadRequest::default()
    } else {
        super::parse_json(body)?
    };
    let path = request.path.unwrap_or_else(|| state.snapshot_path.clone());
    let worker = state.clone();
    let loaded = tokio::task::spawn_blocking(move || worker.reload_snapshot(&path))
        .await
        .map_err(|e| {
            ApiError::new(
                ApiErrorKind::Internal,
                "reload_aborted",
                None,
                e.to_string(),
            )
        })?;
    match loaded {
        Ok(_) => Ok(snapshot_status(&state)),
        Err(error) => {
            let message = crate::report::chain(&error);
            tracing::warn!(error = %message, "snapshot reload refused; the previous snapshot keeps serving");
            Err(ApiError::new(
                ApiErrorKind::Unprocessable,
                "snapshot_refused",
                Some("path".into()),
                message,
            ))
        }
    }
}
