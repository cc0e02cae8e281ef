use super::*;
use crate::profiles::sample;
use crate::profiles::scratch::Scratch;
use crate::profiles::snapshot::ProfileRef;
use std::io::Write;
use tailor_types::Profile;

fn sample_snapshot(dir: &Path, count: u64) -> PathBuf {
    let path = dir.join("snapshot.ndjson");
    sample::write(&path, count).unwrap();
    path
}

/// A customer's whole profile from `store`, decoded.
fn decoded(store: &ProfileStore, customer_id: &str) -> Option<Profile> {
    store
        .get(customer_id)
        .unwrap()
        .map(|stored| stored.try_decode().unwrap())
}

fn stores_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == EXTENSION))
        .collect()
}

#[test]
fn every_profile_reads_back_as_the_snapshot_has_it_and_unknown_ids_are_absent() {
    let scratch = Scratch::new("store-round-trip");
    // Several chunks of lines (about 2 MB), so chunks from several threads meet in order.
    let snapshot = sample_snapshot(&scratch.0, 3_000);
    let seen = std::sync::Mutex::new(Vec::new());
    let record = |id: &str| seen.lock().unwrap().push(id.to_owned());
    let store =
        ProfileStore::build_from_file(&scratch.0, &snapshot, None, None, None, Some(&record))
            .unwrap();
    assert_eq!(store.profiles, 3_000);
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    let every: Vec<String> = (0..3_000).map(|i| format!("cust-{i:06}")).collect();
    assert_eq!(seen, every, "every id once");
    for i in [0, 1, 511, 512, 1_777, 2_999] {
        let id = format!("cust-{i:06}");
        assert_eq!(decoded(&store, &id), Some(sample::profile(i)), "{id}");
        assert!(store.contains(&id).unwrap());
    }
    for unknown in ["cust-003000", "", "cust-00000", "CUST-000001"] {
        assert_eq!(decoded(&store, unknown), None, "{unknown}");
        assert!(!store.contains(unknown).unwrap());
    }
    let bytes = std::fs::read(store.path()).unwrap();
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(store.file_bytes, bytes.len() as u64);
    let json: usize = (0..3_000)
        .map(|i| serde_json::to_vec(&sample::profile(i)).unwrap().len())
        .sum();
    assert!(
        bytes.len() * 2 < json,
        "the store ({} bytes) is not under half the JSON ({json} bytes)",
        bytes.len()
    );
    // The sample spreads over the snapshot and is the same each time.
    let ids = store.sample_ids(10).unwrap();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids[0], "cust-000000");
    assert_eq!(ids[1], "cust-000300");
    assert_eq!(store.sample_ids(10).unwrap(), ids);
    let path = store.path().to_owned();
    drop(store);
    assert!(!path.exists(), "a dropped store's file is removed");
}

#[test]
fn lines_read_in_place_and_lines_left_to_serde_load_alike() {
    let scratch = Scratch::new("store-two-readings");
    let path = scratch.0.join("mixed.ndjson");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "{{\"snapshot_version\":\"m1\",\"generated_at_ms\":1}}"
    )
    .unwrap();
    // Every other sample line needs serde: an escaped name, an exponent, a points with a point.
    let mut expected = Vec::new();
    for i in 0..200u64 {
        let mut profile = sample::profile(i);
        let mut line = serde_json::to_string(&profile).unwrap();
        if i % 2 == 1 {
            profile.segments.push("say \"hi\"\n".into());
            profile
                .traits
                .push(("big".into(), tailor_types::Value::Number(1e21)));
            line = serde_json::to_string(&profile).unwrap();
            assert!(!crate::profiles::snapshot::scan(
                &line,
                &mut ProfileRef::default()
            ));
        }
        writeln!(file, "{line}").unwrap();
        expected.push(profile);
    }
    drop(file);
    let store = ProfileStore::build_from_file(&scratch.0, &path, None, None, None, None).unwrap();
    assert_eq!(store.profiles, 200);
    for (i, profile) in expected.into_iter().enumerate() {
        let id = format!("cust-{i:06}");
        assert_eq!(decoded(&store, &id), Some(profile), "{id}");
    }
}

