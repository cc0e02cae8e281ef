//! Publishing a version: signature, compile (or the precompiled cache), contract checks, the
//! attached fixture cases, a durable commit, then the swap.

use super::signing::SignatureError;
use super::{
    Action, CanaryRecord, Changing, Lifecycle, PolicyRecord, Step, StoreError, StoreState,
    VersionRecord,
};
use crate::engine::{LoadError, LoadedPolicy};
use crate::registry::{Canary, Entry, PolicyVersion};
use crate::scheduler::ShareOverride;
use std::sync::Arc;
use std::time::Instant;
use tailor_types::fixture::FixtureCase;

/// A version to publish under a name.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    /// The component; `None` keeps the active version's component (a config-only change).
    pub component: Option<Vec<u8>>,
    /// The config document, exactly as signed.
    pub config: Option<String>,
    /// The signature text (`tailor sign`).
    pub signature: Option<String>,
    /// Cases the version must pass before it is swapped in.
    pub fixtures: Vec<FixtureCase>,
    /// Serve it to this share of units as a canary instead of activating it.
    pub canary_percent: Option<f64>,
    /// From a watched directory or a followed tag rather than a person: a version a rollback
    /// withdrew is refused instead of coming back (an explicit publish brings it back).
    pub automated: bool,
    /// The policy's share of the decision threads from now on; `None` keeps the one it has.
    pub share: Option<ShareOverride>,
    /// Who asks (`admin token`, `console (editor)` …), kept in the policy's history.
    pub by: Option<String>,
    /// Why, in the words of whoever asks; kept in the policy's history.
    pub note: Option<String>,
    /// A config change from the console, without a signature: the node signs it with its
    /// config-signing key when it has one (see `LifecycleConfig::config_signing_key`).
    pub node_signs: bool,
}

/// What a publish did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishOutcome {
    pub name: String,
    pub digest: String,
    /// `active` or `canary`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
    /// The version it replaced, if any.
    pub previous: Option<String>,
    /// The digest was already active: nothing changed.
    pub unchanged: bool,
    /// Loaded from the precompiled cache (no compilation).
    pub precompiled: bool,
    pub fixtures_passed: usize,
    pub signed_by: Option<String>,
    pub elapsed_ms: f64,
}

