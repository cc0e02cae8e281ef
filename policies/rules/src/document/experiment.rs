//! An experiment rule: weighted arms, each with its creative, and an optional holdout that is
//! served the default creative so results can compare it with the treatment.
//!
//! Arms are assigned with the SDK's bucketing on the experiment key; the holdout is decided
//! first, on a bucket salted with `{key}:holdout`, so that it is independent of the arms.

use super::Creative;
use crate::problem::{Problems, field, index};
use serde_json::Value;
use tailor_guest::experiment::{BUCKETS, bucket};
use tailor_guest::{Arm, assign};

/// The variant an experiment reports for a unit in its holdout.
pub(crate) const HOLDOUT: &str = "holdout";

#[derive(Debug)]
pub(crate) struct Experiment {
    pub(crate) key: String,
    arms: Vec<Arm>,
    /// Each arm's creative, in the order of `arms`.
    creatives: Vec<Creative>,
    /// Units whose holdout bucket is below this are held out.
    holdout_buckets: u32,
}

/// Where a unit lands.
#[derive(Debug, PartialEq)]
pub(crate) enum Assignment<'e> {
    /// In the holdout: serve the default creative.
    Holdout(tailor_guest::Experiment),
    Arm(&'e Creative, tailor_guest::Experiment),
}

impl Experiment {
    /// `{"key": …, "arms": [{"variant", "weight", "render"}], "holdout": 0.1}` at `path`.
    pub(crate) fn parse(value: &Value, path: &str, problems: &mut Problems) -> Option<Experiment> {
        let object = problems.object(value, path)?;
        problems.deny_unknown(object, path, &["key", "arms", "holdout"]);
        let key = problems
            .required(object, path, "key")
            .and_then(|key| problems.name(key, &field(path, "key")));
        let holdout = match object.get("holdout") {
            None => Some(0.0),
            Some(share) => share
                .as_f64()
                .filter(|s| (0.0..1.0).contains(s))
                .or_else(|| {
                    problems.add(&field(path, "holdout"), "holdout must be in [0, 1)");
                    None
                }),
        };
        let arms_path = field(path, "arms");
        let arms = match problems.required(object, path, "arms").map(Value::as_array) {
            Some(Some(arms)) if !arms.is_empty() => parse_arms(arms, &arms_path, problems),
            Some(_) => {
                problems.add(&arms_path, "must be a non-empty list of arms");
                None
            }
            None => None,
        };
        let (arms, creatives) = arms?;
        Some(Experiment {
            key: key?,
            arms,
            creatives,
            holdout_buckets: (holdout? * f64::from(BUCKETS)).round() as u32,
        })
    }

    /// The unit's place in the experiment.
    pub(crate) fn assign(&self, unit: &str) -> Option<Assignment<'_>> {
        if self.holdout_buckets > 0 {
            let held = bucket(&format!("{}:{HOLDOUT}", self.key), unit);
            if held < self.holdout_buckets {
                return Some(Assignment::Holdout(tailor_guest::Experiment {
                    key: self.key.clone(),
                    variant: HOLDOUT.to_owned(),
                    bucket: held,
                }));
            }
        }
        let assigned = assign(&self.key, unit, &self.arms)?;
        let creative = self
            .creatives
            .iter()
            .find(|c| c.variant == assigned.variant)?;
        Some(Assignment::Arm(creative, assigned))
    }
}

fn parse_arms(
    arms: &[Value],
    path: &str,
    problems: &mut Problems,
) -> Option<(Vec<Arm>, Vec<Creative>)> {
    let before = problems.len();
    let (mut weights, mut creatives) = (Vec::new(), Vec::new());
    for (i, arm) in arms.iter().enumerate() {
        let at = index(path, i);
        let Some(object) = problems.object(arm, &at) else {
            continue;
        };
        problems.deny_unknown(object, &at, &["variant", "weight", "render"]);
        let weight = problems.required(object, &at, "weight").and_then(|w| {
            let weight = w.as_u64().and_then(|w| u32::try_from(w).ok());
            if weight.is_none() {
                problems.add(
                    &field(&at, "weight"),
                    "weight must be a non-negative integer",
                );
            }
            weight
        });
        let Some(creative) = Creative::fields(object, &at, problems) else {
            continue;
        };
        if creative.variant == HOLDOUT {
            problems.add(
                &field(&at, "variant"),
                "variant \"holdout\" is reserved for the holdout",
            );
        } else if creatives
            .iter()
            .any(|c: &Creative| c.variant == creative.variant)
        {
            problems.add(
                &field(&at, "variant"),
                format!("duplicate arm variant {:?}", creative.variant),
            );
        }
        weights.push(Arm::new(
            creative.variant.clone(),
            weight.unwrap_or_default(),
        ));
        creatives.push(creative);
    }
    if problems.len() == before && weights.iter().all(|arm| arm.weight == 0) {
        problems.add(path, "arm weights are all 0");
    }
    (problems.len() == before).then_some((weights, creatives))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn experiment(holdout: f64) -> Experiment {
        let mut problems = Problems::default();
        let arms = json!({"key": "spring-hero", "holdout": holdout, "arms": [
            {"variant": "a", "weight": 50, "render": {"headline": "A"}},
            {"variant": "b", "weight": 50, "render": {"headline": "B"}},
        ]});
        let parsed = Experiment::parse(&arms, "e", &mut problems);
        assert!(problems.is_empty(), "{:?}", problems.into_vec());
        parsed.unwrap()
    }

    #[test]
    fn a_tenth_is_held_out_and_the_rest_split_evenly() {
        let e = experiment(0.1);
        let (mut held, mut a, mut b) = (0, 0, 0);
        for i in 0..10_000 {
            match e.assign(&format!("cust-{i}")).unwrap() {
                Assignment::Holdout(x) => {
                    assert_eq!(
                        (x.key.as_str(), x.variant.as_str()),
                        ("spring-hero", "holdout")
                    );
                    held += 1;
                }
                Assignment::Arm(creative, x) => {
                    assert_eq!(creative.variant, x.variant);
                    if x.variant == "a" { a += 1 } else { b += 1 }
                }
            }
        }
        assert!((900..1_100).contains(&held), "{held} of 10000 held out");
        assert!(
            (4_250..4_750).contains(&a) && (4_250..4_750).contains(&b),
            "{a} / {b}"
        );
    }

    #[test]
    fn the_holdout_does_not_change_the_arm_of_those_not_held_out() {
        let (with, without) = (experiment(0.2), experiment(0.0));
        for i in 0..1_000 {
            let unit = format!("u{i}");
            if let Some(Assignment::Arm(_, x)) = with.assign(&unit) {
                assert!(matches!(without.assign(&unit), Some(Assignment::Arm(_, y)) if y == x));
            }
        }
        assert!(
            (0..1_000)
                .all(|i| matches!(without.assign(&format!("u{i}")), Some(Assignment::Arm(..))))
        );
    }
}
