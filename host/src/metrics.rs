//! Prometheus metrics. Names are constants here, with their help text; labels are typed and
//! bounded (policy name and serving version, reason, error code, route template, status, profile
//! source), never a customer id or a raw path. Updates are atomic; the decision path updates
//! handles resolved when a version starts serving ([`VersionMetrics`]), so it neither locks nor
//! builds label strings.

mod histogram;
mod labels;
#[cfg(test)]
mod tests;
mod version;

pub use histogram::Histogram;
pub use version::VersionMetrics;

use labels::{
    DecisionLabels, EventLabels, FallbackLabels, GuardLabels, HttpLabels, PolicyLabels,
    PublishLabels, RollbackLabels, RouteLabels, SourceLabels, VersionLabels,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// A gauge of seconds or ratios.
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// The metric name constants and [`ALL`], their names with their help text (the doc comment).
macro_rules! names {
    ($( $(#[doc = $doc:literal])+ $id:ident = $name:literal; )*) => {
        $( $(#[doc = $doc])+ pub const $id: &str = $name; )*
        /// Every metric this node exposes: name and help text.
        pub const ALL: &[(&str, &str)] = &[$( ($name, concat!($($doc),+)) ),*];
    };
}

names! {
    /// Slot decisions served, by policy, serving version and reason.
    DECISIONS = "tailor_decisions_total";
    /// Slots answered with their fallback, by policy and error code.
    FALLBACKS = "tailor_decision_fallbacks_total";
    /// Wall-clock time of one decision, by policy.
    DECISION_SECONDS = "tailor_decision_duration_seconds";
    /// Profile lookups, by where the profile came from.
    PROFILE_LOOKUPS = "tailor_profile_lookups_total";
    /// HTTP requests answered, by route template and status.
    HTTP_REQUESTS = "tailor_http_requests_total";
    /// Requests being handled when the metrics are scraped (the scrape included).
    HTTP_IN_FLIGHT = "tailor_http_requests_in_flight";
    /// Requests refused because every decision slot was busy.
    LOAD_SHED = "tailor_load_shed_total";
    /// Requests refused for a missing or wrong token, by route template.
    AUTH_FAILURES = "tailor_auth_failures_total";
    /// Profile events received, by outcome (applied, duplicate, rejected).
    EVENTS = "tailor_events_total";
    /// Profiles in the loaded snapshot.
    SNAPSHOT_PROFILES = "tailor_snapshot_profiles";
    /// When the loaded snapshot was generated, in seconds since the epoch.
    SNAPSHOT_GENERATED = "tailor_snapshot_generated_timestamp_seconds";
    /// Policy publishes, by policy and outcome.
    POLICY_PUBLISHES = "tailor_policy_publishes_total";
    /// Times a policy's active version was replaced (publish or promote).
    POLICY_SWAPS = "tailor_policy_swaps_total";
    /// Rollbacks, by policy and kind (manual or automatic).
    POLICY_ROLLBACKS = "tailor_policy_rollbacks_total";
    /// Automatic rollbacks a latency or cost guardrail caused, by `guard`.
    POLICY_GUARDRAIL_ROLLBACKS = "tailor_policy_guardrail_rollbacks_total";
    /// CPU time of one decision on its thread, by policy and version.
    DECISION_CPU_SECONDS = "tailor_decision_cpu_seconds";
    /// Share of a policy's changes that were rolled back.
    POLICY_CHANGE_FAILURE_RATIO = "tailor_policy_change_failure_ratio";
    /// From a version's install on this node to its first decision served, by policy.
    POLICY_PUBLISH_TO_SERVE = "tailor_policy_publish_to_first_decision_seconds";
    /// 1 while the node is connected to its events broker, 0 while it is not.
    FLEET_BROKER_CONNECTED = "tailor_fleet_broker_connected";
    /// Events this node accepted that the broker has acknowledged.
    FLEET_EVENTS_FORWARDED = "tailor_fleet_events_forwarded_total";
    /// Events this node accepted that the broker has not acknowledged yet.
    FLEET_OUTBOX_DEPTH = "tailor_fleet_outbox_depth";
    /// Broker messages this node's consumer has not received yet.
    FLEET_CONSUMER_LAG = "tailor_fleet_consumer_lag";
    /// Events other nodes accepted, applied here.
    FLEET_REMOTE_EVENTS_APPLIED = "tailor_fleet_remote_events_applied_total";
    /// Events received from the broker that this node had already (re-deliveries, re-sends).
    FLEET_DUPLICATES_DROPPED = "tailor_fleet_duplicate_events_dropped_total";
    /// Broker messages that are not events (dropped, with a warning).
    FLEET_MESSAGES_REJECTED = "tailor_fleet_messages_rejected_total";
    /// From another node's acknowledgment of an event to its being durable here and visible to
    /// the next decision.
    FLEET_REPLICATION_SECONDS = "tailor_fleet_event_replication_seconds";
    /// Exposures recorded (served slots with an experiment arm or ranked items).
    OUTCOME_EXPOSURES = "tailor_outcome_exposures_total";
    /// Conversions attributed to exposures (one per arm or item an event earned).
    OUTCOME_CONVERSIONS = "tailor_outcome_conversions_total";
    /// Exposures and events not counted because the outcome queue was full.
    OUTCOME_DROPPED = "tailor_outcome_dropped_total";
    /// Batches of outcome records the log could not write (their counts stay in memory).
    OUTCOME_WRITE_ERRORS = "tailor_outcome_write_errors_total";
    /// Outcome records removed from the log by erasures, and other nodes' records of erased
    /// units dropped on arrival.
    OUTCOME_ERASED = "tailor_outcome_erased_records_total";
    /// Bytes of the outcome log on disk.
    OUTCOME_LOG_BYTES = "tailor_outcome_log_bytes";
    /// This node's outcome records the broker acknowledged.
    FLEET_OUTCOMES_FORWARDED = "tailor_fleet_outcomes_forwarded_total";
    /// Other nodes' outcome records applied here.
    FLEET_OUTCOMES_RECEIVED = "tailor_fleet_outcomes_received_total";
}

/// Upper bounds of the decision-latency histograms, in seconds.
const BUCKETS: [f64; 12] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
];

/// Upper bounds of the replication-latency histogram, in seconds.
const REPLICATION_BUCKETS: [f64; 12] = [
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

fn decision_histogram() -> Histogram {
    Histogram::new(&BUCKETS)
}

/// A histogram family over the decision-latency buckets.
type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The node's metrics. Unlabelled ones are fields to update directly; labelled ones have a
/// method taking their label values; the decision path uses [`VersionMetrics`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    fallbacks: Family<FallbackLabels, Counter>,
    decision_seconds: HistogramFamily<PolicyLabels>,
    decision_cpu_seconds: HistogramFamily<VersionLabels>,
    publish_to_serve: Family<PolicyLabels, FloatGauge>,
    profile_lookups: Family<SourceLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
    auth_failures: Family<RouteLabels, Counter>,
    events: Family<EventLabels, Counter>,
    policy_publishes: Family<PublishLabels, Counter>,
    policy_swaps: Family<PolicyLabels, Counter>,
    policy_rollbacks: Family<RollbackLabels, Counter>,
    guardrail_rollbacks: Family<GuardLabels, Counter>,
    change_failure_ratio: Family<PolicyLabels, FloatGauge>,
    pub http_in_flight: Gauge,
    pub load_shed: Counter,
    pub snapshot_profiles: Gauge,
    pub snapshot_generated: FloatGauge,
    pub fleet_broker_connected: Gauge,
    pub fleet_events_forwarded: Counter,
    pub fleet_outbox_depth: Gauge,
    pub fleet_consumer_lag: Gauge,
    pub fleet_remote_events_applied: Counter,
    pub fleet_duplicates_dropped: Counter,
    pub fleet_messages_rejected: Counter,
    pub fleet_replication_seconds: Histogram,
    pub outcome_exposures: Counter,
    pub outcome_conversions: Counter,
    pub outcome_dropped: Counter,
    pub outcome_write_errors: Counter,
    pub outcome_erased: Counter,
    pub outcome_log_bytes: Gauge,
    pub fleet_outcomes_forwarded: Counter,
    pub fleet_outcomes_received: Counter,
}

/// The help text of a metric: its doc comment, without the final full stop (the encoder adds
/// one).
fn help(name: &str) -> &'static str {
    let text = ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, help)| *help);
    let text = text.trim();
    text.strip_suffix('.').unwrap_or(text)
}

/// Registers `metric` under its exposed `name` (a counter without the `_total` the encoder
/// appends).
fn register(registry: &mut Registry, name: &'static str, metric: impl Metric) {
    let stem = name.strip_suffix("_total").unwrap_or(name);
    registry.register(stem, help(name), metric);
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            decisions: Family::default(),
            fallbacks: Family::default(),
            decision_seconds: HistogramFamily::new_with_constructor(decision_histogram),
            decision_cpu_seconds: HistogramFamily::new_with_constructor(decision_histogram),
            publish_to_serve: Family::default(),
            profile_lookups: Family::default(),
            http_requests: Family::default(),
            auth_failures: Family::default(),
            events: Family::default(),
            policy_publishes: Family::default(),
            policy_swaps: Family::default(),
            policy_rollbacks: Family::default(),
            guardrail_rollbacks: Family::default(),
            change_failure_ratio: Family::default(),
            http_in_flight: Gauge::default(),
            load_shed: Counter::default(),
            snapshot_profiles: Gauge::default(),
            snapshot_generated: FloatGauge::default(),
            fleet_broker_connected: Gauge::default(),
            fleet_events_forwarded: Counter::default(),
            fleet_outbox_depth: Gauge::default(),
            fleet_consumer_lag: Gauge::default(),
            fleet_remote_events_applied: Counter::default(),
            fleet_duplicates_dropped: Counter::default(),
            fleet_messages_rejected: Counter::default(),
            fleet_replication_seconds: Histogram::new(&REPLICATION_BUCKETS),
            outcome_exposures: Counter::default(),
            outcome_conversions: Counter::default(),
            outcome_dropped: Counter::default(),
            outcome_write_errors: Counter::default(),
            outcome_erased: Counter::default(),
            outcome_log_bytes: Gauge::default(),
            fleet_outcomes_forwarded: Counter::default(),
            fleet_outcomes_received: Counter::default(),
        };
        register(&mut r, DECISIONS, m.decisions.clone());
        register(&mut r, FALLBACKS, m.fallbacks.clone());
        register(&mut r, DECISION_SECONDS, m.decision_seconds.clone());
        register(&mut r, PROFILE_LOOKUPS, m.profile_lookups.clone());
        register(&mut r, HTTP_REQUESTS, m.http_requests.clone());
        register(&mut r, HTTP_IN_FLIGHT, m.http_in_flight.clone());
        register(&mut r, LOAD_SHED, m.load_shed.clone());
        register(&mut r, AUTH_FAILURES, m.auth_failures.clone());
        register(&mut r, EVENTS, m.events.clone());
        register(&mut r, SNAPSHOT_PROFILES, m.snapshot_profiles.clone());
        register(&mut r, SNAPSHOT_GENERATED, m.snapshot_generated.clone());
        register(&mut r, POLICY_PUBLISHES, m.policy_publishes.clone());
        register(&mut r, POLICY_SWAPS, m.policy_swaps.clone());
        register(&mut r, POLICY_ROLLBACKS, m.policy_rollbacks.clone());
        register(
            &mut r,
            POLICY_GUARDRAIL_ROLLBACKS,
            m.guardrail_rollbacks.clone(),
        );
        register(&mut r, DECISION_CPU_SECONDS, m.decision_cpu_seconds.clone());
        register(
            &mut r,
            POLICY_CHANGE_FAILURE_RATIO,
            m.change_failure_ratio.clone(),
        );
        register(&mut r, POLICY_PUBLISH_TO_SERVE, m.publish_to_serve.clone());
        register(
            &mut r,
            FLEET_BROKER_CONNECTED,
            m.fleet_broker_connected.clone(),
        );
        register(
            &mut r,
            FLEET_EVENTS_FORWARDED,
            m.fleet_events_forwarded.clone(),
        );
        register(&mut r, FLEET_OUTBOX_DEPTH, m.fleet_outbox_depth.clone());
        register(&mut r, FLEET_CONSUMER_LAG, m.fleet_consumer_lag.clone());
        register(
            &mut r,
            FLEET_REMOTE_EVENTS_APPLIED,
            m.fleet_remote_events_applied.clone(),
        );
        register(
            &mut r,
            FLEET_DUPLICATES_DROPPED,
            m.fleet_duplicates_dropped.clone(),
        );
        register(
            &mut r,
            FLEET_MESSAGES_REJECTED,
            m.fleet_messages_rejected.clone(),
        );
        register(
            &mut r,
            FLEET_REPLICATION_SECONDS,
            m.fleet_replication_seconds.clone(),
        );
        register(&mut r, OUTCOME_EXPOSURES, m.outcome_exposures.clone());
        register(&mut r, OUTCOME_CONVERSIONS, m.outcome_conversions.clone());
        register(&mut r, OUTCOME_DROPPED, m.outcome_dropped.clone());
        register(&mut r, OUTCOME_WRITE_ERRORS, m.outcome_write_errors.clone());
        register(&mut r, OUTCOME_ERASED, m.outcome_erased.clone());
        register(&mut r, OUTCOME_LOG_BYTES, m.outcome_log_bytes.clone());
        register(
            &mut r,
            FLEET_OUTCOMES_FORWARDED,
            m.fleet_outcomes_forwarded.clone(),
        );
        register(
            &mut r,
            FLEET_OUTCOMES_RECEIVED,
            m.fleet_outcomes_received.clone(),
        );
        Metrics { registry: r, ..m }
    }
}

