//! The `burn` test policy: a configured amount of legal CPU work answers with its count and a
//! deterministic checksum, and work far past the deadline is cut off as a timeout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::time::Duration;
use tailor_host::{DecisionError, Engine, EngineConfig, ErrorCode, Limits, PolicySource};
use tailor_types::{Channel, Consent, Context, Decision, Profile, Reason};

/// Tests share the machine's cores, so a decision that must succeed gets a deadline long enough
/// that descheduling cannot trip it; the timeout case keeps the production default.
fn roomy_limits() -> Limits {
    Limits {
        deadline: Duration::from_secs(5),
        ..Limits::default()
    }
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        max_concurrent_decisions: 2,
        default_limits: roomy_limits(),
        ..EngineConfig::default()
    })
    .unwrap()
}

/// Loads `burn` with `config` and `limits`, and runs one decision with it.
fn burn(engine: &Engine, config: Option<&str>, limits: Limits) -> Result<Decision, DecisionError> {
    let policy = engine
        .load(PolicySource {
            name: "burn",
            component: tailor_test_policies::BURN,
            config,
            limits: Some(limits),
        })
        .unwrap();
    let context = Context::new(Channel::Web, "home-hero", 1_774_000_000_000);
    let profile = Profile {
        customer_id: Some("cust-1".into()),
        consent: Consent {
            personalization: true,
            ..Consent::default()
        },
        ..Profile::default()
    };
    engine.decide(&policy, &context, &profile.into(), &[])
}

fn render(decision: &Decision, key: &str) -> String {
    tailor_types::lookup(&decision.render, key)
        .cloned()
        .unwrap_or_else(|| panic!("no render key {key:?} in {:?}", decision.render))
}

/// The checksum after `iterations` rounds, checking the count is echoed back.
fn checksum(engine: &Engine, iterations: u64) -> String {
    let config = format!(r#"{{"iterations": {iterations}}}"#);
    let decision = burn(engine, Some(&config), roomy_limits()).unwrap();
    assert_eq!(decision.reason, Reason::Static);
    assert_eq!(render(&decision, "burned"), iterations.to_string());
    render(&decision, "checksum")
}

#[test]
fn answers_with_the_configured_count_and_a_hex_checksum() {
    let engine = engine();
    let decision = burn(&engine, Some(r#"{"iterations": 1000}"#), roomy_limits()).unwrap();
    assert_eq!(decision.reason, Reason::Static);
    assert_eq!(render(&decision, "burned"), "1000");
    let checksum = render(&decision, "checksum");
    assert_eq!(checksum.len(), 16, "{checksum}");
    assert!(u64::from_str_radix(&checksum, 16).is_ok(), "{checksum}");
}

#[test]
fn without_a_config_it_burns_the_default_thousand() {
    let decision = burn(&engine(), None, roomy_limits()).unwrap();
    assert_eq!(render(&decision, "burned"), "1000");
}

#[test]
fn the_checksum_is_deterministic_and_depends_on_the_count() {
    let engine = engine();
    let first = checksum(&engine, 1000);
    assert_eq!(checksum(&engine, 1000), first, "same count, same checksum");
    assert_ne!(
        checksum(&engine, 2000),
        first,
        "twice the work, another checksum"
    );
}

#[test]
fn work_far_past_the_default_deadline_times_out() {
    let error = burn(
        &engine(),
        Some(r#"{"iterations": 10000000000}"#),
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::Timeout, "{error}");
    assert!(error.message.contains("10ms"), "{error}");
}
