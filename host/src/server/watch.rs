//! Reloads the profile snapshot when its file changes — how a kiosk or edge node picks up the
//! export a sync tool drops in place.

use super::AppState;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What identifies a version of the file without reading it.
fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Polls the start-up snapshot file every `every` and reloads it when its modification time or
/// size changes. A snapshot that fails to load is refused (logged) and the current one keeps
/// serving; the same file is not retried until it changes again.
pub(super) async fn watch_snapshot(state: Arc<AppState>, every: Duration) {
    let path = state.snapshot_path.clone();
    let mut seen = stamp(&path);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = stamp(&path);
        if now.is_none() || now == seen {
            continue;
        }
        seen = now;
        let worker = state.clone();
        let reload_path = path.clone();
        match tokio::task::spawn_blocking(move || worker.reload_snapshot(&reload_path)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "changed snapshot file refused; the previous snapshot keeps serving")
            }
            Err(error) => tracing::error!(%error, "snapshot reload task failed"),
        }
    }
}
