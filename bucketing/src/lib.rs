//! Deterministic experiment bucketing, algorithm version 1.
//!
//! The one place where a unit (customer or anonymous visitor) is mapped to an experiment bucket.
//! The host (canary routing, replay) and the guest SDK (experiments inside policies) both call
//! this crate, so a unit lands in the same bucket wherever it is evaluated.
//!
//! # Specification (v1)
//!
//! 1. Build the key: the UTF-8 bytes of `"{salt}:{unit_id}"` (a single `:` between them).
//! 2. `h = MurmurHash3_x86_32(key, seed = 0)`.
//! 3. `bucket = (h as u64 * 10_000) >> 32`, an integer in `0..10_000` (basis points).
//!
//! A weighted choice over variants `(name, weight)` picks, for `total = Σ weight`, the first
//! variant whose running weight sum exceeds `bucket * total / 10_000` (integer division). Variants
//! with weight 0 are never chosen. The test vectors in `test-vectors.tsv` are normative.
#![no_std]

/// Version of the bucketing algorithm this crate implements.
pub const ALGORITHM_VERSION: u32 = 1;

/// Number of buckets; a bucket is an integer in `0..BUCKETS`.
pub const BUCKETS: u32 = 10_000;

/// The published test vectors (tab-separated: salt, unit id, hash in hex, bucket).
pub const TEST_VECTORS: &str = include_str!("../test-vectors.tsv");

/// MurmurHash3 x86_32 of the concatenation of `parts`, as if they were one byte string.
///
/// Taking the key in parts lets callers hash `salt`, `":"` and `unit_id` without allocating.
pub fn murmur3_x86_32(parts: &[&[u8]], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;

    let mut h = seed;
    let mut tail = [0u8; 4];
    let mut tail_len = 0usize;
    let mut total_len: u32 = 0;

    let mix = |h: u32, k: u32| -> u32 {
        let k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64)
    };

    for part in parts {
        total_len = total_len.wrapping_add(part.len() as u32);
        for &byte in *part {
            tail[tail_len] = byte;
            tail_len += 1;
            if tail_len == 4 {
                h = mix(h, u32::from_le_bytes(tail));
                tail_len = 0;
            }
        }
    }

    if tail_len > 0 {
        let mut k: u32 = 0;
        for (i, &byte) in tail[..tail_len].iter().enumerate() {
            k |= u32::from(byte) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }

    h ^= total_len;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The v1 hash of a unit under a salt: MurmurHash3 x86_32 of `"{salt}:{unit_id}"`, seed 0.
pub fn unit_hash(salt: &str, unit_id: &str) -> u32 {
    murmur3_x86_32(&[salt.as_bytes(), b":", unit_id.as_bytes()], 0)
}

/// The v1 bucket (`0..10_000`) of a unit under a salt.
pub fn bucket(salt: &str, unit_id: &str) -> u32 {
    bucket_of_hash(unit_hash(salt, unit_id))
}

/// Maps a 32-bit hash onto `0..10_000` without modulo bias.
pub fn bucket_of_hash(hash: u32) -> u32 {
    ((u64::from(hash) * u64::from(BUCKETS)) >> 32) as u32
}

/// Index of the variant a bucket falls into, given the variants' weights.
///
/// Returns `None` when every weight is zero (there is nothing to choose).
pub fn choose_weighted(
    bucket: u32,
    weights: impl IntoIterator<Item = u32> + Clone,
) -> Option<usize> {
    let total: u64 = weights.clone().into_iter().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let target = u64::from(bucket.min(BUCKETS - 1)) * total / u64::from(BUCKETS);
    let mut running = 0u64;
    for (index, weight) in weights.into_iter().enumerate() {
        running += u64::from(weight);
        if running > target {
            return Some(index);
        }
    }
    None
}

/// Whether a bucket falls inside the first `percent_bp` basis points (used for rollouts and
/// canaries: a unit in a 5% canary has `bucket < 500`).
pub fn in_rollout(bucket: u32, percent_bp: u32) -> bool {
    bucket < percent_bp.min(BUCKETS)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn published_vectors_hold() {
        let mut checked = 0;
        for line in TEST_VECTORS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let fields: std::vec::Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "malformed vector line {line:?}");
            let hash = u32::from_str_radix(fields[2], 16).unwrap();
            let expected_bucket: u32 = fields[3].parse().unwrap();
            assert_eq!(unit_hash(fields[0], fields[1]), hash, "hash of {line:?}");
            assert_eq!(
                bucket(fields[0], fields[1]),
                expected_bucket,
                "bucket of {line:?}"
            );
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} vectors");
    }

    #[test]
    fn reference_murmur3_values() {
        // Values of the reference C implementation (SMHasher) for whole keys.
        assert_eq!(murmur3_x86_32(&[b""], 0), 0);
        assert_eq!(murmur3_x86_32(&[b""], 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(&[b""], 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[b"hello"], 0), 0x248b_fa47);
        assert_eq!(
            murmur3_x86_32(&[b"The quick brown fox jumps over the lazy dog"], 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn split_keys_hash_like_whole_keys() {
        let whole = murmur3_x86_32(&[b"spring-hero:cust-000123"], 0);
        assert_eq!(
            murmur3_x86_32(&[b"spr", b"ing-hero:cu", b"", b"st-000123"], 0),
            whole
        );
        assert_eq!(unit_hash("spring-hero", "cust-000123"), whole);
    }

    #[test]
    fn weighted_choice_follows_cumulative_weights() {
        assert_eq!(choose_weighted(0, [50, 50]), Some(0));
        assert_eq!(choose_weighted(4_999, [50, 50]), Some(0));
        assert_eq!(choose_weighted(5_000, [50, 50]), Some(1));
        assert_eq!(choose_weighted(9_999, [50, 50]), Some(1));
        assert_eq!(choose_weighted(9_999, [1, 0]), Some(0));
        assert_eq!(choose_weighted(0, [0, 3]), Some(1));
        assert_eq!(choose_weighted(123, [0, 0]), None);
        assert_eq!(choose_weighted(123, []), None);
    }

    #[test]
    fn buckets_spread_evenly() {
        let mut counts = [0u32; 10];
        let mut unit = std::string::String::new();
        for i in 0..20_000u32 {
            use core::fmt::Write;
            unit.clear();
            write!(unit, "cust-{i}").unwrap();
            counts[(bucket("exp", &unit) / 1_000) as usize] += 1;
        }
        for c in counts {
            assert!((1_700..2_300).contains(&c), "uneven deciles {counts:?}");
        }
    }

    #[test]
    fn rollout_is_a_prefix_of_buckets() {
        assert!(in_rollout(0, 1));
        assert!(!in_rollout(1, 1));
        assert!(in_rollout(9_999, 10_000));
        assert!(in_rollout(9_999, 20_000));
        assert!(!in_rollout(0, 0));
    }
}