impl Metrics {
    /// The handles a version serving `policy` updates on the decision path. Its series exist
    /// from now on (at zero) until [`Metrics::retire_version`].
    pub fn serve_version(&self, policy: &str, version: &str) -> VersionMetrics {
        VersionMetrics::new(self, PolicyLabels::new(policy), Arc::from(version))
    }

    /// Removes the series of a version that stopped serving `policy` (swapped out, rolled back,
    /// promoted over or aborted), so the version label is bounded by what a node serves.
    pub fn retire_version(&self, policy: &str, version: &str) {
        let policy: Arc<str> = Arc::from(policy);
        let version: Arc<str> = Arc::from(version);
        for reason in version::REASONS {
            self.decisions.remove(&DecisionLabels {
                policy: policy.clone(),
                version: version.clone(),
                reason: reason.as_str(),
            });
        }
        self.decision_cpu_seconds
            .remove(&VersionLabels { policy, version });
    }

    pub fn profile_lookup(&self, source: &'static str) {
        self.profile_lookups
            .get_or_create(&SourceLabels { source })
            .inc();
    }

    pub fn http_request(&self, route: &'static str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels { route, status })
            .inc();
    }

    pub fn auth_failure(&self, route: &'static str) {
        self.auth_failures
            .get_or_create(&RouteLabels { route })
            .inc();
    }

