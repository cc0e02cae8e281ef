//! Profile lookup cost: a decoded profile from the in-memory cache vs a read from the snapshot
//! store on disk (redb + JSON decode). Run: `cargo bench -p tailor-host --bench profiles`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on any surprise"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tailor_host::profiles::{ProfileSource, Profiles, sample};
use tailor_types::Profile;

fn lookups(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tailor-bench-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = dir.join("sample.ndjson");
    sample::write(&snapshot, 10_000).unwrap();
    let pseudonyms = std::sync::Arc::new(tailor_host::privacy::Pseudonyms::from_secret(&[1; 32]));
    let profiles = Profiles::load(&dir, &snapshot, 100_000, pseudonyms).unwrap();
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
    group.bench_function("anonymous", |b| {
        b.iter(|| black_box(profiles.lookup(None, Profile::default).unwrap()))
    });
    group.finish();
    drop(generation);
    drop(profiles);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = lookups
}
criterion_main!(benches);
