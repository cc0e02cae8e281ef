use super::*;
use crate::outcomes::ErasedOutcomes;
use crate::outcomes::record::{Conversion, Exposure};
use crate::privacy::DataKey;
use std::sync::Arc;

fn exposure(id: &str, at_ms: i64) -> Record {
    Record::Exposure(Exposure {
        decision_id: id.into(),
        slot: "hero".into(),
        policy: "p".into(),
        version: "sha256:0".into(),
        experiment: Some("e".into()),
        arm: Some("a".into()),
        items: vec![],
        unit: "c-1".into(),
        channel: "web".into(),
        at_ms,
        node: None,
    })
}

thread_local! {
    /// The data key of the test running on this thread: every test runs with a plaintext log
    /// and with an encrypted one ([`both_ways`]).
    static KEY: std::cell::RefCell<Option<Arc<DataKey>>> = const { std::cell::RefCell::new(None) };
}

fn key() -> Option<Arc<DataKey>> {
    KEY.with(|key| key.borrow().clone())
}

fn test_key(byte: u8) -> Arc<DataKey> {
    Arc::new(DataKey::from_bytes([byte; 32]))
}

fn scratch(tag: &str) -> PathBuf {
    let mode = if key().is_some() { "sealed" } else { "plain" };
    let dir = std::env::temp_dir().join(format!(
        "tailor-outcomes-{tag}-{mode}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path, now_ms: i64) -> (OutcomeLog, Vec<Record>) {
    let mut replayed = Vec::new();
    let log = OutcomeLog::open(dir, 10 * SEGMENT_MS, now_ms, key(), |r| replayed.push(r)).unwrap();
    (log, replayed)
}

/// Each test, once on a plaintext log (`plaintext::…`) and once on an encrypted one
/// (`sealed::…`).
macro_rules! both_ways {
    ($($test:ident),* $(,)?) => {
        mod plaintext {
            $(#[test]
            fn $test() {
                super::$test();
            })*
        }
        mod sealed {
            $(#[test]
            fn $test() {
                super::KEY.with(|key| *key.borrow_mut() = Some(super::test_key(7)));
                super::$test();
            })*
        }
    };
}

both_ways!(
    records_survive_a_restart_and_a_torn_frame_is_skipped,
    the_forwarder_reads_local_records_from_its_cursor_across_segments,
    exposures_stream_from_a_time_and_old_segments_expire,
    erasing_a_unit_removes_its_records_from_every_segment_and_keeps_the_rest,
    the_open_segment_is_erased_and_later_appends_survive_a_reopen,
    the_forwarder_cursor_means_the_same_records_after_an_erasure,
    a_torn_tail_does_not_stop_an_erasure_and_is_dropped,
);

fn ids(records: &[Record]) -> Vec<&str> {
    records
        .iter()
        .map(|r| match r {
            Record::Exposure(e) => e.decision_id.as_str(),
            Record::Conversion(c) => c.event_id.as_str(),
        })
        .collect()
}

fn records_survive_a_restart_and_a_torn_frame_is_skipped() {
    let dir = scratch("torn");
    let (log, replayed) = open(&dir, 1_000);
    assert!(replayed.is_empty());
    let conversion = Record::Conversion(Conversion {
        event_id: "e-1".into(),
        kind: "purchase".into(),
        policy: "p".into(),
        unit: "c-1".into(),
        experiment: Some("e".into()),
        arm: Some("a".into()),
        item: None,
        decision_id: None,
        value: 12.5,
        at_ms: 1_500,
        node: None,
    });
    log.append(&[exposure("d-1", 1_000), conversion.clone()], 1_000)
        .unwrap();
    let path = lock(&log.segments)[0].path.clone();
    drop(log);
    // A crash in the middle of a frame.
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 2, 9]).unwrap();
    let (log, replayed) = open(&dir, 2_000);
    assert_eq!(replayed, [exposure("d-1", 1_000), conversion]);
    log.append(&[exposure("d-2", 2_000)], 2_000).unwrap();
    assert_eq!(
        lock(&log.segments).len(),
        2,
        "a restart writes a new segment"
    );
    let (_, replayed) = open(&dir, 3_000);
    assert_eq!(ids(&replayed), ["d-1", "e-1", "d-2"]);
}