#[test]
fn an_empty_snapshot_and_a_customer_listed_twice() {
    let scratch = Scratch::new("store-edge");
    let empty = scratch.0.join("empty.ndjson");
    std::fs::write(
        &empty,
        "{\"snapshot_version\":\"v0\",\"generated_at_ms\":1}\n\n",
    )
    .unwrap();
    let store = ProfileStore::build_from_file(&scratch.0, &empty, None, None, None, None).unwrap();
    assert_eq!(store.profiles, 0);
    assert_eq!(decoded(&store, "cust-000001"), None);
    assert!(store.sample_ids(5).unwrap().is_empty());
    drop(store);
    // The later line wins, as it did in a store that overwrote.
    let twice = scratch.0.join("twice.ndjson");
    let mut file = std::fs::File::create(&twice).unwrap();
    writeln!(
        file,
        "{{\"snapshot_version\":\"v1\",\"generated_at_ms\":1}}"
    )
    .unwrap();
    writeln!(file, "{{\"customer_id\":\"c-1\",\"segments\":[\"old\"]}}").unwrap();
    writeln!(file, "{{\"customer_id\":\"c-2\"}}").unwrap();
    writeln!(file, "{{\"customer_id\":\"c-1\",\"segments\":[\"new\"]}}").unwrap();
    drop(file);
    let store = ProfileStore::build_from_file(&scratch.0, &twice, None, None, None, None).unwrap();
    assert_eq!(store.profiles, 2, "customers, not lines");
    assert_eq!(decoded(&store, "c-1").unwrap().segments, ["new"]);
    assert!(decoded(&store, "c-2").is_some());
}

#[test]
fn a_bad_line_fails_the_load_naming_the_first_one_and_leaves_no_file() {
    let scratch = Scratch::new("store-bad");
    let snapshot = scratch.0.join("bad.ndjson");
    let mut file = std::fs::File::create(&snapshot).unwrap();
    writeln!(
        file,
        "{{\"snapshot_version\":\"v1\",\"generated_at_ms\":1}}"
    )
    .unwrap();
    for i in 0..5_000 {
        match i {
            // Two bad lines in different chunks (the lines take about 450 KB): the first in
            // the file is the one named.
            1_200 => writeln!(file, "{{\"customer_id\":\"c-{i}\",\"loyalty\":{{\"tier\":\"gold\",\"points\":\"Priya\"}}}}").unwrap(),
            4_000 => writeln!(file, "{{\"segments\":[]}}").unwrap(),
            _ => writeln!(file, "{{\"customer_id\":\"c-{i}\",\"segments\":[\"{}\"]}}", "s".repeat(60)).unwrap(),
        }
    }
    drop(file);
    for _ in 0..3 {
        let error = ProfileStore::build_from_file(&scratch.0, &snapshot, None, None, None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 1202"), "{error}");
        assert!(error.contains("loyalty.points"), "{error}");
        assert!(!error.contains("Priya"), "{error}");
        assert!(stores_in(&scratch.0).is_empty());
    }
}

#[test]
fn an_encrypted_store_holds_no_id_or_name_and_reads_back() {
    let scratch = Scratch::new("store-sealed");
    let snapshot = sample_snapshot(&scratch.0, 600);
    let key = DataKey::from_bytes([3; 32]);
    let store =
        ProfileStore::build_from_file(&scratch.0, &snapshot, Some(&key), None, None, None).unwrap();
    assert!(store.encrypted());
    let bytes = std::fs::read(store.path()).unwrap();
    for needle in ["cust-000042", "Priya", "Glasgow", "high_value", "shoes"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is readable in the store"
        );
    }
    assert_eq!(decoded(&store, "cust-000042"), Some(sample::profile(42)));
    assert_eq!(decoded(&store, "cust-000600"), None);
    let ids = store.sample_ids(3).unwrap();
    assert_eq!(ids, ["cust-000000", "cust-000200", "cust-000400"]);
}

#[test]
fn a_damaged_value_is_an_error_naming_the_store_not_a_profile() {
    let scratch = Scratch::new("store-damaged");
    let snapshot = sample_snapshot(&scratch.0, 10);
    let mut store =
        ProfileStore::build_from_file(&scratch.0, &snapshot, None, None, None, None).unwrap();
    // Replace the mapping with a copy whose first value's bytes are cut short.
    let mut bytes = store.map.to_vec();
    bytes[HEADER_LEN] = 0x7f;
    let copy = scratch.0.join("copy");
    std::fs::write(&copy, &bytes).unwrap();
    store.map = load::map(&std::fs::File::open(&copy).unwrap()).unwrap();
    let error = store.get("cust-000000").unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("profile store"), "{error}");
}

