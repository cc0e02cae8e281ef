use super::*;
use std::collections::BTreeSet;
use std::time::Duration;
use tailor_types::Reason;

#[test]
fn renders_prometheus_text_with_the_names_and_label_order_of_before() {
    let m = Metrics::default();
    let version = m.serve_version("hero-banner", "0123456789ab");
    version.decided(Reason::Split);
    version.decided(Reason::Split);
    version.wall(Duration::from_micros(7));
    version.fallback("trap");
    m.snapshot_profiles.set(10);
    m.http_request("/v1/decide", 200);
    let text = m.render();
    assert!(
        text.contains(
            "tailor_decisions_total{policy=\"hero-banner\",version=\"0123456789ab\",reason=\"SPLIT\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("tailor_decision_fallbacks_total{policy=\"hero-banner\",code=\"trap\"} 1"),
        "{text}"
    );
    assert!(text.contains("tailor_snapshot_profiles 10\n"), "{text}");
    assert!(
        text.contains("tailor_http_requests_total{route=\"/v1/decide\",status=\"200\"} 1"),
        "{text}"
    );
    let bucket = |le: &str| {
        format!("tailor_decision_duration_seconds_bucket{{policy=\"hero-banner\",le=\"{le}\"}}")
    };
    assert!(text.contains(&format!("{} 0", bucket("5e-06"))), "{text}");
    assert!(text.contains(&format!("{} 1", bucket("1e-05"))), "{text}");
    assert!(text.contains(&format!("{} 1", bucket("+Inf"))), "{text}");
    assert!(
        text.contains("tailor_decision_duration_seconds_count{policy=\"hero-banner\"} 1"),
        "{text}"
    );
    let sum: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("tailor_decision_duration_seconds_sum{policy=\"hero-banner\"} ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!((sum - 7e-6).abs() < 1e-12, "{text}");
}

/// Touches every metric once, so each has a series to expose.
fn touch_everything(m: &Metrics) {
    let version = m.serve_version("p", "0123456789ab");
    version.decided(Reason::Default);
    version.cpu(Duration::from_micros(3));
    version.wall(Duration::from_micros(4));
    version.fallback("timeout");
    version.first_served(Duration::from_millis(2));
    m.profile_lookup("cache");
    m.http_request("/metrics", 200);
    m.auth_failure("/admin/v1/policies");
    m.event("applied");
    m.policy_published("p", "active");
    m.policy_swapped("p");
    m.policy_rolled_back("p", "manual");
    m.guardrail_rollback("p", "cost");
    m.change_failure_ratio("p", 0.5);
    m.fleet_replication_seconds
        .observe(Duration::from_millis(3));
}

#[test]
fn every_metric_has_help_and_type_and_nothing_else_is_exposed() {
    let m = Metrics::default();
    touch_everything(&m);
    let text = m.render();
    let mut typed = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap_or_default();
        assert!(typed.insert(name), "{name} is typed twice:\n{text}");
    }
    let known: BTreeSet<&str> = ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        typed, known,
        "the exposed metrics are not the named ones:\n{text}"
    );
    for (name, doc) in ALL {
        let help = help(name);
        assert!(!help.is_empty(), "{name} has no doc comment");
        assert!(
            doc.trim().ends_with('.'),
            "{name}: its doc comment is a sentence"
        );
        assert!(
            text.contains(&format!("# HELP {name} {help}.\n")),
            "no HELP for {name}:\n{text}"
        );
        assert!(text.contains(&format!("# TYPE {name} ")), "{text}");
    }
}

#[test]
fn a_retired_version_loses_its_series_and_the_other_keeps_its_own() {
    let m = Metrics::default();
    let old = m.serve_version("p", "aaaaaaaaaaaa");
    let new = m.serve_version("p", "bbbbbbbbbbbb");
    old.decided(Reason::Split);
    new.decided(Reason::Split);
    old.cpu(Duration::from_micros(1));
    m.retire_version("p", "aaaaaaaaaaaa");
    // A decision still in flight on the old version updates nothing exposed.
    old.decided(Reason::Split);
    let text = m.render();
    assert!(!text.contains("aaaaaaaaaaaa"), "{text}");
    assert!(
        text.contains(
            "tailor_decisions_total{policy=\"p\",version=\"bbbbbbbbbbbb\",reason=\"SPLIT\"} 1"
        ),
        "{text}"
    );
}
