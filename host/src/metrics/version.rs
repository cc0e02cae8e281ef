//! What the decision path updates for one serving version: handles resolved once, when the
//! version starts serving, so a decision touches atomics only (no lock, no label strings).

use super::labels::{DecisionLabels, FallbackLabels, PolicyLabels, VersionLabels};
use super::{FloatGauge, Histogram, Metrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;
use std::time::Duration;
use tailor_types::Reason;

/// Every reason, in the order of [`index`].
pub(super) const REASONS: [Reason; 8] = [
    Reason::TargetingMatch,
    Reason::Split,
    Reason::Default,
    Reason::Static,
    Reason::Cached,
    Reason::Disabled,
    Reason::Unknown,
    Reason::Error,
];

/// A reason's place in [`REASONS`] (a new reason fails to compile here until it is added).
fn index(reason: Reason) -> usize {
    match reason {
        Reason::TargetingMatch => 0,
        Reason::Split => 1,
        Reason::Default => 2,
        Reason::Static => 3,
        Reason::Cached => 4,
        Reason::Disabled => 5,
        Reason::Unknown => 6,
        Reason::Error => 7,
    }
}

/// The metric handles of one policy version while it serves (`registry::PolicyVersion` holds
/// them). After the version stops serving its series are removed; updates through handles
/// still held by decisions in flight are not exposed.
#[derive(Debug)]
pub struct VersionMetrics {
    /// `tailor_decisions_total{policy, version, reason}`, by [`index`].
    decisions: [Counter; REASONS.len()],
    /// `tailor_decision_cpu_seconds{policy, version}`.
    cpu: Histogram,
    /// `tailor_decision_duration_seconds{policy}` (shared by the policy's versions).
    wall: Histogram,
    policy: PolicyLabels,
    /// Resolved when used: a fallback is rare, and its series appears when it first happens.
    fallbacks: Family<FallbackLabels, Counter>,
    publish_to_serve: Family<PolicyLabels, FloatGauge>,
}

impl VersionMetrics {
    pub(super) fn new(metrics: &Metrics, policy: PolicyLabels, version: Arc<str>) -> Self {
        let decisions = REASONS.map(|reason| {
            metrics.decisions.get_or_create_owned(&DecisionLabels {
                policy: policy.policy.clone(),
                version: version.clone(),
                reason: reason.as_str(),
            })
        });
        let cpu = metrics
            .decision_cpu_seconds
            .get_or_create_owned(&VersionLabels {
                policy: policy.policy.clone(),
                version,
            });
        VersionMetrics {
            decisions,
            cpu,
            wall: metrics.decision_seconds.get_or_create_owned(&policy),
            policy,
            fallbacks: metrics.fallbacks.clone(),
            publish_to_serve: metrics.publish_to_serve.clone(),
        }
    }

    /// A slot decided with `reason`.
    pub fn decided(&self, reason: Reason) {
        self.decisions[index(reason)].inc();
    }

    /// The CPU time a decision took on its thread.
    pub fn cpu(&self, cpu: Duration) {
        self.cpu.observe(cpu);
    }

    /// The wall-clock time a decision took.
    pub fn wall(&self, wall: Duration) {
        self.wall.observe(wall);
    }

    /// A slot answered with its fallback, for `code` (`ErrorCode::as_str`).
    pub fn fallback(&self, code: &'static str) {
        let labels = FallbackLabels {
            policy: self.policy.policy.clone(),
            code,
        };
        self.fallbacks.get_or_create(&labels).inc();
    }

    /// The time from this version's install to its first decision.
    pub fn first_served(&self, after: Duration) {
        self.publish_to_serve
            .get_or_create(&self.policy)
            .set(after.as_secs_f64());
    }
}
