//! A deterministic sample snapshot of realistic retail profiles, for `tailor serve` defaults,
//! demos, tests and benchmarks. The same count always gives the same file.

use super::snapshot::SnapshotHeader;
use std::io::Write;
use std::path::Path;
use tailor_types::{Consent, Event, Loyalty, Profile, Value};

const FIRST_NAMES: &[&str] = &[
    "Ana", "Sam", "Priya", "Lukas", "Mei", "Omar", "Chloe", "Tom", "Ines", "Kwame", "Sofia", "Ravi",
];
const CITIES: &[&str] = &[
    "London",
    "Manchester",
    "Leeds",
    "Bristol",
    "Glasgow",
    "Cardiff",
];
const SEGMENTS: &[&str] = &[
    "new_customer",
    "cart_abandoner",
    "lapsed_customer",
    "high_value",
    "newsletter",
    "student",
    "sale_hunter",
];
const CATEGORIES: &[&str] = &[
    "shoes",
    "outerwear",
    "bags",
    "accessories",
    "knitwear",
    "denim",
    "beauty",
];
const TIERS: &[&str] = &["bronze", "silver", "gold", "platinum"];
const STORES: &[&str] = &["store-0042", "store-0107", "store-0213"];

/// The generation time of sample snapshots (fixed, so the file is reproducible).
pub const SAMPLE_GENERATED_AT_MS: i64 = 1_774_000_000_000;

/// A small, fast, deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The `index`-th sample profile (customer id `cust-{index:06}`).
pub fn profile(index: u64) -> Profile {
    let mut rng = Rng(index.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x7461_696c_6f72);
    let segments = SEGMENTS
        .iter()
        .filter(|_| rng.chance(18))
        .map(|s| (*s).to_owned())
        .collect();
    let mut traits = vec![
        (
            "first_name".to_owned(),
            Value::Text(rng.pick(FIRST_NAMES).to_owned()),
        ),
        ("city".to_owned(), Value::Text(rng.pick(CITIES).to_owned())),
        (
            "lifetime_value".to_owned(),
            Value::Number((rng.below(500_000) as f64) / 100.0),
        ),
        ("orders".to_owned(), Value::Integer(rng.below(60) as i64)),
    ];
    if rng.chance(30) {
        traits.push((
            "preferred_store".to_owned(),
            Value::Text(rng.pick(STORES).to_owned()),
        ));
    }
    let loyalty = rng.chance(55).then(|| Loyalty {
        tier: TIERS[[0, 0, 0, 1, 1, 2, 2, 3][rng.below(8)]].to_owned(),
        points: rng.below(40_000) as i64,
    });
    let consent = Consent {
        personalization: rng.chance(85),
        marketing: rng.chance(60),
        analytics: rng.chance(75),
        third_party_sharing: rng.chance(20),
    };
    let events = rng.below(9);
    let mut at = SAMPLE_GENERATED_AT_MS;
    let recent_events = (0..events)
        .map(|_| {
            at -= (rng.below(48) as i64 + 1) * 3_600_000;
            let category = rng.pick(CATEGORIES).to_owned();
            let kind = [
                "page_view",
                "product_view",
                "product_view",
                "add_to_cart",
                "purchase",
                "store_visit",
            ][rng.below(6)];
            let (item_id, value) = match kind {
                "store_visit" => (Some(rng.pick(STORES).to_owned()), None),
                "purchase" | "add_to_cart" => (
                    Some(format!("sku-{}", rng.below(5_000))),
                    Some((rng.below(30_000) as f64) / 100.0),
                ),
                _ => (Some(format!("sku-{}", rng.below(5_000))), None),
            };
            Event {
                kind: kind.to_owned(),
                item_id,
                category: Some(category),
                value,
                at_ms: at,
            }
        })
        .collect();
    let mut affinities = Vec::new();
    for category in CATEGORIES {
        if rng.chance(35) {
            affinities.push(((*category).to_owned(), (rng.below(100) as f64) / 100.0));
        }
    }
    Profile {
        customer_id: Some(format!("cust-{index:06}")),
        segments,
        traits,
        loyalty,
        consent,
        recent_events,
        affinities,
    }
}

/// Writes a sample snapshot of `count` profiles to `path`.
pub fn write(path: &Path, count: u64) -> std::io::Result<()> {
    write_profiles(path, &sample_version(count), (0..count).map(profile))
}

/// A sample snapshot's version.
fn sample_version(count: u64) -> String {
    format!("sample-{count}")
}

/// Writes a sample snapshot of `count` profiles to `out` (for example a sealed file).
pub fn write_to(out: &mut dyn Write, count: u64) -> std::io::Result<()> {
    write_profiles_to(out, &sample_version(count), (0..count).map(profile))
}

/// Sample profile `index` with `extra` more integer traits (`t0000` …) after its own: a
/// customer whose profile is wide, for measuring what a policy reading a few fields pays.
pub fn wide_profile(index: u64, extra: usize) -> Profile {
    let mut wide = profile(index);
    wide.traits.extend((0..extra).map(|t| {
        (
            format!("t{t:04}"),
            Value::Integer((index * 7 + t as u64) as i64),
        )
    }));
    wide
}

/// Writes a snapshot file of `profiles`, version `version`.
pub fn write_profiles(
    path: &Path,
    version: &str,
    profiles: impl IntoIterator<Item = Profile>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_profiles_to(&mut out, version, profiles)?;
    out.flush()
}

fn write_profiles_to(
    out: &mut dyn Write,
    version: &str,
    profiles: impl IntoIterator<Item = Profile>,
) -> std::io::Result<()> {
    let header = SnapshotHeader {
        snapshot_version: version.to_owned(),
        generated_at_ms: SAMPLE_GENERATED_AT_MS,
        base_version: None,
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for profile in profiles {
        serde_json::to_writer(&mut *out, &profile)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        assert_eq!(profile(7), profile(7));
        assert_ne!(profile(7), profile(8));
        let members = (0..1000).filter(|i| profile(*i).loyalty.is_some()).count();
        assert!((400..700).contains(&members), "{members} members of 1000");
    }
}
