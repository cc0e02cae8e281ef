//! The profile store's value encoding beside the general ones it was chosen over: bytes a
//! profile, and the cost of what a decision does with a stored profile (read her loyalty tier
//! and one trait, as hero-banner does) and of reading every field, for 5,000 sample profiles
//! and for the same with 1,000 more traits each.
//!
//! - tailor's store (format 2): `ProfileStore::get` (find the value by its id in the mapped
//!   file, copy it, read its layout), then the fields' accessors; the whole read is `decode`.
//!   Its bytes a profile include the index slot and the length prefix.
//! - postcard (serde, compact varints): the profile decoded whole, then the fields read.
//! - rkyv (zero-copy): the archive validated (`rkyv::access`, which checks every byte, as any
//!   reader of a file that may be damaged must), then the fields read in place; the whole read
//!   is a validated access and a deserialize.
//!
//! postcard and rkyv encode a plain mirror of the profile (serde's derive, rkyv's derive); they
//! read from memory, not from a file. Run: `cargo bench -p tailor-host --bench encodings`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark stops on any surprise and prints its table"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tailor_host::privacy::Pseudonyms;
use tailor_host::profiles::{Profiles, sample};
use tailor_types::{Profile, Value};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROFILES: u64 = 5_000;
const WIDE_TRAITS: usize = 1_000;
const READS: u64 = 200_000;
const ROUNDS: usize = 5;

#[derive(
    serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct Mirror {
    customer_id: String,
    segments: Vec<String>,
    traits: Vec<(String, MirrorValue)>,
    loyalty: Option<(String, i64)>,
    consent: u8,
    recent_events: Vec<MirrorEvent>,
    affinities: Vec<(String, f64)>,
}

#[derive(
    serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
enum MirrorValue {
    Boolean(bool),
    Integer(i64),
    Number(f64),
    Text(String),
    TextList(Vec<String>),
}

#[derive(
    serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
struct MirrorEvent {
    kind: String,
    item_id: Option<String>,
    category: Option<String>,
    value: Option<f64>,
    at_ms: i64,
}

impl From<&Profile> for Mirror {
    fn from(p: &Profile) -> Mirror {
        let c = &p.consent;
        Mirror {
            customer_id: p.customer_id.clone().unwrap_or_default(),
            segments: p.segments.clone(),
            traits: p
                .traits
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Boolean(b) => MirrorValue::Boolean(*b),
                        Value::Integer(n) => MirrorValue::Integer(*n),
                        Value::Number(x) => MirrorValue::Number(*x),
                        Value::Text(t) => MirrorValue::Text(t.clone()),
                        Value::TextList(l) => MirrorValue::TextList(l.clone()),
                    };
                    (k.clone(), v)
                })
                .collect(),
            loyalty: p.loyalty.as_ref().map(|l| (l.tier.clone(), l.points)),
            consent: u8::from(c.personalization)
                | (u8::from(c.marketing) << 1)
                | (u8::from(c.analytics) << 2)
                | (u8::from(c.third_party_sharing) << 3),
            recent_events: p
                .recent_events
                .iter()
                .map(|e| MirrorEvent {
                    kind: e.kind.clone(),
                    item_id: e.item_id.clone(),
                    category: e.category.clone(),
                    value: e.value,
                    at_ms: e.at_ms,
                })
                .collect(),
            affinities: p.affinities.clone(),
        }
    }
}

/// The trait hero-banner-like reads look up (every sample profile has it, before the extras).
const TRAIT: &str = "first_name";

fn profiles(wide: bool) -> Vec<Profile> {
    let extra = if wide { WIDE_TRAITS } else { 0 };
    (0..PROFILES)
        .map(|i| sample::wide_profile(i, extra))
        .collect()
}