#[test]
fn a_partition_keeps_its_profiles_only_and_every_id_is_still_seen() {
    let scratch = Scratch::new("store-partition");
    let snapshot = sample_snapshot(&scratch.0, 2_000);
    let partition: Partition = "trait:preferred_store=store-0042".parse().unwrap();
    let seen = std::sync::atomic::AtomicU64::new(0);
    let count = |_: &str| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let store = ProfileStore::build_from_file(
        &scratch.0,
        &snapshot,
        None,
        Some(&partition),
        None,
        Some(&count),
    )
    .unwrap();
    assert_eq!(
        seen.into_inner(),
        2_000,
        "suppressions are decided against the whole snapshot"
    );
    let kept: Vec<u64> = (0..2_000)
        .filter(|&i| {
            let (id, profile) = (format!("cust-{i:06}"), sample::profile(i));
            partition.holds(&ProfileRef::of(&id, &profile))
        })
        .collect();
    assert!(!kept.is_empty() && kept.len() < 2_000);
    assert_eq!(store.profiles, kept.len() as u64);
    assert_eq!(store.outside_partition, 2_000 - kept.len() as u64);
    assert_eq!(store.partition.as_ref(), Some(&partition));
    for i in 0..2_000 {
        let id = format!("cust-{i:06}");
        assert_eq!(store.contains(&id).unwrap(), kept.contains(&i), "{id}");
    }
}

/// Writes a snapshot file of `lines` after a header of `version` (a delta of `base`).
fn snapshot_file(
    dir: &Path,
    name: &str,
    version: &str,
    base: Option<&str>,
    lines: &[String],
) -> PathBuf {
    let path = dir.join(name);
    crate::profiles::snapshot::write_for_test(&path, version, base, lines);
    path
}

