//! The event log's tests: durability, dedupe, the outbox, erasure, the overlay.

use super::*;
use std::collections::HashSet;

fn open(dir: &Path) -> EventLog {
    EventLog::open(dir, Arc::new(Pseudonyms::from_secret(&[1; 32])), None).unwrap()
}

fn open_sealed(dir: &Path, key: &DataKey) -> Result<EventLog, EventLogError> {
    EventLog::open(dir, Arc::new(Pseudonyms::from_secret(&[1; 32])), Some(key))
}

fn event(id: &str, customer: &str, kind: &str, at_ms: i64) -> CustomerEvent {
    CustomerEvent {
        event_id: id.into(),
        customer_id: customer.into(),
        kind: kind.into(),
        at_ms,
        item_id: Some("sku-1".into()),
        category: Some("shoes".into()),
        value: None,
        consent: None,
        loyalty: None,
        decision_id: None,
        slot: None,
    }
}

#[test]
fn log_is_durable_deduplicated_and_per_customer() {
    let dir = std::env::temp_dir().join(format!("tailor-events-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    {
        let log = open(&dir);
        let appended = log
            .append(
                &[
                    event("e1", "c1", "add_to_cart", 10),
                    event("e2", "c2", "page_view", 11),
                    event("e2", "c2", "page_view", 11),
                ],
                Origin::Local,
            )
            .unwrap();
        assert_eq!(
            (
                appended.new,
                appended.duplicates,
                appended.touched.as_slice()
            ),
            (2, 1, ["c1".to_owned(), "c2".to_owned()].as_slice())
        );
        assert_eq!(
            log.append(&[event("e1", "c1", "add_to_cart", 10)], Origin::Local)
                .unwrap()
                .new,
            0,
            "re-sent id"
        );
        assert_eq!(log.outbox_depth().unwrap(), 0, "no outbox without a broker");
    }
    let log = open(&dir);
    let events = log.events_after("c1", 0).unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        log.events_after("c1", 10).unwrap().is_empty(),
        "only events newer than the snapshot"
    );
    assert!(
        log.events_after("c", 0).unwrap().is_empty(),
        "no prefix bleed between customers"
    );
    assert_eq!(log.prune_until(10).unwrap(), 1);
    assert!(log.events_after("c1", 0).unwrap().is_empty());
    assert_eq!(log.events_after("c2", 0).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn accepted_events_wait_in_the_outbox_until_forwarded_and_remote_ones_never_do() {
    let dir = std::env::temp_dir().join(format!("tailor-outbox-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    {
        let log = open(&dir);
        log.enable_outbox();
        log.append(
            &[
                event("a", "c1", "page_view", 1),
                event("b", "c2", "page_view", 2),
            ],
            Origin::Local,
        )
        .unwrap();
        let remote = log
            .append(
                &[
                    event("r", "c3", "page_view", 3),
                    event("a", "c1", "page_view", 1),
                ],
                Origin::Remote,
            )
            .unwrap();
        assert_eq!((remote.new, remote.duplicates), (1, 1));
        log.append(&[event("c", "c1", "purchase", 4)], Origin::Local)
            .unwrap();
        let waiting = log.outbox(10).unwrap();
        let ids: Vec<(u64, &str)> = waiting
            .iter()
            .map(|o| {
                (
                    o.seq,
                    match &o.item {
                        Outbound::Event(event) => event.event_id.as_str(),
                        Outbound::Erasure(_) => "erasure",
                    },
                )
            })
            .collect();
        assert_eq!(ids, [(1, "a"), (2, "b"), (3, "c")]);
        assert!(waiting[0].accepted_ms > 0);
        log.forwarded(2).unwrap();
    }
    // Durable across a restart, and numbering carries on after the last one.
    let log = open(&dir);
    log.enable_outbox();
    assert_eq!(log.outbox_depth().unwrap(), 1);
    log.append(&[event("d", "c2", "page_view", 5)], Origin::Local)
        .unwrap();
    let seqs: Vec<u64> = log.outbox(10).unwrap().iter().map(|o| o.seq).collect();
    assert_eq!(seqs, [3, 4]);
    // Pruning old events never drops what the fleet has not received.
    log.prune_until(100).unwrap();
    assert_eq!(log.outbox_depth().unwrap(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn events_update_the_profile() {
    let mut profile = Profile::default();
    apply(&mut profile, &[event("e1", "c", "add_to_cart", 1)]);
    assert!(profile.in_segment("cart_abandoner"));
    assert_eq!(profile.affinity("shoes"), 0.15);
    apply(&mut profile, &[event("e2", "c", "purchase", 2)]);
    assert!(!profile.in_segment("cart_abandoner"));
    assert_eq!(profile.recent_events[0].kind, "purchase");
    let mut consent = event("e3", "c", "consent_change", 3);
    consent.consent = Some(Consent {
        personalization: true,
        ..Consent::default()
    });
    apply(&mut profile, &[consent]);
    assert!(profile.consent.personalization);
}

#[test]
fn an_erased_customer_leaves_the_log_and_their_older_events_stay_out() {
    let dir = std::env::temp_dir().join(format!("tailor-erase-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let erasure = Erasure {
        customer_id: "c1".into(),
        at_ms: 100,
    };
    {
        let log = open(&dir);
        log.enable_outbox();
        log.append(
            &[
                event("a", "c1", "add_to_cart", 10),
                event("b", "c2", "page_view", 11),
                event("c", "c1", "purchase", 12),
            ],
            Origin::Local,
        )
        .unwrap();
        let erased = log.erase(&erasure, Origin::Local).unwrap();
        assert_eq!(
            erased,
            ErasedEvents {
                events: 2,
                again: false
            }
        );
        assert!(log.events_after("c1", 0).unwrap().is_empty());
        assert_eq!(log.events_after("c2", 0).unwrap().len(), 1);
        // The outbox keeps c2's event and gains the erasure; c1's events never leave.
        let items: Vec<Outbound> = log
            .outbox(10)
            .unwrap()
            .into_iter()
            .map(|o| o.item)
            .collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(matches!(&items[0], Outbound::Event(e) if e.customer_id == "c2"));
        assert_eq!(items[1], Outbound::Erasure(erasure.clone()));
        // A re-sent old event (its id is gone with it) is forgotten, not accepted again.
        let resent = log
            .append(&[event("a", "c1", "add_to_cart", 10)], Origin::Remote)
            .unwrap();
        assert_eq!((resent.new, resent.forgotten), (0, 1));
    }
    let log = open(&dir);
    assert_eq!(
        log.erased("c1"),
        Some(Erased {
            at_ms: 100,
            snapshot_suppressed: true
        })
    );
    assert_eq!(log.erased("c2"), None);
    // An event from after the erasure is the customer's again.
    let later = log
        .append(&[event("d", "c1", "page_view", 101)], Origin::Local)
        .unwrap();
    assert_eq!((later.new, later.forgotten), (1, 0));
    // Erasing again is harmless and takes what came since.
    let again = log
        .erase(
            &Erasure {
                customer_id: "c1".into(),
                at_ms: 200,
            },
            Origin::Remote,
        )
        .unwrap();
    assert_eq!(
        again,
        ErasedEvents {
            events: 1,
            again: true
        }
    );
    assert_eq!(log.erased("c1").map(|e| e.at_ms), Some(200));
    // The first erasure still waits for the broker; a remote one is not sent on.
    let items: Vec<Outbound> = log
        .outbox(10)
        .unwrap()
        .into_iter()
        .map(|o| o.item)
        .collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[1], Outbound::Erasure(erasure));
    // A snapshot without them ends the suppression; one with them keeps it.
    let label = log.pseudonyms().label("c1");
    assert!(log.suppressed().contains(&label));
    assert_eq!(log.lift_suppression(&[label].into()).unwrap(), 0);
    assert_eq!(log.lift_suppression(&HashSet::new()).unwrap(), 1);
    assert_eq!(
        open_again(&dir, log).erased("c1"),
        Some(Erased {
            at_ms: 200,
            snapshot_suppressed: false
        })
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Closes `log` and opens its directory again.
fn open_again(dir: &Path, log: EventLog) -> EventLog {
    drop(log);
    open(dir)
}

#[test]
fn the_outbox_format_before_erasures_is_read() {
    let old = r#"{"accepted_ms":5,"event":{"event_id":"e","customer_id":"c","kind":"page_view","at_ms":1}}"#;
    let outgoing: Outgoing = serde_json::from_str(old).unwrap();
    assert!(matches!(&outgoing.item, Outbound::Event(e) if e.event_id == "e"));
    assert_eq!(serde_json::to_string(&outgoing).unwrap(), old);
}

#[test]
fn an_encrypted_log_hides_ids_and_events_and_refuses_the_wrong_key_or_none() {
    let dir = std::env::temp_dir().join(format!("tailor-sealed-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = DataKey::from_bytes([9; 32]);
    {
        let log = open_sealed(&dir, &key).unwrap();
        log.enable_outbox();
        let mut secret = event("e-secret", "cust-hidden", "purchase", 10);
        secret.item_id = Some("sku-NOTONDISK".into());
        log.append(
            &[secret, event("e2", "cust-other", "page_view", 11)],
            Origin::Local,
        )
        .unwrap();
        let found = log.events_after("cust-hidden", 0).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].item_id.as_deref(), Some("sku-NOTONDISK"));
        assert_eq!(log.outbox(10).unwrap().len(), 2);
        // Re-sent ids are still found through their hashes; erasure still finds them all.
        let resent = log
            .append(
                &[event("e-secret", "cust-hidden", "purchase", 10)],
                Origin::Local,
            )
            .unwrap();
        assert_eq!(resent.duplicates, 1);
        let erased = log
            .erase(
                &Erasure {
                    customer_id: "cust-other".into(),
                    at_ms: 20,
                },
                Origin::Remote,
            )
            .unwrap();
        assert_eq!(erased.events, 1);
    }
    let bytes = std::fs::read(dir.join(FILE)).unwrap();
    for plain in ["cust-hidden", "sku-NOTONDISK", "e-secret", "purchase"] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} is on disk in plaintext"
        );
    }
    // The same key reads it again; another key, none, or a plaintext log with a key: refused.
    assert_eq!(
        open_sealed(&dir, &key)
            .unwrap()
            .events_after("cust-hidden", 0)
            .unwrap()
            .len(),
        1
    );
    let wrong = open_sealed(&dir, &DataKey::from_bytes([8; 32])).unwrap_err();
    assert!(
        crate::report::chain(&wrong).contains("the configured data key is"),
        "{}",
        crate::report::chain(&wrong)
    );
    let none = EventLog::open(&dir, Arc::new(Pseudonyms::from_secret(&[1; 32])), None).unwrap_err();
    assert!(
        crate::report::chain(&none).contains("configure data_key"),
        "{}",
        crate::report::chain(&none)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    drop(open(&dir));
    let plaintext = open_sealed(&dir, &key).unwrap_err();
    assert!(
        crate::report::chain(&plaintext).contains("written without encryption"),
        "{}",
        crate::report::chain(&plaintext)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_customer_without_events_reads_nothing_and_one_with_events_is_found_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("tailor-events-holders-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = DataKey::from_bytes([4; 32]);
    {
        let log = open_sealed(&dir, &key).unwrap();
        assert!(!log.holders.may_hold(&log.id("c1")));
        log.append(&[event("e1", "c1", "page_view", 10)], Origin::Remote)
            .unwrap();
        assert!(log.holders.may_hold(&log.id("c1")));
        assert!(!log.holders.may_hold(&log.id("c2")));
        assert!(log.events_after("c2", 0).unwrap().is_empty());
    }
    // Rebuilt from the log at open.
    let log = open_sealed(&dir, &key).unwrap();
    assert!(log.holders.may_hold(&log.id("c1")));
    assert!(!log.holders.may_hold(&log.id("c2")));
    assert_eq!(log.events_after("c1", 0).unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
