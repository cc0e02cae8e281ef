//! Policy-change notices: when a node publishes a version it pulled from a followed tag (or
//! `tailor push --announce` moves a tag), it says so on `<prefix>.policies`, and every node
//! that follows the same policy or tag checks its tag at once instead of at its next poll. A
//! notice carries no content: each node pulls the artifact itself and verifies it (signature,
//! contract, fixtures) like any other.

use super::FleetConfig;
use crate::distribution::Reference;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::Notify;

/// A published policy version, as announced to the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyNotice {
    /// The policy's name on the node that published it (empty from `tailor push`, which knows
    /// only the tag).
    #[serde(default)]
    pub policy: String,
    /// The version's digest (component and config).
    pub digest: String,
    /// Where it came from: the registry tag or manifest it was pulled from or pushed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The node that published it.
    pub origin: String,
}

/// A followed policy and its tag, woken by a notice that names either.
#[derive(Debug, Clone)]
pub struct Follower {
    pub policy: String,
    pub reference: Reference,
    pub wake: Arc<Notify>,
}

impl Follower {
    /// Whether `notice` is about this policy or this tag (any tag or digest of its repository).
    fn concerns(&self, notice: &PolicyNotice) -> bool {
        let same_repository = notice
            .reference
            .as_deref()
            .and_then(|r| Reference::parse(r).ok())
            .is_some_and(|r| {
                r.registry == self.reference.registry && r.repository == self.reference.repository
            });
        notice.policy == self.policy || same_repository
    }
}

/// The subject every notice goes to.
pub fn subject(subject_prefix: &str) -> String {
    format!("{subject_prefix}.policies")
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
    match client
        .publish(subject(&config.subject_prefix), payload.into())
        .await
    {
        Ok(()) => {
            tracing::info!(policy = %notice.policy, digest = %notice.digest, "policy change announced to the fleet")
        }
        Err(error) => {
            tracing::warn!(policy = %notice.policy, %error, "cannot announce a policy change")
        }
    }
}

/// Wakes the follower of each announced policy or tag this node follows, until the task is
/// dropped.
pub(super) async fn listen(
    client: async_nats::Client,
    config: FleetConfig,
    followers: Arc<Vec<Follower>>,
) {
    loop {
        let mut notices = match client.subscribe(subject(&config.subject_prefix)).await {
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
            for follower in followers.iter().filter(|f| f.concerns(&notice)) {
                tracing::info!(policy = %follower.policy, digest = %notice.digest, origin = %notice.origin, "policy change announced; checking the tag now");
                follower.wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_concerns_the_follower_of_its_policy_or_its_repository() {
        let follower = Follower {
            policy: "hero-banner".into(),
            reference: Reference::parse("http://registry:5000/retail/hero-banner:prod").unwrap(),
            wake: Arc::default(),
        };
        let notice = |policy: &str, reference: Option<&str>| PolicyNotice {
            policy: policy.into(),
            digest: "sha256:00".into(),
            reference: reference.map(str::to_owned),
            origin: "elsewhere".into(),
        };
        assert!(follower.concerns(&notice("hero-banner", None)));
        assert!(follower.concerns(&notice(
            "",
            Some("http://registry:5000/retail/hero-banner:prod")
        )));
        assert!(follower.concerns(&notice(
            "",
            Some(&format!(
                "http://registry:5000/retail/hero-banner@sha256:{}",
                "ab".repeat(32)
            ))
        )));
        assert!(!follower.concerns(&notice(
            "",
            Some("http://registry:5000/retail/next-best-offer:prod")
        )));
        assert!(!follower.concerns(&notice("next-best-offer", Some("not a reference"))));
    }
}
