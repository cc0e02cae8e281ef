use super::*;
use crate::profiles::sample;
use std::io::Write;

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tailor-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sample_snapshot(dir: &Path, count: u64) -> PathBuf {
    let path = dir.join("snapshot.ndjson");
    sample::write(&path, count).unwrap();
    path
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
    let scratch = Scratch::new("round-trip");
    // Several chunks of lines (about 2 MB), so chunks from several threads meet in order.
    let snapshot = sample_snapshot(&scratch.0, 3_000);
    let seen = std::sync::Mutex::new(Vec::new());
    let store = ProfileStore::build_from_file(&scratch.0, &snapshot, None, None, |id| {
        seen.lock().unwrap().push(id.to_owned())
    })
    .unwrap();
    assert_eq!(store.profiles, 3_000);
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    let every: Vec<String> = (0..3_000).map(|i| format!("cust-{i:06}")).collect();
    assert_eq!(seen, every, "every id once");
    for i in [0, 1, 511, 512, 1_777, 2_999] {
        let id = format!("cust-{i:06}");
        assert_eq!(store.get(&id).unwrap(), Some(sample::profile(i)), "{id}");
        assert!(store.contains(&id).unwrap());
    }
    for unknown in ["cust-003000", "", "cust-00000", "CUST-000001"] {
        assert_eq!(store.get(unknown).unwrap(), None, "{unknown}");
        assert!(!store.contains(unknown).unwrap());
    }
    let bytes = std::fs::read(store.path()).unwrap();
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(bytes[8..12], codec::FORMAT_VERSION.to_le_bytes());
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
fn an_empty_snapshot_and_a_customer_listed_twice() {
    let scratch = Scratch::new("edge");
    let empty = scratch.0.join("empty.ndjson");
    std::fs::write(
        &empty,
        "{\"snapshot_version\":\"v0\",\"generated_at_ms\":1}\n\n",
    )
    .unwrap();
    let store = ProfileStore::build_from_file(&scratch.0, &empty, None, None, |_| {}).unwrap();
    assert_eq!(store.profiles, 0);
    assert_eq!(store.get("cust-000001").unwrap(), None);
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
    let store = ProfileStore::build_from_file(&scratch.0, &twice, None, None, |_| {}).unwrap();
    assert_eq!(store.get("c-1").unwrap().unwrap().segments, ["new"]);
    assert!(store.get("c-2").unwrap().is_some());
}

#[test]
fn a_bad_line_fails_the_load_naming_the_first_one_and_leaves_no_file() {
    let scratch = Scratch::new("bad");
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
        let error = ProfileStore::build_from_file(&scratch.0, &snapshot, None, None, |_| {})
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
    let scratch = Scratch::new("sealed");
    let snapshot = sample_snapshot(&scratch.0, 600);
    let key = DataKey::from_bytes([3; 32]);
    let store =
        ProfileStore::build_from_file(&scratch.0, &snapshot, Some(&key), None, |_| {}).unwrap();
    assert!(store.encrypted());
    let bytes = std::fs::read(store.path()).unwrap();
    for needle in ["cust-000042", "Priya", "Glasgow", "high_value", "shoes"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is readable in the store"
        );
    }
    assert_eq!(store.get("cust-000042").unwrap(), Some(sample::profile(42)));
    assert_eq!(store.get("cust-000600").unwrap(), None);
    let ids = store.sample_ids(3).unwrap();
    assert_eq!(ids, ["cust-000000", "cust-000200", "cust-000400"]);
}

#[test]
fn a_damaged_value_is_an_error_naming_the_store_not_a_profile() {
    let scratch = Scratch::new("damaged");
    let snapshot = sample_snapshot(&scratch.0, 10);
    let mut store =
        ProfileStore::build_from_file(&scratch.0, &snapshot, None, None, |_| {}).unwrap();
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
    let scratch = Scratch::new("partition");
    let snapshot = sample_snapshot(&scratch.0, 2_000);
    let partition: Partition = "trait:preferred_store=store-0042".parse().unwrap();
    let seen = std::sync::atomic::AtomicU64::new(0);
    let store =
        ProfileStore::build_from_file(&scratch.0, &snapshot, None, Some(&partition), |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(
        seen.into_inner(),
        2_000,
        "suppressions are decided against the whole snapshot"
    );
    let kept: Vec<u64> = (0..2_000)
        .filter(|&i| partition.holds(&format!("cust-{i:06}"), &sample::profile(i)))
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
