//! Prometheus metrics. Names are constants here; labels are bounded (policy name, reason, error
//! code, route template, status, profile source), never a customer id or a raw path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

pub const DECISIONS: &str = "tailor_decisions_total";
pub const FALLBACKS: &str = "tailor_decision_fallbacks_total";
pub const DECISION_SECONDS: &str = "tailor_decision_duration_seconds";
pub const PROFILE_LOOKUPS: &str = "tailor_profile_lookups_total";
pub const HTTP_REQUESTS: &str = "tailor_http_requests_total";
/// Requests being handled when the metrics are scraped (the scrape included).
pub const HTTP_IN_FLIGHT: &str = "tailor_http_requests_in_flight";
pub const LOAD_SHED: &str = "tailor_load_shed_total";
pub const AUTH_FAILURES: &str = "tailor_auth_failures_total";
pub const EVENTS: &str = "tailor_events_total";
pub const SNAPSHOT_PROFILES: &str = "tailor_snapshot_profiles";
pub const SNAPSHOT_GENERATED: &str = "tailor_snapshot_generated_timestamp_seconds";
pub const POLICY_PUBLISHES: &str = "tailor_policy_publishes_total";
pub const POLICY_SWAPS: &str = "tailor_policy_swaps_total";
pub const POLICY_ROLLBACKS: &str = "tailor_policy_rollbacks_total";
/// Automatic rollbacks a latency or cost guardrail caused, by `guard`.
pub const POLICY_GUARDRAIL_ROLLBACKS: &str = "tailor_policy_guardrail_rollbacks_total";
/// CPU time of one decision on its thread, by policy and version.
pub const DECISION_CPU_SECONDS: &str = "tailor_decision_cpu_seconds";
pub const POLICY_CHANGE_FAILURE_RATIO: &str = "tailor_policy_change_failure_ratio";
pub const POLICY_PUBLISH_TO_SERVE: &str = "tailor_policy_publish_to_first_decision_seconds";
/// 1 while the node is connected to its events broker, 0 while it is not.
pub const FLEET_BROKER_CONNECTED: &str = "tailor_fleet_broker_connected";
/// Events this node accepted that the broker has acknowledged.
pub const FLEET_EVENTS_FORWARDED: &str = "tailor_fleet_events_forwarded_total";
/// Events this node accepted that the broker has not acknowledged yet.
pub const FLEET_OUTBOX_DEPTH: &str = "tailor_fleet_outbox_depth";
/// Broker messages this node's consumer has not received yet.
pub const FLEET_CONSUMER_LAG: &str = "tailor_fleet_consumer_lag";
/// Events other nodes accepted, applied here.
pub const FLEET_REMOTE_EVENTS_APPLIED: &str = "tailor_fleet_remote_events_applied_total";
/// Events received from the broker that this node had already (re-deliveries, re-sends).
pub const FLEET_DUPLICATES_DROPPED: &str = "tailor_fleet_duplicate_events_dropped_total";
/// Broker messages that are not events (dropped, with a warning).
pub const FLEET_MESSAGES_REJECTED: &str = "tailor_fleet_messages_rejected_total";
/// From another node's acknowledgment of an event to its being durable here and visible to
/// the next decision.
pub const FLEET_REPLICATION_SECONDS: &str = "tailor_fleet_event_replication_seconds";

/// Exposures recorded (served slots with an experiment arm or ranked items).
pub const OUTCOME_EXPOSURES: &str = "tailor_outcome_exposures_total";
/// Conversions attributed to exposures (one per arm or item an event earned).
pub const OUTCOME_CONVERSIONS: &str = "tailor_outcome_conversions_total";
/// Exposures and events not counted because the outcome queue was full.
pub const OUTCOME_DROPPED: &str = "tailor_outcome_dropped_total";
/// Batches of outcome records the log could not write (their counts stay in memory).
pub const OUTCOME_WRITE_ERRORS: &str = "tailor_outcome_write_errors_total";
/// Bytes of the outcome log on disk.
pub const OUTCOME_LOG_BYTES: &str = "tailor_outcome_log_bytes";

/// This node's outcome records the broker acknowledged.
pub const FLEET_OUTCOMES_FORWARDED: &str = "tailor_fleet_outcomes_forwarded_total";
/// Other nodes' outcome records applied here.
pub const FLEET_OUTCOMES_RECEIVED: &str = "tailor_fleet_outcomes_received_total";

/// Upper bounds of the decision-latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
];

/// Upper bounds of the replication-latency histogram, in seconds.
const REPLICATION_BUCKETS: [f64; 12] = [
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// The bucket bounds of histogram `name`.
fn buckets(name: &str) -> &'static [f64] {
    match name {
        FLEET_REPLICATION_SECONDS => &REPLICATION_BUCKETS,
        _ => &BUCKETS,
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), f64>,
    gauges: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// The node's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub fn inc(&self, name: &'static str, pairs: &[(&'static str, &str)]) {
        self.add(name, pairs, 1.0);
    }

    pub fn add(&self, name: &'static str, pairs: &[(&'static str, &str)], by: f64) {
        self.with(|m| *m.counters.entry((name, labels(pairs))).or_default() += by);
    }

    pub fn set(&self, name: &'static str, pairs: &[(&'static str, &str)], value: f64) {
        self.with(|m| m.gauges.insert((name, labels(pairs)), value));
    }

    pub fn observe(&self, name: &'static str, pairs: &[(&'static str, &str)], elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.with(|m| {
            let bounds = buckets(name);
            let h = m.histograms.entry((name, labels(pairs))).or_default();
            h.counts.resize(bounds.len(), 0);
            for (bound, count) in bounds.iter().zip(h.counts.iter_mut()) {
                if seconds <= *bound {
                    *count += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        });
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        fn label_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
            let mut parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if let Some((k, v)) = extra {
                parts.push(format!("{k}=\"{v}\""));
            }
            if parts.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", parts.join(","))
            }
        }
        let mut out = String::new();
        self.with(|m| {
            let mut last = "";
            for ((name, labels), value) in &m.counters {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = name;
                }
                let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
            }
            for ((name, labels), value) in &m.gauges {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} gauge");
                    last = name;
                }
                let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
            }
            for ((name, labels), h) in &m.histograms {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} histogram");
                    last = name;
                }
                for (bound, count) in buckets(name).iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {count}",
                        label_text(labels, Some(("le", bound.to_string())))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    label_text(labels, Some(("le", "+Inf".into()))),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
            }
        });
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc(DECISIONS, &[("policy", "hero-banner"), ("reason", "SPLIT")]);
        m.inc(DECISIONS, &[("policy", "hero-banner"), ("reason", "SPLIT")]);
        m.set(SNAPSHOT_PROFILES, &[], 10.0);
        m.observe(
            DECISION_SECONDS,
            &[("policy", "p")],
            Duration::from_micros(7),
        );
        let text = m.render();
        assert!(
            text.contains("tailor_decisions_total{policy=\"hero-banner\",reason=\"SPLIT\"} 2"),
            "{text}"
        );
        assert!(text.contains("# TYPE tailor_snapshot_profiles gauge"));
        assert!(
            text.contains("tailor_decision_duration_seconds_bucket{policy=\"p\",le=\"0.00001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "tailor_decision_duration_seconds_bucket{policy=\"p\",le=\"0.000005\"} 0"
            ),
            "{text}"
        );
        assert!(text.contains("tailor_decision_duration_seconds_count{policy=\"p\"} 1"));
    }
}
