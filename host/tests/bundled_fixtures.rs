//! Every bundled example policy passes its fixture cases as a component in the host, exactly
//! as it does natively.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use tailor_host::{Engine, EngineConfig, PolicySource};
use tailor_types::fixture;

fn check(policy: &tailor_policies::BundledPolicy) {
    // Tests share the cores: a deadline long enough that only a real failure trips it.
    let limits = tailor_host::Limits {
        deadline: std::time::Duration::from_secs(5),
        ..Default::default()
    };
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 4,
        default_limits: limits,
        ..EngineConfig::default()
    })
    .unwrap();
    let loaded = engine
        .load(PolicySource {
            name: policy.name,
            component: policy.component,
            config: policy.config,
            limits: None,
        })
        .unwrap_or_else(|e| panic!("{}: {e:#}", policy.name));
    let cases = fixture::load_cases(policy.fixtures_dir.as_ref()).unwrap();
    assert!(!cases.is_empty(), "{} has no fixture cases", policy.name);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            tailor_host::lifecycle::fixtures::check_case(&engine, &loaded, case)
                .err()
                .map(|diff| format!("{}: {diff}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        policy.name,
        failures.join("\n")
    );
}

macro_rules! fixture_test {
    ($ident:ident, $policy:path) => {
        #[test]
        fn $ident() {
            check(&$policy);
        }
    };
}

tailor_policies::foreach_policy!(fixture_test);
