use super::*;
use crate::outcomes::definition;
use crate::outcomes::record::Exposure;
use std::sync::Arc;

fn exposure(decision: &str, unit: &str, arm: Option<&str>, items: &[&str], at_ms: i64) -> Record {
    Record::Exposure(Exposure {
        decision_id: decision.into(),
        slot: "hero".into(),
        policy: "p".into(),
        version: "sha256:0".into(),
        experiment: arm.map(|_| "exp".into()),
        arm: arm.map(Into::into),
        items: items.iter().map(|i| (*i).to_owned()).collect(),
        unit: unit.into(),
        channel: "web".into(),
        at_ms,
        node: None,
    })
}

fn event(id: &str, unit: &str, kind: &str, at_ms: i64) -> CustomerEvent {
    CustomerEvent {
        event_id: id.into(),
        customer_id: unit.into(),
        kind: kind.into(),
        at_ms,
        item_id: None,
        category: None,
        value: None,
        consent: None,
        loyalty: None,
        decision_id: None,
        slot: None,
    }
}

/// Attributes and counts, as the outcome thread does.
fn record(tally: &mut Tally, event: &CustomerEvent, config: &serde_json::Value) -> usize {
    let defs = Arc::new(definition::parse(config).unwrap_or_default());
    let earned = tally.attribute(event, &mut |_| defs.clone());
    for conversion in &earned {
        tally.apply(&Record::Conversion(conversion.clone()));
    }
    earned.len()
}

fn counts(tally: &Tally, arm: &str) -> Counts {
    tally
        .arms("p", "exp")
        .into_iter()
        .find(|(a, _)| a == arm)
        .map(|(_, c)| c)
        .unwrap_or_default()
}

#[test]
fn units_are_counted_once_per_arm_and_convert_once() {
    let mut tally = Tally::default();
    let none = serde_json::json!({});
    tally.apply(&exposure("d1", "u1", Some("a"), &[], 1_000));
    tally.apply(&exposure("d2", "u1", Some("a"), &[], 2_000));
    tally.apply(&exposure("d3", "u2", Some("b"), &[], 2_000));
    assert_eq!(counts(&tally, "a").trials, 1, "one unit, two exposures");
    let mut purchase = event("e1", "u1", "purchase", 3_000);
    purchase.value = Some(20.0);
    assert_eq!(record(&mut tally, &purchase, &none), 1);
    let mut again = event("e2", "u1", "purchase", 4_000);
    again.value = Some(5.0);
    record(&mut tally, &again, &none);
    let a = counts(&tally, "a");
    assert_eq!((a.trials, a.successes, a.value), (1, 1, 25.0));
    assert_eq!(counts(&tally, "b").successes, 0);
    assert_eq!(
        tally.last_exposure("p", "exp", "u1"),
        Some(("a".into(), 2_000))
    );
}

#[test]
fn only_the_configured_kinds_within_the_window_count() {
    let mut tally = Tally::default();
    let config = serde_json::json!({"experiment": {"key": "exp", "arms": {"a": 1},
        "outcomes": {"kinds": ["purchase"], "window_hours": 1}}});
    tally.apply(&exposure("d1", "u1", Some("a"), &[], 1_000_000));
    assert_eq!(
        record(&mut tally, &event("e1", "u1", "click", 1_000_100), &config),
        0
    );
    let late = 1_000_000 + 3_600_000 + 1;
    assert_eq!(
        record(&mut tally, &event("e2", "u1", "purchase", late), &config),
        0
    );
    let early = 1_000_000 - SKEW_MS - 1;
    assert_eq!(
        record(&mut tally, &event("e3", "u1", "purchase", early), &config),
        0
    );
    assert_eq!(
        record(
            &mut tally,
            &event("e4", "u1", "purchase", 1_000_500),
            &config
        ),
        1
    );
    assert_eq!(
        record(
            &mut tally,
            &event("e5", "u9", "purchase", 1_000_500),
            &config
        ),
        0
    );
}