    /// A profile event received: `applied`, `duplicate` or `rejected`.
    pub fn event(&self, outcome: &'static str) {
        self.events.get_or_create(&EventLabels { outcome }).inc();
    }

    pub fn policy_published(&self, policy: &str, outcome: &'static str) {
        let labels = PublishLabels {
            policy: Arc::from(policy),
            outcome,
        };
        self.policy_publishes.get_or_create(&labels).inc();
    }

    pub fn policy_swapped(&self, policy: &str) {
        self.policy_swaps
            .get_or_create(&PolicyLabels::new(policy))
            .inc();
    }

    pub fn policy_rolled_back(&self, policy: &str, kind: &'static str) {
        let labels = RollbackLabels {
            policy: Arc::from(policy),
            kind,
        };
        self.policy_rollbacks.get_or_create(&labels).inc();
    }

    pub fn guardrail_rollback(&self, policy: &str, guard: &'static str) {
        let labels = GuardLabels {
            policy: Arc::from(policy),
            guard,
        };
        self.guardrail_rollbacks.get_or_create(&labels).inc();
    }

    pub fn change_failure_ratio(&self, policy: &str, ratio: f64) {
        self.change_failure_ratio
            .get_or_create(&PolicyLabels::new(policy))
            .set(ratio);
    }

    /// The Prometheus text exposition (version 0.0.4) of everything recorded.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and every label value is a valid string.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
