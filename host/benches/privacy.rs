//! Cost of encryption at rest: sealing and opening a store value, hashing a customer id, the
//! sealed snapshot stream's throughput, and the outcome log's writes and replay in plaintext
//! and encrypted. Run: `cargo bench -p tailor-host --bench privacy`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on any surprise"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;
use tailor_host::outcomes::log::OutcomeLog;
use tailor_host::outcomes::record::ExposureRef;
use tailor_host::privacy::{DataKey, SealedReader, SealedWriter, StoreCipher};

fn values(c: &mut Criterion) {
    let key = DataKey::from_bytes([7; 32]);
    let (cipher, _) = StoreCipher::new(&key, "profile store").unwrap();
    let mut group = c.benchmark_group("privacy");
    for len in [1024, 4096] {
        let plain = vec![0x5a; len];
        let sealed = cipher.seal(b"profiles/cust-000042", &plain).unwrap();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("seal-{}k", len / 1024), |b| {
            b.iter(|| {
                black_box(
                    cipher
                        .seal(b"profiles/cust-000042", black_box(&plain))
                        .unwrap(),
                )
            })
        });
        group.bench_function(format!("open-{}k", len / 1024), |b| {
            b.iter(|| {
                black_box(
                    cipher
                        .open(b"profiles/cust-000042", black_box(&sealed))
                        .unwrap(),
                )
            })
        });
        group.bench_function(format!("open-in-place-{}k", len / 1024), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buffer| {
                    let plain = cipher
                        .open_in_place(b"profiles/cust-000042", buffer)
                        .unwrap();
                    black_box(plain.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("id-hash-12", |b| {
        b.iter(|| black_box(cipher.id_hash(black_box("cust-0000042"))))
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    const LEN: usize = 64 << 20;
    let key = DataKey::from_bytes([7; 32]);
    let plain: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let mut sealed = Vec::with_capacity(LEN + LEN / 1024);
    {
        let mut writer = SealedWriter::new(&mut sealed, &key, "bench").unwrap();
        writer.write_all(&plain).unwrap();
        writer.finish().unwrap();
    }
    let mut group = c.benchmark_group("privacy-stream");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(LEN as u64));
    let mut out = Vec::with_capacity(sealed.len());
    group.bench_function("write-64m", |b| {
        b.iter(|| {
            out.clear();
            let mut writer = SealedWriter::new(&mut out, &key, "bench").unwrap();
            writer.write_all(&plain).unwrap();
            writer.finish().unwrap();
        })
    });
    let mut back = vec![0u8; LEN];
    group.bench_function("read-64m", |b| {
        b.iter(|| {
            let mut reader = SealedReader::new(sealed.as_slice(), &key, "bench").unwrap();
            reader.read_exact(&mut back).unwrap();
            black_box(reader.read(&mut [0u8; 1]).unwrap())
        })
    });
    group.finish();
    assert_eq!(back, plain);
}

/// Exposures a batch of the outcome thread writes (and syncs) at once.
const BATCH: usize = 1024;
/// Exposures in the log a replay reads.
const REPLAYED: usize = 100_000;

fn write_exposures(log: &OutcomeLog, units: &[String], now_ms: i64) {
    let mut batch = log.batch(now_ms).unwrap();
    for (i, unit) in units.iter().enumerate() {
        let decision = format!("d-{now_ms}-{i}");
        batch.push_exposure(&ExposureRef {
            decision_id: &decision,
            slot: "offers",
            policy: "next-best-offer",
            version: "sha256:3f1c9a0d",
            experiment: Some("offers-2026-11"),
            arm: Some("treatment"),
            items: vec!["sku-1042", "sku-2230"],
            unit,
            channel: "web",
            at_ms: now_ms,
            node: None,
        });
    }
    batch.commit().unwrap();
}

fn outcome_log(c: &mut Criterion) {
    let scratch =
        std::env::temp_dir().join(format!("tailor-bench-outcomes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let units: Vec<String> = (0..BATCH).map(|i| format!("cust-{i:06}")).collect();
    let modes = [
        ("plaintext", None),
        ("encrypted", Some(Arc::new(DataKey::from_bytes([7; 32])))),
    ];
    let mut group = c.benchmark_group("outcome-log");
    group.sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));
    for (mode, key) in &modes {
        let dir = scratch.join(format!("write-{mode}"));
        let log = OutcomeLog::open(&dir, i64::MAX / 2, 0, key.clone(), |_| {}).unwrap();
        group.bench_function(format!("batch-1024-{mode}"), |b| {
            b.iter(|| write_exposures(&log, &units, 1))
        });
    }
    group.throughput(Throughput::Elements(REPLAYED as u64));
    group.sample_size(10);
    for (mode, key) in &modes {
        let dir = scratch.join(format!("replay-{mode}"));
        {
            let log = OutcomeLog::open(&dir, i64::MAX / 2, 0, key.clone(), |_| {}).unwrap();
            for _ in 0..REPLAYED / BATCH {
                write_exposures(&log, &units, 1);
            }
        }
        group.bench_function(format!("replay-100k-{mode}"), |b| {
            b.iter(|| {
                let mut records = 0usize;
                OutcomeLog::open(&dir, i64::MAX / 2, 1, key.clone(), |_| records += 1).unwrap();
                assert_eq!(records, REPLAYED / BATCH * BATCH);
                black_box(records)
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&scratch);
}

criterion_group!(benches, values, stream, outcome_log);
criterion_main!(benches);