#[test]
fn a_delta_changes_adds_and_removes_on_top_of_its_base_and_keeps_everyone_else() {
    let scratch = Scratch::new("store-delta");
    let base_file = sample_snapshot(&scratch.0, 3_000);
    for key in [None, Some(DataKey::from_bytes([3; 32]))] {
        let key = key.as_ref();
        let base =
            ProfileStore::build_from_file(&scratch.0, &base_file, key, None, None, None).unwrap();
        let delta = snapshot_file(
            &scratch.0,
            "delta.ndjson",
            "v2",
            Some("sample-3000"),
            &[
                r#"{"customer_id":"cust-000010","segments":["changed"]}"#.into(),
                r#"{"customer_id":"cust-000011","removed":true}"#.into(),
                r#"{"customer_id":"new-1","segments":["added"]}"#.into(),
                // Listed twice: the last line holds.
                r#"{"customer_id":"cust-000012","segments":["first"]}"#.into(),
                r#"{"customer_id":"cust-000012","segments":["last"]}"#.into(),
                // Removing someone the base never had is no error.
                r#"{"customer_id":"nobody","removed":true}"#.into(),
            ],
        );
        let seen = std::sync::atomic::AtomicU64::new(0);
        let count = |_: &str| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let next =
            ProfileStore::build_from_file(&scratch.0, &delta, key, None, Some(&base), Some(&count))
                .unwrap();
        assert_eq!(next.header.snapshot_version, "v2");
        assert_eq!(next.header.base_version.as_deref(), Some("sample-3000"));
        assert_eq!(next.encrypted(), key.is_some());
        // One removed, one added (the customer listed twice counts once).
        assert_eq!(next.profiles, 3_000 - 1 + 1);
        assert_eq!(
            seen.into_inner(),
            3_000 - 3 + 4,
            "the copied customers and the delta's profiles"
        );
        assert_eq!(decoded(&next, "cust-000010").unwrap().segments, ["changed"]);
        assert_eq!(decoded(&next, "cust-000012").unwrap().segments, ["last"]);
        assert_eq!(decoded(&next, "new-1").unwrap().segments, ["added"]);
        assert!(decoded(&next, "cust-000011").is_none());
        assert!(decoded(&next, "nobody").is_none());
        for i in [0u64, 9, 13, 1_500, 2_999] {
            let id = format!("cust-{i:06}");
            assert_eq!(decoded(&next, &id).unwrap(), sample::profile(i), "{id}");
        }
        // The base is untouched and still serves what it served.
        assert_eq!(decoded(&base, "cust-000011").unwrap(), sample::profile(11));
        // And a delta on top of the delta.
        let again = snapshot_file(
            &scratch.0,
            "delta2.ndjson",
            "v3",
            Some("v2"),
            &[r#"{"customer_id":"new-1","removed":true}"#.into()],
        );
        let third = ProfileStore::build_from_file(&scratch.0, &again, key, None, Some(&next), None)
            .unwrap();
        assert!(decoded(&third, "new-1").is_none());
        assert_eq!(
            decoded(&third, "cust-000010").unwrap().segments,
            ["changed"]
        );
        assert_eq!(third.profiles, 3_000 - 1);
    }
}

#[test]
fn a_delta_on_the_wrong_base_or_without_one_is_refused() {
    let scratch = Scratch::new("store-delta-base");
    let base_file = sample_snapshot(&scratch.0, 10);
    let base =
        ProfileStore::build_from_file(&scratch.0, &base_file, None, None, None, None).unwrap();
    let delta = snapshot_file(
        &scratch.0,
        "delta.ndjson",
        "v9",
        Some("v8"),
        &[r#"{"customer_id":"c"}"#.into()],
    );
    let error = ProfileStore::build_from_file(&scratch.0, &delta, None, None, Some(&base), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("delta of version v8") && error.contains("serves version sample-10"),
        "{error}"
    );
    let error = ProfileStore::build_from_file(&scratch.0, &delta, None, None, None, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("starts from a whole snapshot"), "{error}");
    assert_eq!(stores_in(&scratch.0).len(), 1, "only the base's store");
}

#[test]
fn a_corrupt_delta_is_refused_naming_its_line_and_leaves_no_file() {
    let scratch = Scratch::new("store-delta-corrupt");
    let base_file = sample_snapshot(&scratch.0, 10);
    let base =
        ProfileStore::build_from_file(&scratch.0, &base_file, None, None, None, None).unwrap();
    for (bad, field) in [
        (r#"{"customer_id":"c","removed":false}"#, "removed"),
        (
            r#"{"customer_id":"c","loyalty":{"tier":1}}"#,
            "loyalty.tier",
        ),
        (r#"{"customer_id":"c""#, "EOF"),
    ] {
        let delta = snapshot_file(
            &scratch.0,
            "delta.ndjson",
            "v2",
            Some("sample-10"),
            &[r#"{"customer_id":"a"}"#.into(), bad.into()],
        );
        let error =
            ProfileStore::build_from_file(&scratch.0, &delta, None, None, Some(&base), None)
                .unwrap_err()
                .to_string();
        assert!(error.contains("line 3") && error.contains(field), "{error}");
        assert_eq!(stores_in(&scratch.0).len(), 1, "only the base's store");
    }
    // A whole snapshot cannot remove anyone.
    let whole = snapshot_file(
        &scratch.0,
        "whole.ndjson",
        "v2",
        None,
        &[r#"{"customer_id":"a","removed":true}"#.into()],
    );
    let error = ProfileStore::build_from_file(&scratch.0, &whole, None, None, Some(&base), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 2") && error.contains("removed"),
        "{error}"
    );
}

#[test]
fn a_delta_moves_customers_out_of_a_partition() {
    let scratch = Scratch::new("store-delta-partition");
    let partition: Partition = "trait:preferred_store=store-0042".parse().unwrap();
    let base_file = snapshot_file(
        &scratch.0,
        "base.ndjson",
        "v1",
        None,
        &[
            r#"{"customer_id":"a","traits":{"preferred_store":"store-0042"}}"#.into(),
            r#"{"customer_id":"b","traits":{"preferred_store":"store-0042"}}"#.into(),
        ],
    );
    let base =
        ProfileStore::build_from_file(&scratch.0, &base_file, None, Some(&partition), None, None)
            .unwrap();
    let delta = snapshot_file(
        &scratch.0,
        "delta.ndjson",
        "v2",
        Some("v1"),
        &[r#"{"customer_id":"a","traits":{"preferred_store":"store-0107"}}"#.into()],
    );
    let next = ProfileStore::build_from_file(
        &scratch.0,
        &delta,
        None,
        Some(&partition),
        Some(&base),
        None,
    )
    .unwrap();
    assert!(
        decoded(&next, "a").is_none(),
        "moved to another store's node"
    );
    assert!(decoded(&next, "b").is_some());
    assert_eq!((next.profiles, next.outside_partition), (1, 1));
}
