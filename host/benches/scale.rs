//! Profiles at scale: for sample snapshots of 10,000 and 1,000,000 profiles (and 10,000,000
//! with `-- 10m`), the snapshot load time, the store file's size, the resident memory the load
//! leaves, and the cost of a lookup of a customer drawn uniformly from the whole store, through
//! the decoded-profile cache (100,000 profiles, warmed first with three times its size in
//! draws) and straight from the store; then a whole hero-banner decision (lookup, fresh
//! instance, decide) for such a customer, every store in turn in each round, with each store's
//! median ratio to the smallest one. Prints two Markdown tables.
//!
//! Run: `cargo bench -p tailor-host --bench scale` (the 10k and 1M rows; `-- 10k 1m 10m` to
//! choose rows, the 10M one needing about 7 GB of snapshot file in the temp directory while it
//! runs; `plain` to leave out the encrypted stores; `misses` adds decisions for customers read
//! from the store every time, with sample profiles and with 1,000 traits more each).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark stops on any surprise and prints its table"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tailor_host::privacy::{DataKey, Pseudonyms};
use tailor_host::profiles::{Profiles, sample};
use tailor_host::{Engine, EngineConfig, PolicySource};
use tailor_types::{Channel, Context, Profile};

/// The allocator `tailor` itself runs with (host/src/main.rs): decoding and parsing profiles
/// allocate, so the figures are the served binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CACHE: usize = 100_000;
const DRAWS: u64 = 1_000_000;
/// Rounds of decisions over every store.
const ROUNDS: usize = 6;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Knuth's MMIX LCG: every run draws the same customers.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// CPU seconds the process has used, on every thread (ended ones too).
#[expect(unsafe_code, reason = "libc's getrusage has no safe wrapper here")]
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn ns_per(draws: u64, mut op: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..draws {
        op();
    }
    started.elapsed().as_nanos() as f64 / draws as f64
}

