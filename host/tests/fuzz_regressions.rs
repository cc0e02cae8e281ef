//! Every fuzz seed and every input that once crashed a fuzz target (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`), replayed through the same entry points in the normal test run.
//! A target that panics on any of them fails here.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::path::Path;
use tailor_host::fuzzing::{Harness, TARGETS};

#[test]
fn every_seed_and_regression_input_is_handled_without_a_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let harness = Harness::new();
    let mut replayed = 0;
    for target in TARGETS {
        for kind in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
                continue;
            };
            for entry in entries.flatten() {
                let input = std::fs::read(entry.path()).unwrap();
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    harness.run(target, &input)
                }));
                assert!(
                    outcome.is_ok(),
                    "{target} panicked on {}",
                    entry.path().display()
                );
                replayed += 1;
            }
        }
    }
    // Every target has seeds: a renamed folder must not turn this into a test of nothing.
    for target in TARGETS {
        assert!(
            fuzz.join("seeds").join(target).is_dir(),
            "no seeds for {target}"
        );
    }
    assert!(replayed >= TARGETS.len());
}