fn the_forwarder_reads_local_records_from_its_cursor_across_segments() {
    let dir = scratch("cursor");
    let (log, _) = open(&dir, 0);
    let mut remote = exposure("from-b", 5);
    remote.set_node("b".into());
    log.append(&[exposure("d-1", 1), remote, exposure("d-2", 2)], 0)
        .unwrap();
    log.append(&[exposure("d-3", SEGMENT_MS)], SEGMENT_MS)
        .unwrap();
    assert_eq!(log.forwarded(), Cursor::default());
    let first = log.local_after(&Cursor::default(), 2).unwrap();
    assert_eq!(
        forwarded_ids(&first),
        ["d-1", "d-2"],
        "a record from another node is not forwarded"
    );
    log.set_forwarded(&first[1].0).unwrap();
    let cursor = log.forwarded();
    assert_eq!(cursor, first[1].0);
    let rest = log.local_after(&cursor, 10).unwrap();
    assert_eq!(forwarded_ids(&rest), ["d-3"]);
    assert!(log.local_after(&rest[0].0, 10).unwrap().is_empty());
    // After a restart the saved cursor is read from again (the names rebuilt on the way).
    drop(log);
    let (log, _) = open(&dir, SEGMENT_MS);
    let again = log.local_after(&first[0].0, 10).unwrap();
    assert_eq!(forwarded_ids(&again), ["d-2", "d-3"]);
}

fn exposures_stream_from_a_time_and_old_segments_expire() {
    let dir = scratch("since");
    let (log, _) = open(&dir, 0);
    log.append(&[exposure("d-1", 10)], 0).unwrap();
    log.append(&[exposure("d-2", SEGMENT_MS + 10)], SEGMENT_MS)
        .unwrap();
    log.append(&[exposure("d-3", 2 * SEGMENT_MS + 10)], 2 * SEGMENT_MS)
        .unwrap();
    let mut lines = Vec::new();
    log.exposures_since(SEGMENT_MS, |line| {
        lines.push(String::from_utf8(line.to_vec()).unwrap());
        true
    })
    .unwrap();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("\"d-2\""), "{lines:?}");
    assert!(lines[0].starts_with("{\"type\":\"exposure\""), "{lines:?}");
    // Ten segments of retention later the first two are gone, the newest is kept.
    log.append(&[exposure("d-4", 13 * SEGMENT_MS)], 13 * SEGMENT_MS)
        .unwrap();
    let (_, replayed) = open(&dir, 13 * SEGMENT_MS);
    assert_eq!(ids(&replayed), ["d-3", "d-4"]);
}

fn exposure_of(id: &str, unit: &str, at_ms: i64) -> Record {
    let mut record = exposure(id, at_ms);
    if let Record::Exposure(e) = &mut record {
        e.unit = unit.into();
    }
    record
}

fn conversion_of(id: &str, unit: &str, at_ms: i64) -> Record {
    Record::Conversion(Conversion {
        event_id: id.into(),
        kind: "purchase".into(),
        policy: "p".into(),
        unit: unit.into(),
        experiment: Some("e".into()),
        arm: Some("a".into()),
        item: None,
        decision_id: None,
        value: 1.0,
        at_ms,
        node: None,
    })
}

/// Whether any segment file's bytes still hold `text`.
fn on_disk(dir: &Path, text: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    })
}

fn forwarded_ids(found: &[(Cursor, Vec<u8>)]) -> Vec<String> {
    found
        .iter()
        .map(
            |(_, line)| match serde_json::from_slice::<Record>(line).unwrap() {
                Record::Exposure(e) => e.decision_id,
                Record::Conversion(c) => c.event_id,
            },
        )
        .collect()
}

