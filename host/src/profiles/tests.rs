use super::*;

fn write_snapshot(path: &Path, version: &str, base: Option<&str>, lines: &[&str]) {
    snapshot::write_for_test(path, version, base, lines);
}

fn open(data_dir: &Path, snapshot: &Path, key: Option<Arc<DataKey>>) -> Profiles {
    let pseudonyms = Arc::new(Pseudonyms::from_secret(&[9; 32]));
    Profiles::load(data_dir, snapshot, 100, pseudonyms, key, None).unwrap()
}

fn segments(profiles: &Profiles, id: &str) -> Option<Vec<String>> {
    let lookup = profiles.lookup(Some(id), Profile::default).unwrap();
    (lookup.source != ProfileSource::Anonymous).then(|| lookup.profile.segments())
}

#[test]
fn applied_deltas_serve_again_after_a_restart_until_a_whole_snapshot_loads() {
    let root = std::env::temp_dir().join(format!("tailor-profiles-deltas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    for key in [None, Some(Arc::new(DataKey::from_bytes([5; 32])))] {
        let data = root.join(if key.is_some() { "sealed" } else { "plain" });
        let whole = root.join("whole.ndjson");
        write_snapshot(
            &whole,
            "v1",
            None,
            &[
                r#"{"customer_id":"a","segments":["v1"]}"#,
                r#"{"customer_id":"b"}"#,
            ],
        );
        let profiles = open(&data, &whole, key.clone());
        let first = root.join("delta-1.ndjson");
        write_snapshot(
            &first,
            "v2",
            Some("v1"),
            &[r#"{"customer_id":"a","segments":["v2"]}"#],
        );
        let second = root.join("delta-2.ndjson");
        write_snapshot(
            &second,
            "v3",
            Some("v2"),
            &[r#"{"customer_id":"b","removed":true}"#],
        );
        // The same delta again is on the wrong base now, and refused; the serving one stays.
        profiles.reload(&first).unwrap();
        let error = profiles.reload(&first).unwrap_err().to_string();
        assert!(error.contains("serves version v2"), "{error}");
        profiles.reload(&second).unwrap();
        assert_eq!(segments(&profiles, "a").unwrap(), ["v2"]);
        assert!(segments(&profiles, "b").is_none());
        drop(profiles);
        // The sync tool removes what it delivered; the node kept its own copies.
        std::fs::remove_file(&first).unwrap();
        std::fs::remove_file(&second).unwrap();
        let kept = Deltas::new(&data).files();
        assert_eq!(kept.len(), 2);
        if key.is_some() {
            let bytes = std::fs::read(&kept[0]).unwrap();
            assert!(
                crate::privacy::is_sealed(&bytes),
                "customer data at rest is sealed"
            );
        }
        let profiles = open(&data, &whole, key.clone());
        assert_eq!(profiles.current().store.header.snapshot_version, "v3");
        assert_eq!(segments(&profiles, "a").unwrap(), ["v2"]);
        assert!(segments(&profiles, "b").is_none());
        // A whole snapshot makes the kept deltas history.
        write_snapshot(&whole, "v4", None, &[r#"{"customer_id":"b"}"#]);
        profiles.reload(&whole).unwrap();
        assert!(Deltas::new(&data).files().is_empty());
        drop(profiles);
        let profiles = open(&data, &whole, key.clone());
        assert_eq!(profiles.current().store.header.snapshot_version, "v4");
        assert!(segments(&profiles, "a").is_none());
        drop(profiles);
        // A start from another whole snapshot than the deltas' base forgets them.
        let third = root.join("delta-3.ndjson");
        write_snapshot(&third, "v5", Some("v4"), &[r#"{"customer_id":"c"}"#]);
        let profiles = open(&data, &whole, key.clone());
        profiles.reload(&third).unwrap();
        drop(profiles);
        write_snapshot(&whole, "v6", None, &[]);
        let profiles = open(&data, &whole, key.clone());
        assert_eq!(profiles.current().store.header.snapshot_version, "v6");
        assert!(Deltas::new(&data).files().is_empty());
        // A node cannot start from a delta.
        drop(profiles);
        let pseudonyms = Arc::new(Pseudonyms::from_secret(&[9; 32]));
        let error = Profiles::load(&data, &third, 100, pseudonyms, key.clone(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("starts from a whole snapshot"), "{error}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn stores_an_earlier_run_or_format_left_are_removed_at_start_never_read() {
    let root = std::env::temp_dir().join(format!("tailor-profiles-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A store file of format 1 (the header names it; its values are not what format 2 reads),
    // a redb store of the format before that, and a file of someone else's.
    let mut format_1 = b"TLRPROF\n".to_vec();
    format_1.extend_from_slice(&1u32.to_le_bytes());
    format_1.extend_from_slice(&[0xa5; 200]);
    let stale = [
        data.join("profiles-v0-1764000000000.profiles"),
        data.join("profiles-v0.redb"),
    ];
    std::fs::write(&stale[0], &format_1).unwrap();
    std::fs::write(&stale[1], b"redb").unwrap();
    let other = data.join("profiles-notes.txt");
    std::fs::write(&other, b"kept").unwrap();
    let snapshot = root.join("snapshot.ndjson");
    write_snapshot(
        &snapshot,
        "v1",
        None,
        &[r#"{"customer_id":"a","segments":["new"]}"#],
    );
    let profiles = open(&data, &snapshot, None);
    for path in &stale {
        assert!(!path.exists(), "{} is left", path.display());
    }
    assert!(other.exists());
    assert_eq!(segments(&profiles, "a").unwrap(), ["new"]);
    let stores: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".profiles"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(stores.len(), 1, "only the store built from the snapshot");
    assert_eq!(stores[0][8..12], store::FORMAT_VERSION.to_le_bytes());
    drop(profiles);
    std::fs::remove_dir_all(&root).unwrap();
}
