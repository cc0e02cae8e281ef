//! [`Share`]: what one policy version may take of the node's decision threads.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A policy version's share of the decision threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Relative weight: policies competing for the decision threads get CPU time in proportion
    /// to their weights.
    pub weight: u32,
    /// Decisions of the version that may run at once.
    pub max_concurrent: u32,
    /// CPU time its decisions may use per second of wall clock, over all threads; `None` for no
    /// cap beyond the weight.
    pub cpu_per_second: Option<Duration>,
}

impl Share {
    /// Describes the share in the words an operator configured it with.
    pub fn describe(&self) -> String {
        match self.cpu_per_second {
            Some(cpu) => format!(
                "weight {}, {} at once, {} ms of CPU per second",
                self.weight,
                self.max_concurrent,
                cpu.as_millis()
            ),
            None => format!("weight {}, {} at once", self.weight, self.max_concurrent),
        }
    }
}

/// What a publish may set of a policy's share; what it leaves out comes from the node's
/// defaults. Stored with the policy, so it outlives restarts and later publishes that do not
/// name a share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareOverride {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tailor_types::integer::option"
    )]
    pub weight: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tailor_types::integer::option"
    )]
    pub max_concurrent: Option<u32>,
    /// Milliseconds of CPU per second; 0 removes the cap.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tailor_types::integer::option"
    )]
    pub cpu_ms_per_second: Option<u64>,
}

/// A share that cannot be applied, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("share.{field}: {reason}")]
pub struct InvalidShare {
    pub field: &'static str,
    pub reason: String,
}

impl ShareOverride {
    /// Checks the fields against what a node can give (`threads` decision threads).
    pub fn validate(&self, threads: u32) -> Result<(), InvalidShare> {
        if self.weight == Some(0) {
            return Err(InvalidShare {
                field: "weight",
                reason: "must be at least 1".into(),
            });
        }
        if self.weight.is_some_and(|w| w > MAX_WEIGHT) {
            return Err(InvalidShare {
                field: "weight",
                reason: format!("must be at most {MAX_WEIGHT}"),
            });
        }
        if self.max_concurrent == Some(0) {
            return Err(InvalidShare {
                field: "max_concurrent",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(cpu) = self.cpu_ms_per_second {
            let most = u64::from(threads) * 1000;
            if cpu > most {
                return Err(InvalidShare {
                    field: "cpu_ms_per_second",
                    reason: format!(
                        "{cpu} is more than the node's {threads} decision thread(s) have ({most})"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The share it makes on top of the node's defaults.
    pub fn apply(&self, defaults: Share) -> Share {
        Share {
            weight: self.weight.unwrap_or(defaults.weight),
            max_concurrent: self.max_concurrent.unwrap_or(defaults.max_concurrent),
            cpu_per_second: match self.cpu_ms_per_second {
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
                None => defaults.cpu_per_second,
            },
        }
    }

    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == ShareOverride::default()
    }
}

/// Largest weight (weights are relative; this keeps the scheduler's arithmetic exact).
pub const MAX_WEIGHT: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_over_defaults_and_name_bad_fields() {
        let defaults = Share {
            weight: 1,
            max_concurrent: 3,
            cpu_per_second: Some(Duration::from_millis(500)),
        };
        let given = ShareOverride {
            weight: Some(4),
            cpu_ms_per_second: Some(0),
            ..ShareOverride::default()
        };
        assert_eq!(
            given.apply(defaults),
            Share {
                weight: 4,
                max_concurrent: 3,
                cpu_per_second: None
            }
        );
        assert_eq!(ShareOverride::default().apply(defaults), defaults);
        for (bad, field) in [
            (
                ShareOverride {
                    weight: Some(0),
                    ..ShareOverride::default()
                },
                "weight",
            ),
            (
                ShareOverride {
                    max_concurrent: Some(0),
                    ..ShareOverride::default()
                },
                "max_concurrent",
            ),
            (
                ShareOverride {
                    cpu_ms_per_second: Some(2001),
                    ..ShareOverride::default()
                },
                "cpu_ms_per_second",
            ),
        ] {
            let error = bad.validate(2).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().starts_with(&format!("share.{field}")));
        }
    }
}
