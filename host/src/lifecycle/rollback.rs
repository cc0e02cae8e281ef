//! Going back: manual and automatic rollback, and ending a canary (promote or abort).

use super::{
    Action, CanaryRecord, Changing, Lifecycle, PolicyRecord, PublishError, Step, StoreState,
    VersionRecord,
};
use crate::registry::{Entry, PolicyVersion};
use std::sync::Arc;

/// Who asked for a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Automatic,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Automatic => "automatic",
        }
    }
}

/// The state of a policy after a change, as the admin API reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeOutcome {
    pub name: String,
    pub active: String,
    pub canary: Option<String>,
    /// The version taken out of service.
    pub removed: String,
}

/// Where a rollback of a policy goes, in a state: its active digest and the version before it.
fn rollback_target(
    state: &StoreState,
    name: &str,
) -> Result<(String, VersionRecord), PublishError> {
    let record = state
        .policies
        .get(name)
        .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })?;
    let target = record
        .previous
        .first()
        .cloned()
        .ok_or_else(|| PublishError::NothingToRollBack { name: name.into() })?;
    Ok((record.active.digest.clone(), target))
}

impl Lifecycle {
    /// Returns a policy to its previous version at once (dropping any canary).
    pub fn rollback(
        &self,
        name: &str,
        trigger: Trigger,
        reason: Option<String>,
        by: Option<String>,
    ) -> Result<ChangeOutcome, PublishError> {
        self.roll_back(name, None, trigger, reason, by)?
            .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })
    }

    /// Rolls a policy back if `digest` is still its active version (checked under the change
    /// lock, so a version published meanwhile is not the one rolled back); `None` if not.
    pub(super) fn rollback_version(
        &self,
        name: &str,
        digest: &str,
        trigger: Trigger,
        reason: Option<String>,
    ) -> Result<Option<ChangeOutcome>, PublishError> {
        self.roll_back(name, Some(digest), trigger, reason, None)
    }

    fn roll_back(
        &self,
        name: &str,
        only_from: Option<&str>,
        trigger: Trigger,
        reason: Option<String>,
        by: Option<String>,
    ) -> Result<Option<ChangeOutcome>, PublishError> {
        self.change(
            || {
                let state = self.state();
                if let (Some(only), Some(record)) = (only_from, state.policies.get(name))
                    && record.active.digest != only
                {
                    return Ok(Step::Done(None));
                }
                // Load before committing (and before the lock: loading may compile): the
                // previous version must be servable to go back to it.
                let (from, target) = rollback_target(&state, name)?;
                let entry = self.registry.entry(name);
                let seen = (from, target);
                match self.loaded_version(&seen.1.digest, entry.as_deref(), name) {
                    Ok(loaded) => Ok(Step::Ready((seen, loaded))),
                    Err(error) => {
                        let still =
                            |s: &StoreState| rollback_target(s, name).is_ok_and(|t| t == seen);
                        if self.replaced_since(still) {
                            Ok(Step::Again(error))
                        } else {
                            Err(error)
                        }
                    }
                }
            },
            |changing, (seen, loaded)| {
                let state = self.state();
                if rollback_target(&state, name)? != seen {
                    return Ok(None);
                }
                let mut next = StoreState::clone(&state);
                let record = next
                    .policies
                    .get_mut(name)
                    .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })?;
                let target = record.previous.remove(0);
                let removed = std::mem::replace(&mut record.active, target);
                record.withdraw(&removed.digest);
                record.canary = None;
                let action = match trigger {
                    Trigger::Manual => Action::RolledBack,
                    Trigger::Automatic => Action::AutoRolledBack,
                };
                let detail = Some(
                    reason
                        .clone()
                        .unwrap_or_else(|| format!("from {}", removed.digest)),
                );
                let active = record.active.digest.clone();
                record.record_by(crate::clock::now_ms(), action, &active, detail, by.clone());
                self.finish(
                    changing,
                    name,
                    next,
                    Entry {
                        active: loaded,
                        canary: None,
                    },
                )?;
                self.metrics.policy_rolled_back(name, trigger.as_str());
                tracing::warn!(policy = name, trigger = trigger.as_str(), from = %removed.digest, "policy rolled back");
                self.outcome(name, removed.digest).map(|o| Some(Some(o)))
            },
        )
    }

    /// Makes the canary the active version for every unit.
    pub fn promote(
        &self,
        name: &str,
        note: Option<String>,
        by: Option<String>,
    ) -> Result<ChangeOutcome, PublishError> {
        let changing = self.lock_changes();
        let mut next = StoreState::clone(&self.state());
        let (record, canary, entry) = self.take_canary(&mut next, name)?;
        let version = entry
            .canary
            .as_ref()
            .map(|c| c.version.clone())
            .ok_or_else(|| PublishError::NoCanary { name: name.into() })?;
        let removed = record.active.digest.clone();
        let digest = canary.version.digest.clone();
        record.activate(canary.version, self.config.keep_versions);
        record.record_by(
            crate::clock::now_ms(),
            Action::CanaryPromoted,
            &digest,
            note,
            by,
        );
        self.finish(
            &changing,
            name,
            next,
            Entry {
                active: version,
                canary: None,
            },
        )?;
        self.metrics.policy_swapped(name);
        tracing::info!(policy = name, %digest, "canary promoted");
        self.outcome(name, removed)
    }

    /// Ends the canary: every unit gets the active version again.
    pub fn abort_canary(
        &self,
        name: &str,
        trigger: Trigger,
        reason: Option<String>,
        by: Option<String>,
    ) -> Result<ChangeOutcome, PublishError> {
        self.end_canary(name, None, trigger, reason, by)?
            .ok_or_else(|| PublishError::NoCanary { name: name.into() })
    }

    /// Ends the canary if `digest` is still the canary (checked under the change lock); `None`
    /// if not.
    pub(super) fn abort_canary_version(
        &self,
        name: &str,
        digest: &str,
        trigger: Trigger,
        reason: Option<String>,
    ) -> Result<Option<ChangeOutcome>, PublishError> {
        self.end_canary(name, Some(digest), trigger, reason, None)
    }

    fn end_canary(
        &self,
        name: &str,
        only: Option<&str>,
        trigger: Trigger,
        reason: Option<String>,
        by: Option<String>,
    ) -> Result<Option<ChangeOutcome>, PublishError> {
        let changing = self.lock_changes();
        let mut next = StoreState::clone(&self.state());
        if let Some(only) = only {
            let canary = next.policies.get(name).and_then(|r| r.canary.as_ref());
            if canary.is_none_or(|c| c.version.digest != only) {
                return Ok(None);
            }
        }
        let (record, canary, entry) = self.take_canary(&mut next, name)?;
        let action = match trigger {
            Trigger::Manual => Action::CanaryAborted,
            Trigger::Automatic => Action::CanaryAutoAborted,
        };
        record.withdraw(&canary.version.digest);
        record.record_by(
            crate::clock::now_ms(),
            action,
            &canary.version.digest,
            reason,
            by,
        );
        self.finish(
            &changing,
            name,
            next,
            Entry {
                active: entry.active.clone(),
                canary: None,
            },
        )?;
        if trigger == Trigger::Automatic {
            self.metrics.policy_rolled_back(name, "automatic");
        }
        tracing::warn!(policy = name, trigger = trigger.as_str(), digest = %canary.version.digest, "canary aborted");
        self.outcome(name, canary.version.digest).map(Some)
    }

    /// Takes a policy's canary out of the next state; with the record and what is served now.
    fn take_canary<'s>(
        &self,
        next: &'s mut StoreState,
        name: &str,
    ) -> Result<(&'s mut PolicyRecord, CanaryRecord, Arc<Entry>), PublishError> {
        let record = next
            .policies
            .get_mut(name)
            .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })?;
        let canary = record
            .canary
            .take()
            .ok_or_else(|| PublishError::NoCanary { name: name.into() })?;
        let entry = self
            .registry
            .entry(name)
            .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })?;
        Ok((record, canary, entry))
    }

    /// Commits, swaps, updates the delivery gauges.
    fn finish(
        &self,
        changing: &Changing<'_>,
        name: &str,
        next: StoreState,
        entry: Entry,
    ) -> Result<(), PublishError> {
        let state = self.commit(changing, next, None)?;
        self.registry.install(name, entry);
        if let Some(record) = state.policies.get(name) {
            self.record_delivery(name, record);
        }
        Ok(())
    }

    fn outcome(&self, name: &str, removed: String) -> Result<ChangeOutcome, PublishError> {
        let entry = self
            .registry
            .entry(name)
            .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })?;
        Ok(ChangeOutcome {
            name: name.into(),
            active: entry.active.digest.clone(),
            canary: entry.canary.as_ref().map(|c| c.version.digest.clone()),
            removed,
        })
    }

    /// A servable version by digest: the one already in the registry, or loaded from the store.
    fn loaded_version(
        &self,
        digest: &str,
        entry: Option<&Entry>,
        name: &str,
    ) -> Result<Arc<PolicyVersion>, PublishError> {
        if let Some(entry) = entry {
            if entry.active.digest == digest {
                return Ok(entry.active.clone());
            }
            if let Some(canary) = entry.canary.as_ref().filter(|c| c.version.digest == digest) {
                return Ok(canary.version.clone());
            }
        }
        let artifact = self.store.get(digest)?;
        let (loaded, _) =
            self.load_component(name, &artifact.component, artifact.config.as_deref())?;
        let state = self.state();
        let share = self.share(state.policies.get(name).and_then(|r| r.share.as_ref()));
        Ok(Arc::new(PolicyVersion::new(
            loaded,
            artifact.manifest.digest,
            share,
        )))
    }
}
