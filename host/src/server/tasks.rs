//! The background work a serving node runs beside its requests: the snapshot-file watch, the
//! lifecycle monitor (automatic rollback), the policies-directory watch and registry followers.

use super::{AppState, watch};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Starts every background task the config asks for; the server aborts them at shutdown.
pub(super) fn spawn(state: &Arc<AppState>) -> Vec<JoinHandle<()>> {
    let config = &state.config;
    let mut tasks = vec![tokio::spawn(crate::lifecycle::monitor(
        state.lifecycle.clone(),
    ))];
    if let Some(every) = config.snapshot_poll() {
        tasks.push(tokio::spawn(watch::watch_snapshot(state.clone(), every)));
    }
    if let Some(dir) = config.policies_dir.clone() {
        tasks.push(tokio::spawn(crate::lifecycle::watch_dir::watch(
            state.lifecycle.clone(),
            dir,
            config.policies_poll(),
        )));
    }
    tasks.extend(config.follow.iter().map(|followed| {
        tokio::spawn(crate::distribution::follow(
            state.lifecycle.clone(),
            followed.clone(),
            config.follow_poll(),
        ))
    }));
    tasks
}
