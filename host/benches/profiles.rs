//! Profile lookup cost: a decoded profile from the in-memory cache vs a read from the snapshot
//! store on disk (redb + JSON decode), plaintext and encrypted at rest (keyed id hash + AES-GCM
//! open), and loading a 10k-profile snapshot both ways.
//! Run: `cargo bench -p tailor-host --bench profiles`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on any surprise"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use tailor_host::privacy::{DataKey, Pseudonyms};
use tailor_host::profiles::{ProfileSource, Profiles, sample};
use tailor_types::Profile;

fn lookups(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tailor-bench-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = dir.join("sample.ndjson");
    sample::write(&snapshot, 10_000).unwrap();
    let pseudonyms = Arc::new(Pseudonyms::from_secret(&[1; 32]));
    let profiles =
        Profiles::load(&dir, &snapshot, 100_000, pseudonyms.clone(), None, None).unwrap();
    let sealed_dir = dir.join("sealed");
    std::fs::create_dir_all(&sealed_dir).unwrap();
    let key = Arc::new(DataKey::from_bytes([7; 32]));
    let sealed = Profiles::load(
        &sealed_dir,
        &snapshot,
        100_000,
        pseudonyms.clone(),
        Some(key.clone()),
        None,
    )
    .unwrap();
    let mut group = c.benchmark_group("profiles");
    let warm = profiles
        .lookup(Some("cust-000042"), Profile::default)
        .unwrap();
    assert_eq!(warm.source, ProfileSource::SnapshotStore);
    group.bench_function("cache-hit", |b| {
        b.iter(|| {
            black_box(
                profiles
                    .lookup(Some("cust-000042"), Profile::default)
                    .unwrap(),
            )
        })
    });
    let generation = profiles.current();
    let mut i = 0u64;
    group.bench_function("store-read", |b| {
        b.iter(|| {
            i = (i + 1) % 10_000;
            black_box(generation.store.get(&format!("cust-{i:06}")).unwrap())
        })
    });
    let sealed_generation = sealed.current();
    assert!(sealed_generation.store.encrypted());
    group.bench_function("store-read-encrypted", |b| {
        b.iter(|| {
            i = (i + 1) % 10_000;
            black_box(
                sealed_generation
                    .store
                    .get(&format!("cust-{i:06}"))
                    .unwrap(),
            )
        })
    });
    group.bench_function("anonymous", |b| {
        b.iter(|| black_box(profiles.lookup(None, Profile::default).unwrap()))
    });
    group.finish();
    let mut load = c.benchmark_group("snapshot-load-10k");
    load.sample_size(10);
    load.bench_function("plaintext", |b| {
        b.iter(|| black_box(profiles.reload(&snapshot).unwrap()))
    });
    load.bench_function("encrypted", |b| {
        b.iter(|| black_box(sealed.reload(&snapshot).unwrap()))
    });
    load.finish();
    drop((generation, sealed_generation));
    drop((profiles, sealed));
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = lookups
}
criterion_main!(benches);
