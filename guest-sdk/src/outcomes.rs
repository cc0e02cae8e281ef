//! What happened after this policy's earlier decisions: the outcome counts the host keeps for
//! the arms of its experiments and the items it ranked (contract 0.2.0's `outcomes`).
//!
//! Counts are the node's, for this policy by name over all its versions, and include every
//! decision and event up to a few milliseconds ago. Natively (tests) they come from an
//! [`OutcomeData`] given to [`crate::testing::request_with_outcomes`]; otherwise they are zeros.

use crate::bandit::{LastExposure, Stats};

/// The outcome counts a decision may read; [`crate::Request::outcomes`].
#[derive(Debug, Default)]
pub struct Outcomes {
    #[cfg(not(target_arch = "wasm32"))]
    data: OutcomeData,
}

/// Outcome counts as data, for native tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeData {
    /// Per experiment key, its arms' counts.
    pub experiments: Vec<(String, Vec<Stats>)>,
    /// Per experiment key, the arm the unit was last exposed to.
    pub last_exposures: Vec<(String, LastExposure)>,
    /// Counts of items (an item not listed has zeros).
    pub items: Vec<Stats>,
}

impl Outcomes {
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn local(data: OutcomeData) -> Outcomes {
        Outcomes { data }
    }

    /// The arms of experiment `key` that units were exposed to, in the order first seen.
    pub fn experiment(&self, key: &str) -> Vec<Stats> {
        #[cfg(target_arch = "wasm32")]
        {
            crate::__private::tailor::policy::outcomes::experiment_stats(key)
                .into_iter()
                .map(stats_from)
                .collect()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.data
                .experiments
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, arms)| arms.clone())
                .unwrap_or_default()
        }
    }

    /// The arm of experiment `key` this decision's unit was last exposed to, and when.
    pub fn last_exposure(&self, key: &str) -> Option<LastExposure> {
        #[cfg(target_arch = "wasm32")]
        {
            crate::__private::tailor::policy::outcomes::last_exposure(key).map(|e| LastExposure {
                variant: e.variant,
                at_ms: e.at_ms,
            })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.data
                .last_exposures
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, last)| last.clone())
        }
    }

    /// The counts of these items as this policy showed them, one per id, in order.
    pub fn items(&self, ids: &[String]) -> Vec<Stats> {
        #[cfg(target_arch = "wasm32")]
        {
            crate::__private::tailor::policy::outcomes::item_stats(ids)
                .into_iter()
                .map(stats_from)
                .collect()
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            ids.iter()
                .map(|id| {
                    self.data
                        .items
                        .iter()
                        .find(|s| &s.id == id)
                        .cloned()
                        .unwrap_or_else(|| Stats {
                            id: id.clone(),
                            ..Stats::default()
                        })
                })
                .collect()
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn stats_from(s: crate::__private::tailor::policy::outcomes::OutcomeStats) -> Stats {
    Stats {
        id: s.id,
        trials: s.trials,
        successes: s.successes,
        value: s.value,
    }
}