/// Nanoseconds an `op` over customers in a fixed shuffled order, median of the rounds.
fn ns_each(mut op: impl FnMut(usize)) -> f64 {
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let mut i = 0u64;
            for _ in 0..READS {
                i = (i + 2_477) % PROFILES;
                op(i as usize);
            }
            started.elapsed().as_nanos() as f64 / READS as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

struct Row {
    encoding: &'static str,
    bytes: f64,
    two_fields: f64,
    whole: f64,
}

fn tailor_store(root: &std::path::Path, wide: bool, profiles: &[Profile]) -> Row {
    let snapshot = root.join(format!("encodings-{wide}.ndjson"));
    sample::write_profiles(
        &snapshot,
        &format!("encodings-{wide}"),
        profiles.iter().cloned(),
    )
    .unwrap();
    let dir = root.join(format!("encodings-{wide}"));
    std::fs::create_dir_all(&dir).unwrap();
    let pseudonyms = Arc::new(Pseudonyms::from_secret(&[1; 32]));
    let loaded = Profiles::load(&dir, &snapshot, 16, pseudonyms, None, None).unwrap();
    let generation = loaded.current();
    let store = &generation.store;
    let ids: Vec<String> = profiles
        .iter()
        .map(|p| p.customer_id.clone().unwrap())
        .collect();
    let two_fields = ns_each(|i| {
        let stored = store.get(&ids[i]).unwrap().unwrap();
        black_box((stored.loyalty(), stored.trait_value(TRAIT)));
    });
    let whole = ns_each(|i| {
        black_box(store.get(&ids[i]).unwrap().unwrap().decode());
    });
    Row {
        encoding: "tailor store, format 2",
        bytes: store.file_bytes as f64 / profiles.len() as f64,
        two_fields,
        whole,
    }
}

fn postcard_values(profiles: &[Profile]) -> Row {
    let values: Vec<Vec<u8>> = profiles
        .iter()
        .map(|p| postcard::to_allocvec(&Mirror::from(p)).unwrap())
        .collect();
    let two_fields = ns_each(|i| {
        let mirror: Mirror = postcard::from_bytes(&values[i]).unwrap();
        let tier = mirror.loyalty.map(|(tier, _)| tier);
        let value = mirror.traits.into_iter().find(|(k, _)| k == TRAIT);
        black_box((tier, value));
    });
    let whole = ns_each(|i| {
        black_box(postcard::from_bytes::<Mirror>(&values[i]).unwrap());
    });
    Row {
        encoding: "postcard 1 (serde), decoded whole",
        bytes: values.iter().map(Vec::len).sum::<usize>() as f64 / profiles.len() as f64,
        two_fields,
        whole,
    }
}

fn rkyv_values(profiles: &[Profile]) -> Row {
    let values: Vec<rkyv::util::AlignedVec> = profiles
        .iter()
        .map(|p| rkyv::to_bytes::<rkyv::rancor::Error>(&Mirror::from(p)).unwrap())
        .collect();
    let two_fields = ns_each(|i| {
        let archived = rkyv::access::<ArchivedMirror, rkyv::rancor::Error>(&values[i]).unwrap();
        let tier = archived.loyalty.as_ref().map(|l| l.0.as_str().to_owned());
        let value = archived
            .traits
            .iter()
            .find(|t| t.0 == TRAIT)
            .map(|t| match &t.1 {
                ArchivedMirrorValue::Boolean(b) => Value::Boolean(*b),
                ArchivedMirrorValue::Integer(n) => Value::Integer(n.to_native()),
                ArchivedMirrorValue::Number(x) => Value::Number(x.to_native()),
                ArchivedMirrorValue::Text(text) => Value::Text(text.as_str().to_owned()),
                ArchivedMirrorValue::TextList(list) => {
                    Value::TextList(list.iter().map(|t| t.as_str().to_owned()).collect())
                }
            });
        black_box((tier, value));
    });
    let whole = ns_each(|i| {
        let archived = rkyv::access::<ArchivedMirror, rkyv::rancor::Error>(&values[i]).unwrap();
        black_box(rkyv::deserialize::<Mirror, rkyv::rancor::Error>(archived).unwrap());
    });
    Row {
        encoding: "rkyv 0.8, validated access",
        bytes: values.iter().map(|v| v.len()).sum::<usize>() as f64 / profiles.len() as f64,
        two_fields,
        whole,
    }
}

fn main() {
    let root = std::env::temp_dir().join(format!("tailor-bench-encodings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    println!(
        "| {PROFILES} profiles | encoding | bytes a profile | tier + one trait | every field |"
    );
    println!("|---|---|---|---|---|");
    for wide in [false, true] {
        let profiles = profiles(wide);
        let shape = if wide {
            format!("the sample's and {WIDE_TRAITS} more traits each")
        } else {
            "the sample's (4–5 traits)".to_owned()
        };
        for row in [
            tailor_store(&root, wide, &profiles),
            postcard_values(&profiles),
            rkyv_values(&profiles),
        ] {
            println!(
                "| {shape} | {} | {:.0} | {:.0} ns | {:.0} ns |",
                row.encoding, row.bytes, row.two_fields, row.whole
            );
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}