fn erasing_a_unit_removes_its_records_from_every_segment_and_keeps_the_rest() {
    use std::os::unix::fs::MetadataExt;
    let dir = scratch("erase");
    let (log, _) = open(&dir, 0);
    let mut remote = exposure_of("from-b", "gone-1", 3);
    remote.set_node("b".into());
    log.append(
        &[
            exposure_of("d-1", "gone-1", 1),
            exposure_of("d-2", "kept-2", 2),
            remote,
            conversion_of("e-1", "gone-1", 4),
            conversion_of("e-2", "kept-2", 5),
        ],
        0,
    )
    .unwrap();
    log.append(&[exposure_of("d-3", "kept-2", SEGMENT_MS)], SEGMENT_MS)
        .unwrap();
    log.append(
        &[exposure_of("d-4", "gone-1", 2 * SEGMENT_MS)],
        2 * SEGMENT_MS,
    )
    .unwrap();
    let paths: Vec<PathBuf> = lock(&log.segments).iter().map(|s| s.path.clone()).collect();
    let untouched = std::fs::metadata(&paths[1]).unwrap().ino();
    let erased = log.erase("gone-1").unwrap();
    assert_eq!(
        erased,
        ErasedOutcomes {
            exposures: 3,
            conversions: 1
        }
    );
    assert_eq!(
        std::fs::metadata(&paths[1]).unwrap().ino(),
        untouched,
        "a segment without the unit is not rewritten"
    );
    assert!(!on_disk(&dir, "gone-1"));
    assert_eq!(log.erase("gone-1").unwrap(), ErasedOutcomes::default());
    drop(log);
    let (_, replayed) = open(&dir, 2 * SEGMENT_MS);
    assert_eq!(ids(&replayed), ["d-2", "e-2", "d-3"]);
}

fn the_open_segment_is_erased_and_later_appends_survive_a_reopen() {
    let dir = scratch("erase-open");
    let (log, _) = open(&dir, 0);
    log.append(
        &[exposure_of("d-1", "gone", 1), exposure_of("d-2", "kept", 2)],
        0,
    )
    .unwrap();
    let erased = log.erase("gone").unwrap();
    assert_eq!(erased.exposures, 1);
    // New names, and names the erased segment defined, are written after the erasure.
    let mut late = exposure_of("d-3", "kept", 3);
    if let Record::Exposure(e) = &mut late {
        e.items = vec!["sku-new".into()];
    }
    log.append(&[late, exposure_of("d-4", "gone", 4)], 10)
        .unwrap();
    let (_, replayed) = open(&dir, 20);
    assert_eq!(ids(&replayed), ["d-2", "d-3", "d-4"]);
    assert!(matches!(&replayed[1], Record::Exposure(e) if e.items == ["sku-new"]));
}

fn the_forwarder_cursor_means_the_same_records_after_an_erasure() {
    let dir = scratch("erase-cursor");
    let (log, _) = open(&dir, 0);
    log.append(
        &[
            exposure_of("d-1", "gone", 1),
            exposure_of("d-2", "kept", 2),
            exposure_of("d-3", "gone", 3),
            exposure_of("d-4", "kept", 4),
        ],
        0,
    )
    .unwrap();
    let first = log.local_after(&Cursor::default(), 2).unwrap();
    assert_eq!(forwarded_ids(&first), ["d-1", "d-2"]);
    let cursor = first[1].0.clone();
    log.set_forwarded(&cursor).unwrap();
    log.erase("gone").unwrap();
    log.append(&[exposure_of("d-5", "kept", 5)], 10).unwrap();
    let rest = log.local_after(&cursor, 10).unwrap();
    assert_eq!(forwarded_ids(&rest), ["d-4", "d-5"]);
    assert!(log.local_after(&rest[1].0, 10).unwrap().is_empty());
    // From the saved cursor after a restart: the same records, once.
    drop(log);
    let (log, _) = open(&dir, 20);
    let again = log.local_after(&log.forwarded(), 10).unwrap();
    assert_eq!(forwarded_ids(&again), ["d-4", "d-5"]);
}

fn a_torn_tail_does_not_stop_an_erasure_and_is_dropped() {
    let dir = scratch("erase-torn");
    let (log, _) = open(&dir, 0);
    log.append(
        &[exposure_of("d-1", "kept", 1), exposure_of("d-2", "gone", 2)],
        0,
    )
    .unwrap();
    let path = lock(&log.segments)[0].path.clone();
    drop(log);
    // A crash in the middle of a frame that held the unit.
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[60, 0, 0, 0, 1, 2, 3, 4, 2, 4, b'g', b'o', b'n', b'e'])
        .unwrap();
    drop(file);
    let (log, replayed) = open(&dir, 10);
    assert_eq!(ids(&replayed), ["d-1", "d-2"]);
    assert_eq!(log.erase("gone").unwrap().exposures, 1);
    assert!(!on_disk(&dir, "gone"));
    drop(log);
    let (_, replayed) = open(&dir, 20);
    assert_eq!(ids(&replayed), ["d-1"]);
}

