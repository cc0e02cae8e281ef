//! The committed set of policies: per name the active version, any canary, the versions kept for
//! rollback and a bounded history of what happened. What `state.json` holds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// History entries kept per policy.
pub const HISTORY_KEPT: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreState {
    /// Bumped on every commit.
    pub generation: u64,
    pub policies: BTreeMap<String, PolicyRecord>,
}

/// One policy name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    pub active: VersionRecord,
    #[serde(default)]
    pub canary: Option<CanaryRecord>,
    /// Earlier active versions, most recent first: where a rollback goes.
    #[serde(default)]
    pub previous: Vec<VersionRecord>,
    /// What happened to this policy, oldest first, at most [`HISTORY_KEPT`].
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Versions taken out of service by a rollback or an aborted canary, most recent last:
    /// automated sources (a watched directory, a followed tag) do not bring them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<String>,
    /// The policy's share of the decision threads, where a publish set one (the node's
    /// defaults fill in the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<crate::scheduler::ShareOverride>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRecord {
    pub digest: String,
    pub published_at_ms: i64,
    /// Key id of the signature it was accepted with.
    #[serde(default)]
    pub signed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRecord {
    pub version: VersionRecord,
    /// Share of units served the canary, 0 to 100 (exclusive).
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub at_ms: i64,
    pub action: Action,
    pub digest: String,
    /// Why: a rollback's or refusal's reason, or the note a person gave with the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Who made the change (`admin token`, `console (editor)` …); absent for the node's own
    /// changes (automatic rollbacks) and for entries older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Became the active version.
    Activated,
    CanaryStarted,
    CanaryPromoted,
    CanaryAborted,
    /// Manual rollback to this version.
    RolledBack,
    /// Automatic rollback away from this version.
    AutoRolledBack,
    /// Automatic abort of this canary.
    CanaryAutoAborted,
    /// A publish of this digest was refused.
    Refused,
}

impl Action {
    /// Changed the version every unit gets.
    pub fn is_change(self) -> bool {
        matches!(self, Action::Activated | Action::CanaryPromoted)
    }

    /// Undid a change (or a canary): what the change-failure ratio counts.
    pub fn is_failed_change(self) -> bool {
        matches!(
            self,
            Action::RolledBack
                | Action::AutoRolledBack
                | Action::CanaryAborted
                | Action::CanaryAutoAborted
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Activated => "activated",
            Action::CanaryStarted => "canary_started",
            Action::CanaryPromoted => "canary_promoted",
            Action::CanaryAborted => "canary_aborted",
            Action::RolledBack => "rolled_back",
            Action::AutoRolledBack => "auto_rolled_back",
            Action::CanaryAutoAborted => "canary_auto_aborted",
            Action::Refused => "refused",
        }
    }
}

impl PolicyRecord {
    pub fn new(active: VersionRecord) -> PolicyRecord {
        PolicyRecord {
            active,
            canary: None,
            previous: Vec::new(),
            history: Vec::new(),
            withdrawn: Vec::new(),
            share: None,
        }
    }

    /// Makes `version` active, keeping the old active for rollback (at most `keep` of them).
    pub fn activate(&mut self, version: VersionRecord, keep: usize) {
        let old = std::mem::replace(&mut self.active, version);
        if old.digest != self.active.digest {
            self.previous.retain(|v| v.digest != self.active.digest);
            self.previous.insert(0, old);
            self.previous.truncate(keep);
        }
    }

    /// Marks a version withdrawn (at most [`HISTORY_KEPT`] are remembered).
    pub fn withdraw(&mut self, digest: &str) {
        self.withdrawn.retain(|d| d != digest);
        self.withdrawn.push(digest.to_owned());
        if self.withdrawn.len() > HISTORY_KEPT {
            self.withdrawn.remove(0);
        }
    }

    /// Changes of the version every unit gets (activations, promoted canaries) in the kept
    /// history.
    pub fn changes(&self) -> usize {
        self.count(Action::is_change)
    }

    /// The share of changes undone (rolled back, or canaries aborted) in the kept history;
    /// `None` before the first change. The admin API and the metric both report this.
    pub fn change_failure_rate(&self) -> Option<f64> {
        let changes = self.changes();
        (changes > 0).then(|| self.count(Action::is_failed_change) as f64 / changes as f64)
    }

    /// History entries whose action matches.
    pub fn count(&self, matches: impl Fn(Action) -> bool) -> usize {
        self.history.iter().filter(|h| matches(h.action)).count()
    }

    pub fn record(&mut self, at_ms: i64, action: Action, digest: &str, detail: Option<String>) {
        self.record_by(at_ms, action, digest, detail, None);
    }

    /// [`PolicyRecord::record`], saying who made the change.
    pub fn record_by(
        &mut self,
        at_ms: i64,
        action: Action,
        digest: &str,
        detail: Option<String>,
        by: Option<String>,
    ) {
        self.history.push(HistoryEntry {
            at_ms,
            action,
            digest: digest.to_owned(),
            detail,
            by,
        });
        if self.history.len() > HISTORY_KEPT {
            let excess = self.history.len() - HISTORY_KEPT;
            self.history.drain(..excess);
        }
    }
}

impl StoreState {
    /// Every digest the state names (active, canaries, rollback lists).
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        self.policies.values().flat_map(|p| {
            std::iter::once(p.active.digest.as_str())
                .chain(p.canary.iter().map(|c| c.version.digest.as_str()))
                .chain(p.previous.iter().map(|v| v.digest.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(digest: &str) -> VersionRecord {
        VersionRecord {
            digest: digest.into(),
            published_at_ms: 0,
            signed_by: None,
        }
    }

    #[test]
    fn activation_keeps_a_bounded_rollback_list_without_duplicates() {
        let mut record = PolicyRecord::new(version("a"));
        for d in ["b", "c", "d", "e"] {
            record.activate(version(d), 3);
        }
        let previous: Vec<&str> = record.previous.iter().map(|v| v.digest.as_str()).collect();
        assert_eq!(previous, ["d", "c", "b"]);
        record.activate(version("c"), 3);
        let previous: Vec<&str> = record.previous.iter().map(|v| v.digest.as_str()).collect();
        assert_eq!(previous, ["e", "d", "b"]);
        record.activate(version("c"), 3);
        assert_eq!(record.previous.len(), 3);
    }

    #[test]
    fn the_change_failure_rate_counts_undone_changes() {
        let mut record = PolicyRecord::new(version("a"));
        assert_eq!(record.change_failure_rate(), None);
        record.record(0, Action::Activated, "a", None);
        record.record(1, Action::CanaryStarted, "b", None);
        record.record(2, Action::CanaryAborted, "b", None);
        record.record(3, Action::Refused, "c", None);
        assert_eq!(record.changes(), 1);
        assert_eq!(record.change_failure_rate(), Some(1.0));
        record.record(4, Action::Activated, "d", None);
        record.record(5, Action::CanaryPromoted, "e", None);
        record.record(6, Action::Activated, "f", None);
        record.record(7, Action::AutoRolledBack, "e", None);
        assert_eq!(record.changes(), 4);
        assert_eq!(record.change_failure_rate(), Some(0.5));
    }

    #[test]
    fn history_is_bounded() {
        let mut record = PolicyRecord::new(version("a"));
        for i in 0..(HISTORY_KEPT + 10) {
            record.record(i as i64, Action::Activated, "a", None);
        }
        assert_eq!(record.history.len(), HISTORY_KEPT);
        assert_eq!(record.history[0].at_ms, 10);
    }
}
