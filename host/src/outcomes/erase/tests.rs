use super::*;
use crate::metrics::Metrics;
use crate::outcomes::record::{Exposure, PackedExposures, Record};
use crate::profiles::events::CustomerEvent;
use crate::registry::Registry;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-erase-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start(dir: &Path) -> Arc<Outcomes> {
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(Registry::new(metrics.clone()));
    Outcomes::start(
        dir,
        3_600_000_000,
        None,
        registry,
        metrics,
        Some("a".into()),
    )
    .unwrap()
}

fn exposure(decision: &str, unit: &str, arm: &str, at_ms: i64) -> Exposure {
    Exposure {
        decision_id: decision.into(),
        slot: "hero".into(),
        policy: "p".into(),
        version: "sha256:0".into(),
        experiment: Some("exp".into()),
        arm: Some(arm.into()),
        items: vec!["sku".into()],
        unit: unit.into(),
        channel: "web".into(),
        at_ms,
        node: None,
    }
}

fn expose(outcomes: &Outcomes, exposures: &[Exposure]) {
    let mut packed = PackedExposures::with_capacity(256);
    for e in exposures {
        packed.push(&e.as_ref());
    }
    outcomes.expose(packed);
}

fn remote(decision: &str, unit: &str, arm: &str, at_ms: i64) -> Record {
    let mut record = Record::Exposure(exposure(decision, unit, arm, at_ms));
    record.set_node("b".into());
    record
}

fn purchase(id: &str, unit: &str, at_ms: i64) -> CustomerEvent {
    CustomerEvent {
        event_id: id.into(),
        customer_id: unit.into(),
        kind: "purchase".into(),
        at_ms,
        item_id: Some("sku".into()),
        category: None,
        value: Some(10.0),
        consent: None,
        loyalty: None,
        decision_id: None,
        slot: None,
    }
}

/// (arm, trials, successes, value), in the order first seen.
fn arms(outcomes: &Outcomes) -> Vec<(String, u64, u64, f64)> {
    assert!(outcomes.settle(Duration::from_secs(5)));
    outcomes
        .arms("p", "exp")
        .into_iter()
        .map(|(arm, c)| (arm, c.trials, c.successes, c.value))
        .collect()
}

fn item(outcomes: &Outcomes) -> (u64, u64) {
    let counts = outcomes.items("p", &["sku".to_owned()])[0];
    (counts.trials, counts.successes)
}

#[test]
fn an_erased_unit_leaves_every_count_and_a_restart_counts_the_same() {
    let dir = scratch("counts");
    let outcomes = start(&dir);
    let now = crate::clock::now_ms();
    expose(
        &outcomes,
        &[
            exposure("d-1", "gone", "x", now),
            exposure("d-2", "kept", "y", now),
        ],
    );
    outcomes.receive(vec![remote("d-9", "gone", "y", now)]);
    assert!(outcomes.settle(Duration::from_secs(5)));
    outcomes.observe(vec![
        purchase("e-1", "gone", now + 1),
        purchase("e-2", "kept", now + 1),
    ]);
    assert_eq!(
        arms(&outcomes),
        [("x".into(), 1, 1, 10.0), ("y".into(), 2, 1, 10.0)]
    );
    assert!(outcomes.last_exposure("p", "exp", "gone").is_some());

    let erased = outcomes.erase("gone", now + 2).unwrap();
    // Its exposure here, the one node b made, and its two conversions (arm and item).
    assert_eq!(
        erased,
        ErasedOutcomes {
            exposures: 2,
            conversions: 2
        }
    );
    let after = arms(&outcomes);
    assert_eq!(after, [("y".into(), 1, 1, 10.0)]);
    assert_eq!(outcomes.last_exposure("p", "exp", "gone"), None);
    assert!(outcomes.last_exposure("p", "exp", "kept").is_some());
    assert_eq!(item(&outcomes), (1, 1));
    let by_node = outcomes.arms_by_node("p", "exp");
    assert_eq!(by_node.len(), 1, "node b's only unit is gone: {by_node:?}");
    // Nothing is attributed to what the unit was shown.
    outcomes.observe(vec![purchase("e-3", "gone", now + 3)]);
    assert_eq!(arms(&outcomes), after);
    assert_eq!(
        outcomes.erase("gone", now + 4).unwrap(),
        ErasedOutcomes::default()
    );
    outcomes.stop();

    let restarted = start(&dir);
    assert_eq!(arms(&restarted), after);
    assert_eq!(restarted.last_exposure("p", "exp", "gone"), None);
    assert_eq!(item(&restarted), (1, 1));
    restarted.stop();
}

#[test]
fn what_was_queued_before_an_erasure_is_erased_and_later_decisions_are_kept() {
    let dir = scratch("queued");
    let outcomes = start(&dir);
    let now = crate::clock::now_ms();
    expose(&outcomes, &[exposure("d-1", "gone", "x", now)]);
    // Not settled: the erasure waits for the exposure to be written, then removes it.
    let erased = outcomes.erase("gone", now).unwrap();
    assert_eq!(erased.exposures, 1);
    assert!(arms(&outcomes).is_empty());
    expose(&outcomes, &[exposure("d-2", "gone", "y", now + 1)]);
    assert_eq!(arms(&outcomes), [("y".into(), 1, 0, 0.0)]);
    outcomes.stop();
    let restarted = start(&dir);
    assert_eq!(arms(&restarted), [("y".into(), 1, 0, 0.0)]);
    restarted.stop();
}

#[test]
fn other_nodes_records_of_a_forgotten_unit_are_neither_counted_nor_kept() {
    let dir = scratch("forgotten");
    let outcomes = start(&dir);
    outcomes.set_forgotten(Arc::new(|unit, at_ms| unit == "told" && at_ms <= 1_000));
    outcomes.erase("erased", 5_000).unwrap();
    outcomes.receive(vec![
        remote("r-1", "told", "x", 500),
        remote("r-2", "erased", "x", 4_000),
        remote("r-3", "told", "y", 2_000),
        remote("r-4", "erased", "y", 6_000),
        remote("r-5", "other", "y", 500),
    ]);
    assert_eq!(arms(&outcomes), [("y".into(), 3, 0, 0.0)]);
    assert_eq!(outcomes.metrics.outcome_erased.get(), 2);
    outcomes.stop();
    let restarted = start(&dir);
    assert_eq!(arms(&restarted), [("y".into(), 3, 0, 0.0)]);
    restarted.stop();
}

#[test]
fn an_erasure_after_the_store_stopped_says_so() {
    let dir = scratch("stopped");
    let outcomes = start(&dir);
    outcomes.stop();
    assert!(matches!(outcomes.erase("any", 0), Err(EraseError::Stopped)));
}