/// Why a publish was refused; the active version keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("config: {}", join_problems(problems))]
    ConfigRefused {
        problems: Vec<crate::engine::ConfigProblem>,
    },
    #[error("the policy could not check its config: {0}")]
    ConfigCheck(#[source] crate::engine::DecisionError),
    #[error("fixture case `{case}` failed: {detail}")]
    Fixture { case: String, detail: String },
    #[error(
        "fixture case `{case}` used {cpu_ms:.3} ms of CPU, over the {budget_ms:.3} ms per decision the node allows (guard_cpu_ms)"
    )]
    OverBudget {
        case: String,
        cpu_ms: f64,
        budget_ms: f64,
    },
    #[error("policy `{name}` has a canary in progress; promote or abort it first")]
    CanaryInProgress { name: String },
    #[error("no policy named `{name}`")]
    UnknownPolicy { name: String },
    #[error("policy `{name}` has no earlier version to roll back to")]
    NothingToRollBack { name: String },
    #[error(
        "version {digest} of `{name}` was withdrawn by a rollback; publish it explicitly to bring it back"
    )]
    Withdrawn { name: String, digest: String },
    #[error("policy `{name}` has no canary")]
    NoCanary { name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A version made ready on a snapshot, without the change lock: everything slow is done.
struct Prepared {
    digest: String,
    component: Vec<u8>,
    /// The signature kept with the version: the one sent, or the node's own.
    signature: Option<String>,
    signed_by: Option<String>,
    /// For a config-only change, the active version whose component it reuses: it applies only
    /// while that version is still the active one.
    base: Option<String>,
    loaded: LoadedPolicy,
    precompiled: bool,
    fixtures_passed: usize,
}

impl Lifecycle {
    /// Validates, checks and swaps in a version (blocking: compiles; call off the request
    /// threads). On any error nothing changes and the active version keeps serving.
    ///
    /// The slow part (signature, compilation, contract and fixture checks) runs without the
    /// change lock; the checks against the current state (a canary in progress, a withdrawn
    /// version) run again under it, so concurrent changes of a name apply in commit order.
    pub fn publish(
        &self,
        name: &str,
        request: PublishRequest,
    ) -> Result<PublishOutcome, PublishError> {
        let started = Instant::now();
        // Set once the version's digest is known, so a refusal after that point names it.
        let mut digest_seen = String::new();
        let outcome =
            validate_request(name, &request, self.config.decision_threads).and_then(|()| {
                self.change(
                    || self.prepare(name, &request, started, &mut digest_seen),
                    |changing, prepared| self.apply(changing, name, &request, prepared, started),
                )
            });
        if let Err(error) = &outcome {
            self.refused(name, &digest_seen, error, request.by.clone());
        }
        // The version was already serving: a share it names still applies.
        match (outcome, request.share) {
            (Ok(outcome), Some(share)) if outcome.unchanged => {
                self.update_share(name, share)?;
                Ok(outcome)
            }
            (outcome, _) => outcome,
        }
    }

    /// Sets a policy's share without a new version: committed with the policy, applied at once
    /// to the versions serving it.
    fn update_share(&self, name: &str, share: ShareOverride) -> Result<(), PublishError> {
        let changing = self.lock_changes();
        let state = self.state();
        let set = Some(share).filter(|s| !s.is_empty());
        if state.policies.get(name).is_none_or(|r| r.share == set) {
            return Ok(());
        }
        let mut next = StoreState::clone(&state);
        if let Some(record) = next.policies.get_mut(name) {
            record.share = set;
        }
        self.commit(&changing, next, None)?;
        let resolved = self.share(set.as_ref());
        if let Some(entry) = self.registry.entry(name) {
            entry.active.lane.set_share(resolved);
            if let Some(canary) = &entry.canary {
                canary.version.lane.set_share(resolved);
            }
        }
        tracing::info!(policy = name, share = %resolved.describe(), "policy share changed");
        Ok(())
    }

    /// The slow part of a publish, on a snapshot of the state and registry: ends early when
    /// the snapshot already refuses the version or already serves it.
    fn prepare(
        &self,
        name: &str,
        request: &PublishRequest,
        started: Instant,
        digest_seen: &mut String,
    ) -> Result<Step<Prepared, PublishOutcome>, PublishError> {
        let state = self.state();
        let entry = self.registry.entry(name);
        // The component: uploaded, or the active one's for a config-only change.
        let (component, base) = match (&request.component, &entry) {
            (Some(bytes), _) => (bytes.clone(), None),
            (None, Some(entry)) => {
                if request.config.is_none() {
                    return Err(PublishError::Invalid {
                        field: "component",
                        message: "send a component, a config, or both".into(),
                    });
                }
                let base = entry.active.digest.clone();
                match self.store.get(&base) {
                    Ok(artifact) => (artifact.component, Some(base)),
                    Err(error)
                        if self.replaced_since(|s| {
                            s.policies
                                .get(name)
                                .is_some_and(|r| r.active.digest == base)
                        }) =>
                    {
                        return Ok(Step::Again(error.into()));
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            (None, None) => {
                return Err(PublishError::Invalid {
                    field: "component",
                    message: format!("policy `{name}` does not exist yet: a component is required"),
                });
            }
        };
        let digest = crate::registry::digest(&component, request.config.as_deref());
        digest_seen.clone_from(&digest);
        let signature = self.signature_for(request, &digest)?;
        let signed_by = self.check_signature(&digest, signature.as_deref())?;
        // Refuse cheaply before compiling; `apply` checks again against the state then current.
        if check_current(name, request, state.policies.get(name), &digest)? {
            return Ok(Step::Done(unchanged(
                name, digest, signed_by, true, 0, started,
            )));
        }
        // Compile (or reuse: a config-only change needs no compilation).
        let (loaded, precompiled) = match (&request.component, &entry) {
            (None, Some(entry)) => (
                entry.active.loaded.with_config(request.config.as_deref())?,
                true,
            ),
            _ => self.load_component(name, &component, request.config.as_deref())?,
        };
        // The policy's own checks of its config (contract 0.2.0), before any case runs on it.
        let problems = self
            .engine
            .check_config(&loaded)
            .map_err(PublishError::ConfigCheck)?;
        if !problems.is_empty() {
            return Err(PublishError::ConfigRefused { problems });
        }
        let fixtures_passed = super::fixtures::run(
            &self.engine,
            &loaded,
            &request.fixtures,
            self.config.auto_rollback.guard.cpu,
        )?;
        #[cfg(test)]
        self.prepared_hook.call(name);
        Ok(Step::Ready(Prepared {
            digest,
            component,
            signature,
            signed_by,
            base,
            loaded,
            precompiled,
            fixtures_passed,
        }))
    }

    /// Under the change lock: checks the prepared version against the current state, commits
    /// it and swaps it in. `None` when the active version it was prepared on was replaced.
    fn apply(
        &self,
        changing: &Changing<'_>,
        name: &str,
        request: &PublishRequest,
        prepared: Prepared,
        started: Instant,
    ) -> Result<Option<PublishOutcome>, PublishError> {
        let state = self.state();
        let entry = self.registry.entry(name);
        if let Some(base) = &prepared.base
            && entry.as_ref().map(|e| e.active.digest.as_str()) != Some(base.as_str())
        {
            return Ok(None);
        }
        let Prepared {
            digest,
            component,
            signature,
            signed_by,
            loaded,
            precompiled,
            fixtures_passed,
            ..
        } = prepared;
        let record = state.policies.get(name);
        if check_current(name, request, record, &digest)? {
            return Ok(Some(unchanged(
                name,
                digest,
                signed_by,
                precompiled,
                fixtures_passed,
                started,
            )));
        }
        let now = crate::clock::now_ms();
        let version = VersionRecord {
            digest: digest.clone(),
            published_at_ms: now,
            signed_by: signed_by.clone(),
        };
        let mut next = StoreState::clone(&state);
        let previous = record.map(|r| r.active.digest.clone());
        let share_override = request
            .share
            .or_else(|| record.and_then(|r| r.share))
            .filter(|s| !s.is_empty());
        let servable = Arc::new(PolicyVersion::new(
            loaded,
            digest.clone(),
            self.share(share_override.as_ref()),
        ));
        let (status, new_entry) = match (request.canary_percent, entry) {
            (Some(percent), Some(entry)) => {
                let record = next
                    .policies
                    .get_mut(name)
                    .ok_or_else(|| PublishError::UnknownPolicy { name: name.into() })?;
                record.canary = Some(CanaryRecord { version, percent });
                record.share = share_override;
                let share = format!("{percent}% of units");
                let detail = match &request.note {
                    Some(note) => format!("{share}: {note}"),
                    None => share,
                };
                record.record_by(
                    now,
                    Action::CanaryStarted,
                    &digest,
                    Some(detail),
                    request.by.clone(),
                );
                let new_entry = Entry {
                    active: entry.active.clone(),
                    canary: Some(Canary {
                        version: servable,
                        percent,
                    }),
                };
                ("canary", new_entry)
            }
            (Some(_), None) => return Err(no_active_version(name)),
            (None, entry) => {
                let keep = self.config.keep_versions;
                let record = next
                    .policies
                    .entry(name.to_owned())
                    .and_modify(|r| r.activate(version.clone(), keep))
                    .or_insert_with(|| PolicyRecord::new(version));
                record.share = share_override;
                record.record_by(
                    now,
                    Action::Activated,
                    &digest,
                    request.note.clone(),
                    request.by.clone(),
                );
                // What the version it replaces cost: the regression guardrail's baseline.
                if let Some(entry) = &entry {
                    servable.set_baseline(entry.active.cost.summary());
                }
                record.withdrawn.retain(|d| *d != digest);
                (
                    "active",
                    Entry {
                        active: servable,
                        canary: None,
                    },
                )
            }
        };
        // Durable first, then visible.
        let added = super::NewVersion {
            component: &component,
            config: request.config.as_deref(),
            signature: signature.as_deref(),
        };
        let state = self.commit(changing, next, Some(added))?;
        self.registry.install(name, new_entry);
        if let Some(record) = state.policies.get(name) {
            self.record_delivery(name, record);
        }
        self.metrics.policy_published(name, status);
        if status == "active" {
            self.metrics.policy_swapped(name);
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(policy = name, %digest, status, precompiled, fixtures_passed, elapsed_ms, "policy published");
        Ok(Some(PublishOutcome {
            name: name.into(),
            digest,
            status,
            canary_percent: request.canary_percent,
            previous,
            unchanged: false,
            precompiled,
            fixtures_passed,
            signed_by,
            elapsed_ms,
        }))
    }

    /// The signature a version is checked and kept with: the one sent, or for a console
    /// change, one the node's config-signing key makes; a console change to a node that needs
    /// signatures and holds no such key is refused saying so.
    fn signature_for(
        &self,
        request: &PublishRequest,
        digest: &str,
    ) -> Result<Option<String>, PublishError> {
        if !request.node_signs || request.signature.is_some() {
            return Ok(request.signature.clone());
        }
        match &self.config.config_signing_key {
            Some(key) => Ok(Some(key.sign(digest))),
            None if self.config.require_signatures => Err(PublishError::Invalid {
                field: "signature",
                message: "this node requires signed versions and has no config_signing_key to sign a console change with: configure one (its public key among the trusted_keys), or publish a signed version with `tailor publish`".into(),
            }),
            None => Ok(None),
        }
    }

    /// The key id of a valid signature; an error when one is required and missing, or present
    /// and not valid for a trusted key.
    fn check_signature(
        &self,
        digest: &str,
        signature: Option<&str>,
    ) -> Result<Option<String>, SignatureError> {
        let keys = &self.config.trusted_keys;
        match signature {
            None if !self.config.require_signatures => Ok(None),
            Some(_) if keys.is_empty() && !self.config.require_signatures => Ok(None),
            signature => keys.verify(digest, signature).map(Some),
        }
    }
}

/// The problems of a refused config, as one line: `rules[3].when: unknown operator "~="; …`.
fn join_problems(problems: &[crate::engine::ConfigProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The longest note a change may carry into the history.
pub const MAX_NOTE_CHARS: usize = 500;

/// What needs no state: the name, the canary share, the config's syntax.
fn validate_request(
    name: &str,
    request: &PublishRequest,
    decision_threads: u32,
) -> Result<(), PublishError> {
    validate_name(name)?;
    if let Some(share) = &request.share {
        share
            .validate(decision_threads)
            .map_err(|error| PublishError::Invalid {
                field: "share",
                message: error.to_string(),
            })?;
    }
    if let Some(note) = &request.note
        && note.chars().count() > MAX_NOTE_CHARS
    {
        return Err(PublishError::Invalid {
            field: "note",
            message: format!("note must be at most {MAX_NOTE_CHARS} characters"),
        });
    }
    if let Some(percent) = request.canary_percent
        && !(percent > 0.0 && percent < 100.0)
    {
        return Err(PublishError::Invalid {
            field: "canary_percent",
            message: format!("canary_percent must be above 0 and below 100, not {percent}"),
        });
    }
    if let Some(config) = &request.config {
        let document = serde_json::from_str::<serde_json::Value>(config).map_err(|e| {
            PublishError::Invalid {
                field: "config",
                message: format!("config is not valid JSON: {e}"),
            }
        })?;
        // The experiments and outcome rules the node reads from it (results, attribution).
        crate::outcomes::definition::parse(&document).map_err(|e| PublishError::Invalid {
            field: "config",
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Publishing `digest` against a policy's record: refused (a canary in progress, a withdrawn
/// version from an automated source, a canary of nothing), already done (`true`), or to go
/// ahead (`false`).
fn check_current(
    name: &str,
    request: &PublishRequest,
    record: Option<&PolicyRecord>,
    digest: &str,
) -> Result<bool, PublishError> {
    let Some(record) = record else {
        return match request.canary_percent {
            Some(_) => Err(no_active_version(name)),
            None => Ok(false),
        };
    };
    if request.automated && record.withdrawn.iter().any(|d| d == digest) {
        return Err(PublishError::Withdrawn {
            name: name.into(),
            digest: digest.into(),
        });
    }
    if request.canary_percent.is_none() {
        if record.active.digest == digest {
            return Ok(true);
        }
        if record.canary.is_some() {
            return Err(PublishError::CanaryInProgress { name: name.into() });
        }
    }
    Ok(false)
}

fn no_active_version(name: &str) -> PublishError {
    PublishError::Invalid {
        field: "canary_percent",
        message: format!("policy `{name}` has no active version to canary against"),
    }
}

/// The outcome of publishing the version already active.
fn unchanged(
    name: &str,
    digest: String,
    signed_by: Option<String>,
    precompiled: bool,
    fixtures_passed: usize,
    started: Instant,
) -> PublishOutcome {
    PublishOutcome {
        name: name.into(),
        digest,
        status: "active",
        canary_percent: None,
        previous: None,
        unchanged: true,
        precompiled,
        fixtures_passed,
        signed_by,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Policy names go into URLs, file names and metric labels: keep them short and plain.
pub(super) fn validate_name(name: &str) -> Result<(), PublishError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(PublishError::Invalid {
            field: "name",
            message: format!(
                "policy name {name:?} must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            ),
        })
    }
}
