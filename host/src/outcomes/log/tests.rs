use super::*;
use crate::outcomes::record::{Conversion, Exposure};

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

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-outcomes-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path, now_ms: i64) -> (OutcomeLog, Vec<Record>) {
    let mut replayed = Vec::new();
    let log = OutcomeLog::open(dir, 10 * SEGMENT_MS, now_ms, |r| replayed.push(r)).unwrap();
    (log, replayed)
}

fn ids(records: &[Record]) -> Vec<&str> {
    records
        .iter()
        .map(|r| match r {
            Record::Exposure(e) => e.decision_id.as_str(),
            Record::Conversion(c) => c.event_id.as_str(),
        })
        .collect()
}

#[test]
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

#[test]
fn the_forwarder_reads_local_records_from_its_cursor_across_segments() {
    let dir = scratch("cursor");
    let (log, _) = open(&dir, 0);
    let mut remote = exposure("from-b", 5);
    remote.set_node("b".into());
    log.append(&[exposure("d-1", 1), remote, exposure("d-2", 2)], 0)
        .unwrap();
    log.append(&[exposure("d-3", SEGMENT_MS)], SEGMENT_MS)
        .unwrap();
    let lines = |found: &[(Cursor, Vec<u8>)]| -> Vec<String> {
        found
            .iter()
            .map(
                |(_, line)| match serde_json::from_slice::<Record>(line).unwrap() {
                    Record::Exposure(e) => e.decision_id,
                    Record::Conversion(c) => c.event_id,
                },
            )
            .collect()
    };
    assert_eq!(log.forwarded(), Cursor::default());
    let first = log.local_after(&Cursor::default(), 2).unwrap();
    assert_eq!(
        lines(&first),
        ["d-1", "d-2"],
        "a record from another node is not forwarded"
    );
    log.set_forwarded(&first[1].0).unwrap();
    let cursor = log.forwarded();
    assert_eq!(cursor, first[1].0);
    let rest = log.local_after(&cursor, 10).unwrap();
    assert_eq!(lines(&rest), ["d-3"]);
    assert!(log.local_after(&rest[0].0, 10).unwrap().is_empty());
    // After a restart the saved cursor is read from again (the names rebuilt on the way).
    drop(log);
    let (log, _) = open(&dir, SEGMENT_MS);
    let again = log.local_after(&first[0].0, 10).unwrap();
    assert_eq!(lines(&again), ["d-2", "d-3"]);
}

#[test]
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
