//! The host and the policies bucket units identically: the published vectors hold for the
//! host's copy of the algorithm, and every experiment assignment a policy makes inside its
//! sandbox carries the bucket the host computes for the same unit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use tailor_host::{Engine, EngineConfig, PolicySource};
use tailor_types::{Channel, Consent, Context, Profile, Reason};

#[test]
fn published_vectors_hold_in_the_host() {
    let mut checked = 0;
    for line in tailor_bucketing::TEST_VECTORS
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let hash = u32::from_str_radix(fields[2], 16).unwrap();
        assert_eq!(
            tailor_bucketing::unit_hash(fields[0], fields[1]),
            hash,
            "{line:?}"
        );
        assert_eq!(
            tailor_bucketing::bucket(fields[0], fields[1]).to_string(),
            fields[3],
            "{line:?}"
        );
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn a_policy_in_its_sandbox_buckets_like_the_host() {
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 2,
        // Tests share the cores: a deadline only a real failure could reach.
        default_limits: tailor_host::Limits {
            deadline: std::time::Duration::from_secs(5),
            ..Default::default()
        },
        ..EngineConfig::default()
    })
    .unwrap();
    let hero = tailor_policies::find("hero-banner").unwrap();
    let policy = engine
        .load(PolicySource {
            name: hero.name,
            component: hero.component,
            config: hero.config,
            limits: None,
        })
        .unwrap();
    let config: serde_json::Value = serde_json::from_str(hero.config.unwrap()).unwrap();
    let key = config["experiment"]["key"].as_str().unwrap();
    let context = Context::new(Channel::Web, "home-hero", 1_774_000_000_000);
    for i in 0..200 {
        let unit = format!("cust-{i:06}");
        let profile = Profile {
            customer_id: Some(unit.clone()),
            consent: Consent {
                personalization: true,
                ..Consent::default()
            },
            ..Profile::default()
        };
        let decision = engine
            .decide(&policy, &context, &profile.into(), &[])
            .unwrap();
        assert_eq!(decision.reason, Reason::Split);
        let experiment = decision.experiment.unwrap();
        assert_eq!(
            experiment.bucket,
            tailor_bucketing::bucket(key, &unit),
            "unit {unit}"
        );
    }
}