fn open_with(dir: &Path, key: Option<Arc<DataKey>>) -> Result<OutcomeLog, LogError> {
    OutcomeLog::open(dir, 10 * SEGMENT_MS, 100, key, |_| {})
}

#[test]
fn an_encrypted_log_holds_no_unit_id_or_name_in_plaintext() {
    KEY.with(|key| *key.borrow_mut() = Some(test_key(9)));
    let dir = scratch("at-rest");
    let (log, _) = open(&dir, 0);
    let mut with_item = exposure_of("decision-7", "cust-000042", 1);
    if let Record::Exposure(e) = &mut with_item {
        e.items = vec!["sku-secret".into()];
    }
    log.append(&[with_item, conversion_of("event-9", "cust-000042", 2)], 0)
        .unwrap();
    drop(log);
    for text in [
        "cust-000042",
        "decision-7",
        "event-9",
        "sku-secret",
        "hero",
        "purchase",
    ] {
        assert!(!on_disk(&dir, text), "{text} is readable on disk");
    }
    let (_, replayed) = open(&dir, 10);
    assert_eq!(ids(&replayed), ["decision-7", "event-9"]);
}

#[test]
fn a_log_is_never_read_the_other_way_or_with_another_key() {
    let error = |dir: &Path, key| open_with(dir, key).unwrap_err().to_string();
    let chain = |dir: &Path, key| crate::report::chain(&open_with(dir, key).unwrap_err());
    // Written in plaintext: refused with a key.
    let plain = scratch("plain-then-key");
    open_with(&plain, None)
        .unwrap()
        .append(&[exposure("d-1", 1)], 0)
        .unwrap();
    let why = chain(&plain, Some(test_key(1)));
    assert!(why.contains("written without encryption"), "{why}");
    assert!(
        error(&plain, Some(test_key(1))).contains("outcomes-"),
        "names the segment"
    );
    // Written encrypted: refused without the key and with another one.
    let sealed = scratch("key-then-plain");
    open_with(&sealed, Some(test_key(1)))
        .unwrap()
        .append(&[exposure("d-1", 1)], 0)
        .unwrap();
    let why = chain(&sealed, None);
    assert!(
        why.contains("is encrypted") && why.contains("data_key"),
        "{why}"
    );
    let why = chain(&sealed, Some(test_key(2)));
    assert!(why.contains("the configured data key is"), "{why}");
    // With its own key it opens.
    let mut replayed = Vec::new();
    OutcomeLog::open(&sealed, 10 * SEGMENT_MS, 100, Some(test_key(1)), |r| {
        replayed.push(r)
    })
    .unwrap();
    assert_eq!(ids(&replayed), ["d-1"]);
}

#[test]
fn a_changed_sealed_frame_is_not_read_and_the_frames_before_it_are() {
    KEY.with(|key| *key.borrow_mut() = Some(test_key(3)));
    let dir = scratch("tampered");
    let (log, _) = open(&dir, 0);
    log.append(&[exposure("d-1", 1)], 0).unwrap();
    let path = lock(&log.segments)[0].path.clone();
    let before = std::fs::metadata(&path).unwrap().len() as usize;
    log.append(&[exposure("d-2", 2)], 0).unwrap();
    drop(log);
    // Flip a ciphertext byte of the last frame and fix its checksum, as a deliberate change
    // (not a torn write) would.
    let mut bytes = std::fs::read(&path).unwrap();
    let body = before + FRAME_HEADER;
    bytes[body + 14] ^= 1;
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[body..]);
    bytes[before + 4..before + 8].copy_from_slice(&crc.sum().to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let (_, replayed) = open(&dir, 10);
    assert_eq!(ids(&replayed), ["d-1"]);
}
