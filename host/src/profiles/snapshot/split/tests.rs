use super::*;
use crate::profiles::sample;
use crate::profiles::scratch::Scratch;
use crate::profiles::snapshot::open;
use std::collections::BTreeSet;

/// The ids a share holds, read back as a node reads a snapshot.
fn ids(path: &Path) -> (SnapshotHeader, BTreeSet<String>) {
    let (header, profiles) = open(path, None).unwrap();
    let ids = profiles.map(|p| p.unwrap().customer_id.unwrap()).collect();
    (header, ids)
}

#[test]
fn shares_hold_what_their_partitions_hold_under_the_same_header() {
    let scratch = Scratch::new("split-shares");
    let snapshot = scratch.0.join("all.ndjson");
    sample::write(&snapshot, 3_000).unwrap();
    let partitions: Vec<Partition> = ["hash:0/3", "hash:1/3", "hash:2/3", "trait:city=Leeds"]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    let shares = partitions
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), scratch.0.join(format!("share-{i}.ndjson.gz"))))
        .collect();
    let (header, shares) = split_snapshot(&snapshot, shares, None).unwrap();
    assert_eq!(header.snapshot_version, "sample-3000");
    let mut every = BTreeSet::new();
    for share in &shares[..3] {
        let (share_header, held) = ids(&share.path);
        assert_eq!(share_header, header);
        assert_eq!(held.len() as u64, share.profiles);
        assert!(held.len() > 800, "{} of 3000", held.len());
        for id in &held {
            assert!(every.insert(id.clone()), "{id} in two hash shares");
        }
    }
    assert_eq!(every.len(), 3_000, "every customer in one hash share");
    let leeds: BTreeSet<String> = (0..3_000)
        .filter(|&i| {
            sample::profile(i).trait_value("city")
                == Some(&tailor_types::Value::Text("Leeds".into()))
        })
        .map(|i| format!("cust-{i:06}"))
        .collect();
    assert!(!leeds.is_empty());
    assert_eq!(ids(&shares[3].path).1, leeds);
    // Each share's profiles are as the whole snapshot has them.
    let (_, profiles) = open(&shares[3].path, None).unwrap();
    for profile in profiles {
        let profile = profile.unwrap();
        let i: u64 = profile.customer_id.as_deref().unwrap()[5..]
            .parse()
            .unwrap();
        assert_eq!(profile, sample::profile(i));
    }
}

#[test]
fn a_deltas_removals_go_to_every_share_and_a_bad_line_stops_the_split() {
    let scratch = Scratch::new("split-delta");
    let delta = scratch.0.join("delta.ndjson");
    std::fs::write(
        &delta,
        concat!(
            "{\"snapshot_version\":\"d2\",\"generated_at_ms\":2,\"base_version\":\"d1\"}\n",
            "{\"customer_id\":\"c-1\",\"traits\":{\"region\":\"north\"}}\n",
            "{\"customer_id\":\"c-2\",\"removed\":true}\n",
            "{\"customer_id\":\"c-3\",\"traits\":{\"region\":\"south\\u0021\"}}\n",
        ),
    )
    .unwrap();
    let share = |name: &str, spec: &str| (spec.parse().unwrap(), scratch.0.join(name));
    let (header, shares) = split_snapshot(
        &delta,
        vec![
            share("north.gz", "trait:region=north"),
            share("south.gz", "trait:region=south!"),
        ],
        None,
    )
    .unwrap();
    assert_eq!(header.base_version.as_deref(), Some("d1"));
    assert_eq!((shares[0].profiles, shares[0].removals), (1, 1));
    assert_eq!((shares[1].profiles, shares[1].removals), (1, 1));
    let (_, body) = chunks(&shares[1].path, None).unwrap();
    let lines: Vec<String> = body
        .flat_map(|c| {
            let c = c.unwrap();
            c.lines()
                .map(|(_, l)| l.unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        lines,
        [
            "{\"customer_id\":\"c-2\",\"removed\":true}",
            "{\"customer_id\":\"c-3\",\"traits\":{\"region\":\"south\\u0021\"}}"
        ],
        "lines as the export wrote them"
    );

    let bad = scratch.0.join("bad.ndjson");
    std::fs::write(
        &bad,
        "{\"snapshot_version\":\"b\",\"generated_at_ms\":1}\n{\"customer_id\":\"c-1\"}\n{\"customer_id\":\"c-2\",\"segments\":3}\n",
    )
    .unwrap();
    let error = split_snapshot(&bad, vec![share("b.gz", "hash:0/2")], None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 3") && error.contains("segments"),
        "{error}"
    );
}

#[test]
fn a_sealed_export_splits_into_sealed_shares_with_the_key_and_not_without() {
    let scratch = Scratch::new("split-sealed");
    let key = DataKey::from_bytes([4; 32]);
    let sealed = scratch.0.join("all.ndjson.sealed");
    let file = BufWriter::new(File::create(&sealed).unwrap());
    let mut writer = SealedWriter::new(file, &key, "all").unwrap();
    sample::write_to(&mut writer, 500).unwrap();
    writer.finish().unwrap().flush().unwrap();
    let partitions = ["hash:0/2", "hash:1/2"];
    let shares = |tag: &str| {
        partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.parse().unwrap(), scratch.0.join(format!("{tag}-{i}.gz"))))
            .collect::<Vec<_>>()
    };
    let error = split_snapshot(&sealed, shares("nokey"), None).unwrap_err();
    assert!(matches!(error, SnapshotError::NeedsKey { .. }), "{error}");
    let (header, written) = split_snapshot(&sealed, shares("sealed"), Some(&key)).unwrap();
    assert_eq!(header.snapshot_version, "sample-500");
    let mut every = BTreeSet::new();
    for share in &written {
        let bytes = std::fs::read(&share.path).unwrap();
        assert!(
            crate::privacy::is_sealed(&bytes),
            "{} is sealed",
            share.path.display()
        );
        assert!(
            !bytes.windows(5).any(|w| w == b"cust-"),
            "no customer id in the clear"
        );
        assert!(
            open(&share.path, None).is_err(),
            "a sealed share needs the key"
        );
        let (_, profiles) = open(&share.path, Some(&key)).unwrap();
        let held: Vec<_> = profiles.map(|p| p.unwrap()).collect();
        assert_eq!(held.len() as u64, share.profiles);
        for profile in held {
            let id = profile.customer_id.clone().unwrap();
            assert_eq!(profile, sample::profile(id[5..].parse().unwrap()));
            assert!(every.insert(id));
        }
    }
    assert_eq!(every.len(), 500, "every customer in one share");
}
