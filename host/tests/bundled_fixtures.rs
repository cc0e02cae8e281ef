//! Every bundled example policy passes its fixture cases as a component in the host, exactly
//! as it does natively: one test per case folder, `<policy>::<case>` (hyphens become
//! underscores), so `cargo test -p tailor-host --test bundled_fixtures gold_member` runs one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::path::Path;
use std::sync::OnceLock;
use tailor_host::{Engine, EngineConfig, LoadedPolicy, PolicySource};
use tailor_policies::BundledPolicy;
use tailor_types::fixture;

/// One engine for every case: tests share the cores, and compiling a component per case
/// would cost more than the cases.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // A deadline long enough that only a real failure trips it.
        let limits = tailor_host::Limits {
            deadline: std::time::Duration::from_secs(5),
            ..Default::default()
        };
        Engine::new(EngineConfig {
            // Room for every test thread's decision at once.
            max_concurrent_decisions: 16,
            default_limits: limits,
            ..EngineConfig::default()
        })
        .unwrap()
    })
}

fn load(policy: &BundledPolicy) -> LoadedPolicy {
    engine()
        .load(PolicySource {
            name: policy.name,
            component: policy.component,
            config: policy.config,
            limits: None,
        })
        .unwrap_or_else(|e| panic!("{}: {e:#}", policy.name))
}

fn check(loaded: &LoadedPolicy, policy: &BundledPolicy, case: &str) {
    let dir = Path::new(policy.fixtures_dir).join(case);
    let case = fixture::load_case(&dir).unwrap();
    if let Err(diff) = tailor_host::lifecycle::fixtures::check_case(engine(), loaded, &case) {
        let lines: Vec<String> = diff.lines().map(|line| format!("  {line}")).collect();
        panic!(
            "{} case {} differs from {}:\n{}",
            policy.name,
            case.name,
            dir.join("expected.json").display(),
            lines.join("\n")
        );
    }
}

/// A module per policy, a test per case; the component is compiled once per policy.
macro_rules! fixture_tests {
    ($policy:ident, $bundled:path, [$($case:ident => $name:literal),* $(,)?]) => {
        mod $policy {
            fn loaded() -> &'static tailor_host::LoadedPolicy {
                static LOADED: std::sync::OnceLock<tailor_host::LoadedPolicy> =
                    std::sync::OnceLock::new();
                LOADED.get_or_init(|| super::load(&$bundled))
            }

            #[test]
            fn has_fixture_cases() {
                let cases: &[&str] = &[$($name),*];
                assert!(!cases.is_empty(), "{} has no fixture cases", $bundled.name);
            }

            $(
                #[test]
                fn $case() {
                    super::check(loaded(), &$bundled, $name);
                }
            )*
        }
    };
}

tailor_policies::foreach_fixture_case!(fixture_tests);
