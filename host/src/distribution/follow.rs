//! Following a policy by tag: poll the tag's manifest digest, and when it moves pull the
//! version, and publish it through the lifecycle (signature, contract, fixtures, atomic swap).
//! Any failure — registry down, bad artifact, refused publish — leaves the last-known-good
//! version serving; a refused digest is not retried until the tag moves again.
//!
//! In a fleet, the node that publishes a version it pulled announces it, and the others check
//! their tag at once (`crate::fleet`), each still verifying what it pulls.

use super::{Reference, RegistryAccess, oci};
use crate::lifecycle::{Lifecycle, PublishRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A policy name served from a registry tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub name: String,
    pub reference: Reference,
}

impl Follow {
    /// Parses `<policy name>=<reference>`.
    pub fn parse(text: &str) -> Result<Follow, String> {
        let (name, reference) = text.split_once('=').ok_or_else(|| {
            format!("{text:?}: expected <policy name>=<registry>/<repository>:<tag>")
        })?;
        Ok(Follow {
            name: name.trim().to_owned(),
            reference: Reference::parse(reference.trim())?,
        })
    }
}

/// What a follower is told of each version it published: the policy, the version digest and
/// the manifest reference it came from.
pub type OnPublished = Arc<dyn Fn(&str, &str, String) + Send + Sync>;

/// Polls one followed tag every `every`, and at once whenever `wake` is notified, until the
/// task is dropped. A registry that cannot be reached the way `access` says (plain HTTP off
/// loopback, an unreadable CA) is logged and not followed.
pub async fn follow(
    lifecycle: Arc<Lifecycle>,
    followed: Follow,
    access: RegistryAccess,
    every: Duration,
    wake: Arc<Notify>,
    on_published: OnPublished,
) {
    let client = match access.client(&followed.reference) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(
                policy = %followed.name, error = %crate::report::chain(&error),
                "cannot follow the registry tag"
            );
            return;
        }
    };
    let mut last_seen: Option<String> = None;
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = wake.notified() => {}
        }
        let digest = match oci::resolve(&client, &followed.reference).await {
            Ok(digest) => digest,
            Err(error) => {
                tracing::warn!(policy = %followed.name, error = %crate::report::chain(&error), "registry unreachable; the current version keeps serving");
                continue;
            }
        };
        if last_seen.as_deref() == Some(digest.as_str()) {
            continue;
        }
        let pinned = Reference {
            reference: digest.clone(),
            ..followed.reference.clone()
        };
        let artifact = match oci::pull_policy(&client, &pinned).await {
            Ok((artifact, _)) => artifact,
            Err(error) => {
                tracing::warn!(policy = %followed.name, error = %crate::report::chain(&error), "pull failed; the current version keeps serving");
                continue;
            }
        };
        last_seen = Some(digest.clone());
        let worker = lifecycle.clone();
        let name = followed.name.clone();
        let published = tokio::task::spawn_blocking(move || {
            worker.publish(
                &name,
                PublishRequest {
                    component: Some(artifact.component),
                    config: artifact.config,
                    signature: artifact.signature,
                    automated: true,
                    ..PublishRequest::default()
                },
            )
        })
        .await;
        match published {
            Ok(Ok(outcome)) if !outcome.unchanged => {
                tracing::info!(
                    policy = %followed.name, manifest = %digest, version = %outcome.digest,
                    "published from the registry"
                );
                on_published(&followed.name, &outcome.digest, pinned.to_string());
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(
                policy = %followed.name, manifest = %digest, %error,
                "registry version refused; the current version keeps serving"
            ),
            Err(error) => tracing::error!(%error, "publish from the registry aborted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_reference() {
        let f = Follow::parse("hero-banner=http://127.0.0.1:5000/retail/hero:prod").unwrap();
        assert_eq!(f.name, "hero-banner");
        assert_eq!(f.reference.reference, "prod");
        assert!(Follow::parse("hero-banner").is_err());
        assert!(Follow::parse("hero=ftp://x/y:z").is_err());
    }
}
