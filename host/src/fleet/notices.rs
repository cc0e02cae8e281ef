//! Policy-change notices: when a node publishes a version it pulled from a followed tag, it
//! says so on `<prefix>.policies`, and every node that follows the same policy checks its tag
//! at once instead of at its next poll. A notice carries no content: each node pulls the
//! artifact itself and verifies it (signature, contract, fixtures) like any other.

use super::FleetConfig;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// A published policy version, as announced to the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyNotice {
    pub policy: String,
    /// The version's digest (component and config).
    pub digest: String,
    /// Where it came from, e.g. the registry manifest it was pulled from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The node that published it.
    pub origin: String,
}

/// The subject every notice goes to.
pub(super) fn subject(config: &FleetConfig) -> String {
    format!("{}.policies", config.subject_prefix)
}

/// Sends a notice; a broker that is away only means the other nodes find the version at their
/// next poll.
pub(super) async fn announce(
    client: &async_nats::Client,
    config: &FleetConfig,
    notice: &PolicyNotice,
) {
    let Ok(payload) = serde_json::to_vec(notice) else {
        return;
    };
    match client.publish(subject(config), payload.into()).await {
        Ok(()) => {
            tracing::info!(policy = %notice.policy, digest = %notice.digest, "policy change announced to the fleet")
        }
        Err(error) => {
            tracing::warn!(policy = %notice.policy, %error, "cannot announce a policy change")
        }
    }
}

/// Wakes the follower of each announced policy this node follows, until the task is dropped.
pub(super) async fn listen(
    client: async_nats::Client,
    config: FleetConfig,
    followers: Arc<HashMap<String, Arc<Notify>>>,
) {
    loop {
        let mut notices = match client.subscribe(subject(&config)).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::debug!(%error, "subscribing to policy notices");
                tokio::time::sleep(super::connection::backoff(5)).await;
                continue;
            }
        };
        while let Some(message) = notices.next().await {
            let notice: PolicyNotice = match serde_json::from_slice(&message.payload) {
                Ok(notice) => notice,
                Err(error) => {
                    tracing::warn!(%error, "a policy notice that cannot be read was ignored");
                    continue;
                }
            };
            if notice.origin == config.node_id {
                continue;
            }
            if let Some(follower) = followers.get(&notice.policy) {
                tracing::info!(policy = %notice.policy, digest = %notice.digest, origin = %notice.origin, "policy change announced; checking the tag now");
                follower.notify_one();
            }
        }
    }
}