#[test]
fn the_latest_exposure_takes_an_unnamed_conversion() {
    let mut tally = Tally::default();
    tally.apply(&exposure("d1", "u1", Some("a"), &[], 1_000));
    tally.apply(&exposure("d2", "u1", Some("b"), &[], 2_000));
    record(
        &mut tally,
        &event("e1", "u1", "click", 2_500),
        &serde_json::json!({}),
    );
    assert_eq!(counts(&tally, "a").successes, 0);
    assert_eq!(counts(&tally, "b").successes, 1);
    assert_eq!(counts(&tally, "a").trials + counts(&tally, "b").trials, 2);
}

#[test]
fn a_named_decision_takes_the_conversion_and_its_items_once_per_impression() {
    let mut tally = Tally::default();
    let none = serde_json::json!({});
    tally.apply(&exposure(
        "d1",
        "anon-1",
        Some("a"),
        &["sku-1", "sku-2"],
        1_000,
    ));
    tally.apply(&exposure("d2", "anon-1", Some("b"), &["sku-1"], 2_000));
    // The visitor signed in: the event carries their customer id and the first decision's id.
    let mut click = event("e1", "c-7", "click", 3_000);
    click.decision_id = Some("d1".into());
    click.item_id = Some("sku-1".into());
    assert_eq!(record(&mut tally, &click, &none), 2, "the arm and the item");
    assert_eq!(counts(&tally, "a").successes, 1);
    assert_eq!(counts(&tally, "b").successes, 0);
    let mut twice = click.clone();
    twice.event_id = "e2".into();
    assert_eq!(
        record(&mut tally, &twice, &none),
        1,
        "the arm again (value), not the impression"
    );
    let items = tally.items("p", &["sku-1".into(), "sku-2".into(), "sku-9".into()]);
    assert_eq!(
        items
            .iter()
            .map(|c| (c.trials, c.successes))
            .collect::<Vec<_>>(),
        [(2, 1), (1, 0), (0, 0)]
    );
    // Without a decision id the later impression of sku-1 takes it.
    let mut cart = event("e3", "anon-1", "add_to_cart", 3_000);
    cart.item_id = Some("sku-1".into());
    record(&mut tally, &cart, &none);
    assert_eq!(tally.items("p", &["sku-1".into()])[0].successes, 2);
    record(&mut tally, &cart, &none);
    assert_eq!(
        tally.items("p", &["sku-1".into()])[0].successes,
        2,
        "no impression left"
    );
    // A decision id this node never served earns nothing.
    let mut unknown = event("e4", "anon-1", "click", 3_000);
    unknown.decision_id = Some("elsewhere".into());
    assert_eq!(record(&mut tally, &unknown, &none), 0);
}

#[test]
fn replaying_the_records_rebuilds_the_counts() {
    let mut tally = Tally::default();
    let none = serde_json::json!({});
    let mut records = vec![
        exposure("d1", "u1", Some("a"), &["x"], 1_000),
        exposure("d2", "u2", Some("b"), &["x"], 1_000),
    ];
    for r in &records {
        tally.apply(r);
    }
    let mut buy = event("e1", "u2", "purchase", 2_000);
    buy.item_id = Some("x".into());
    buy.value = Some(9.5);
    let defs = Arc::new(definition::parse(&none).unwrap_or_default());
    for c in tally.attribute(&buy, &mut |_| defs.clone()) {
        let r = Record::Conversion(c);
        tally.apply(&r);
        records.push(r);
    }
    let mut replayed = Tally::default();
    for r in &records {
        replayed.apply(r);
    }
    assert_eq!(replayed.arms("p", "exp"), tally.arms("p", "exp"));
    assert_eq!(
        replayed.items("p", &["x".into()]),
        tally.items("p", &["x".into()])
    );
    assert_eq!(counts(&replayed, "b").value, 9.5);
}
