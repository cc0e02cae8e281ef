//! Deterministic experiment assignment (tailor bucketing algorithm v1).
//!
//! A unit (customer or anonymous visitor) always lands in the same arm of an experiment, in every
//! channel and on every node, because the bucket is a pure function of the experiment's salt and
//! the unit id. See `tailor-bucketing` for the specification and test vectors.

use crate::Experiment;

pub use tailor_bucketing::{ALGORITHM_VERSION, BUCKETS, bucket};

/// One arm of an experiment and its weight (any unit: percent, basis points, ratios).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Arm {
    pub variant: String,
    pub weight: u32,
}

impl Arm {
    pub fn new(variant: impl Into<String>, weight: u32) -> Self {
        Arm {
            variant: variant.into(),
            weight,
        }
    }
}

/// The arms of an experiment from a config object of variant → weight (`{"a": 50, "b": 50}`)
/// at `at`, in document order; a weight that is missing, negative or not a number counts as 0.
pub fn arms_at(config: &crate::Config, at: &str) -> Vec<Arm> {
    config
        .keys(at)
        .into_iter()
        .map(|variant| {
            let weight = config
                .number(&format!("{at}{}", crate::pointer(&[&variant])))
                .unwrap_or(0.0);
            Arm::new(variant, weight.max(0.0) as u32)
        })
        .collect()
}

/// Assigns a unit to an arm of experiment `key`, using `key` as the salt.
///
/// Returns `None` when no arm has weight.
pub fn assign(key: &str, unit_id: &str, arms: &[Arm]) -> Option<Experiment> {
    assign_salted(key, key, unit_id, arms)
}

/// Like [`assign`] with an explicit salt, so an experiment can be re-randomised under the same key.
pub fn assign_salted(key: &str, salt: &str, unit_id: &str, arms: &[Arm]) -> Option<Experiment> {
    let bucket = bucket(salt, unit_id);
    let index = tailor_bucketing::choose_weighted(bucket, arms.iter().map(|a| a.weight))?;
    Some(Experiment {
        key: key.to_owned(),
        variant: arms[index].variant.clone(),
        bucket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_come_from_a_config_object_in_document_order() {
        let config = crate::Config::from_json(
            serde_json::json!({"e": {"arms": {"b/x": 30, "a": -2, "c": "many"}}}),
        );
        assert_eq!(
            arms_at(&config, "/e/arms"),
            [Arm::new("b/x", 30), Arm::new("a", 0), Arm::new("c", 0)]
        );
        assert!(arms_at(&config, "/missing").is_empty());
    }

    #[test]
    fn the_sdk_passes_the_published_vectors() {
        for line in tailor_bucketing::TEST_VECTORS
            .lines()
            .filter(|l| !l.starts_with('#'))
        {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(bucket(f[0], f[1]).to_string(), f[3], "vector {line:?}");
        }
    }

    #[test]
    fn assignment_is_stable_and_weighted() {
        let arms = [Arm::new("control", 50), Arm::new("treatment", 50)];
        let first = assign("hero-ab", "cust-1", &arms);
        assert_eq!(first, assign("hero-ab", "cust-1", &arms));
        let treated = (0..10_000)
            .filter(|i| {
                assign("hero-ab", &format!("cust-{i}"), &arms)
                    .unwrap()
                    .variant
                    == "treatment"
            })
            .count();
        assert!(
            (4_700..5_300).contains(&treated),
            "{treated} of 10000 treated"
        );
        let all_control = [Arm::new("control", 1), Arm::new("treatment", 0)];
        assert!(
            (0..1_000).all(|i| {
                assign("x", &i.to_string(), &all_control).unwrap().variant == "control"
            })
        );
        assert_eq!(assign("x", "u", &[]), None);
    }

    #[test]
    fn salt_changes_assignment_but_not_the_key() {
        let arms = [Arm::new("a", 1), Arm::new("b", 1)];
        let differing = (0..200)
            .filter(|i| {
                let unit = format!("u{i}");
                assign("k", &unit, &arms).unwrap().bucket
                    != assign_salted("k", "k-v2", &unit, &arms).unwrap().bucket
            })
            .count();
        assert!(differing > 190);
        assert_eq!(assign_salted("k", "k-v2", "u", &arms).unwrap().key, "k");
    }
}