fn main() {
    // `10k`, `1m`, `10m` choose the rows (10k and 1m when none is given); `plain` leaves out
    // the encrypted ones.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut counts: Vec<u64> = [("10k", 10_000), ("1m", 1_000_000), ("10m", 10_000_000)]
        .iter()
        .filter(|(name, _)| args.iter().any(|a| a == name))
        .map(|(_, n)| *n)
        .collect();
    if counts.is_empty() {
        counts = vec![10_000, 1_000_000];
    }
    let plain_only = args.iter().any(|a| a == "plain");
    let root = std::env::temp_dir().join(format!("tailor-bench-scale-{}", std::process::id()));
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let hero = tailor_host::bundled::find("hero-banner").unwrap();
    let policy = engine
        .load(PolicySource {
            name: hero.name,
            component: hero.component,
            config: hero.config,
            limits: None,
        })
        .unwrap();
    let context = Context::new(Channel::Web, "home-hero", 1_774_000_000_000);
    println!(
        "| profiles | encrypted | load | load CPU (all threads) | store file | snapshot file | RSS after load | lookup, cache in front | store read |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    // Every store stays loaded for the decisions, measured interleaved at the end.
    let mut loaded = Vec::new();
    for &count in &counts {
        let snapshot = root.join(format!("sample-{count}.ndjson"));
        sample::write(&snapshot, count).unwrap();
        let snapshot_bytes = std::fs::metadata(&snapshot).unwrap().len();
        let keys = if plain_only {
            vec![None]
        } else {
            vec![None, Some(Arc::new(DataKey::from_bytes([7; 32])))]
        };
        for key in keys {
            let encrypted = key.is_some();
            let dir = root.join(format!(
                "{count}-{}",
                if encrypted { "sealed" } else { "plain" }
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let pseudonyms = Arc::new(Pseudonyms::from_secret(&[1; 32]));
            let before = rss_mib();
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let profiles = Profiles::load(&dir, &snapshot, CACHE, pseudonyms, key, None).unwrap();
            let (load, load_cpu) = (started.elapsed(), cpu_seconds() - cpu);
            let generation = profiles.current();
            let store_bytes = generation.store.file_bytes;
            let rss = rss_mib() - before;
            let mut draw = Lcg(count);
            let mut customer = || format!("cust-{:06}", draw.next() % count);
            for _ in 0..3 * CACHE {
                black_box(
                    profiles
                        .lookup(Some(&customer()), Profile::default)
                        .unwrap(),
                );
            }
            let cached = ns_per(DRAWS, || {
                black_box(
                    profiles
                        .lookup(Some(&customer()), Profile::default)
                        .unwrap(),
                );
            });
            let read = ns_per(DRAWS, || {
                black_box(generation.store.get(&customer()).unwrap());
            });
            println!(
                "| {count} | {} | {:.2} s | {load_cpu:.2} s | {:.0} MiB | {:.0} MiB | +{rss:.0} MiB | {cached:.0} ns | {read:.0} ns |",
                if encrypted { "yes" } else { "no" },
                load.as_secs_f64(),
                store_bytes as f64 / (1 << 20) as f64,
                snapshot_bytes as f64 / (1 << 20) as f64,
            );
            drop(generation);
            loaded.push((count, encrypted, profiles, draw));
        }
        std::fs::remove_file(&snapshot).unwrap();
    }
    // A whole hero-banner decision (lookup, fresh instance, decide) for a customer drawn
    // uniformly, every store in turn in each round, so each ratio to the smallest store is
    // taken under the same conditions; the medians are printed.
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); loaded.len()];
    for _ in 0..ROUNDS {
        for ((count, _, profiles, draw), times) in loaded.iter_mut().zip(&mut rounds) {
            let count = *count;
            times.push(ns_per(DRAWS / 20, || {
                let customer = format!("cust-{:06}", draw.next() % count);
                let lookup = profiles.lookup(Some(&customer), Profile::default).unwrap();
                black_box(engine.decide(&policy, &context, &lookup.profile, &[]).ok());
            }));
        }
    }
    println!();
    println!(
        "| profiles | encrypted | lookup + decision (median of {ROUNDS} rounds) | ÷ the smallest store, same encryption (median of per-round ratios) |"
    );
    println!("|---|---|---|---|");
    for (i, (count, encrypted, _, _)) in loaded.iter().enumerate() {
        let smallest = loaded
            .iter()
            .position(|(_, e, _, _)| e == encrypted)
            .unwrap();
        let ratios: Vec<f64> = rounds[i]
            .iter()
            .zip(&rounds[smallest])
            .map(|(t, base)| t / base)
            .collect();
        println!(
            "| {count} | {} | {:.0} ns | {:.2}× |",
            if *encrypted { "yes" } else { "no" },
            median(&rounds[i]),
            median(&ratios),
        );
    }
    drop(loaded);
    if args.iter().any(|a| a == "misses") {
        misses(&root, &engine, &policy, &context);
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Wide profiles: the sample's, with this many more traits each.
const WIDE_TRAITS: usize = 1_000;
const WIDE_PROFILES: u64 = 5_000;

/// A decision for a customer read from the store every time (a cache of 16 in front, draws
/// uniform over the store), for sample profiles and for wide ones that hero-banner reads the
/// same few fields of; rounds interleaved, medians printed.
fn misses(
    root: &std::path::Path,
    engine: &Engine,
    policy: &tailor_host::LoadedPolicy,
    context: &Context,
) {
    let mut stores = Vec::new();
    for wide in [false, true] {
        let snapshot = root.join(format!("misses-{wide}.ndjson"));
        let extra = if wide { WIDE_TRAITS } else { 0 };
        sample::write_profiles(
            &snapshot,
            &format!("misses-{wide}"),
            (0..WIDE_PROFILES).map(|i| sample::wide_profile(i, extra)),
        )
        .unwrap();
        let dir = root.join(format!("misses-{wide}"));
        std::fs::create_dir_all(&dir).unwrap();
        let pseudonyms = Arc::new(Pseudonyms::from_secret(&[1; 32]));
        let profiles = Profiles::load(&dir, &snapshot, 16, pseudonyms, None, None).unwrap();
        std::fs::remove_file(&snapshot).unwrap();
        stores.push((wide, profiles, Lcg(3)));
    }
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); stores.len()];
    for _ in 0..ROUNDS {
        for ((_, profiles, draw), times) in stores.iter_mut().zip(&mut rounds) {
            times.push(ns_per(DRAWS / 100, || {
                let customer = format!("cust-{:06}", draw.next() % WIDE_PROFILES);
                let lookup = profiles.lookup(Some(&customer), Profile::default).unwrap();
                black_box(engine.decide(policy, context, &lookup.profile, &[]).ok());
            }));
        }
    }
    println!();
    println!(
        "| {WIDE_PROFILES} profiles, every one read from the store | lookup + decision (median of {ROUNDS} rounds) | store read |"
    );
    println!("|---|---|---|");
    for ((wide, profiles, draw), times) in stores.iter_mut().zip(&rounds) {
        let generation = profiles.current();
        let read = ns_per(DRAWS / 10, || {
            let customer = format!("cust-{:06}", draw.next() % WIDE_PROFILES);
            black_box(generation.store.get(&customer).unwrap());
        });
        let shape = if *wide {
            format!("the sample's and {WIDE_TRAITS} more traits each")
        } else {
            "the sample's (4–5 traits)".to_owned()
        };
        println!("| {shape} | {:.0} ns | {read:.0} ns |", median(times));
    }
}
