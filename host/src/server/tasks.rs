//! The background work a serving node runs beside its requests: the snapshot-file watch, the
//! lifecycle monitor (automatic rollback), the policies-directory watch, registry followers and
//! the fleet link.

use super::{AppState, watch};
use crate::distribution::OnPublished;
use crate::fleet::{Fleet, Follower};
use std::sync::Arc;
use tokio::sync::Notify;
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
    // One wake-up per followed policy, for the fleet's policy notices.
    let followers: Vec<Follower> = config
        .follow
        .iter()
        .map(|followed| Follower {
            policy: followed.name.clone(),
            reference: followed.reference.clone(),
            wake: Arc::new(Notify::new()),
        })
        .collect();
    let announcer = state.clone();
    let on_published: OnPublished = Arc::new(move |policy, digest, reference| {
        if let Some(fleet) = announcer.fleet.get() {
            fleet.announce(policy, digest, Some(reference));
        }
    });
    tasks.extend(
        config
            .follow
            .iter()
            .zip(&followers)
            .map(|(followed, follower)| {
                tokio::spawn(crate::distribution::follow(
                    state.lifecycle.clone(),
                    followed.clone(),
                    config.registry_access(),
                    config.follow_poll(),
                    follower.wake.clone(),
                    on_published.clone(),
                ))
            }),
    );
    if let Some(fleet) = config.fleet() {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let profiles = state.profiles.clone();
            match Fleet::start(
                fleet,
                profiles,
                state.outcomes.clone(),
                state.eraser.clone(),
                state.metrics.clone(),
                followers,
            )
            .await
            {
                Ok(fleet) => {
                    let _ = state.fleet.set(fleet);
                }
                Err(error) => tracing::error!(
                    error = %crate::report::chain(&error),
                    "the fleet link cannot start; this node serves on its own"
                ),
            }
        }));
    }
    tasks
}
