//! Cost of encryption at rest: sealing and opening a store value, hashing a customer id, and
//! the sealed snapshot stream's throughput. Run: `cargo bench -p tailor-host --bench privacy`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on any surprise"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::{Read, Write};
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

criterion_group!(benches, values, stream);
criterion_main!(benches);
