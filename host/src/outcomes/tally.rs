//! The outcome counts in memory: per experiment arm, unique units exposed and converting, and
//! value; per item, impressions, conversions and value; and what attribution needs (each unit's
//! arms and latest exposure, its recent impressions, recent decisions by id).
//!
//! Attribution rules:
//! - an event naming a `decision_id` (and optionally its `slot`) is attributed to that decision's
//!   exposures only: to their experiment arm, and to a shown item when the event's `item_id` is
//!   one of the items;
//! - an event without one is attributed to the unit's latest exposure of each experiment, and to
//!   the latest impression of its `item_id`, within the attribution window;
//! - only the event kinds of the experiment's (or the policy's) outcome rule count, from
//!   [`SKEW_MS`] before the exposure to the end of its window;
//! - a unit converts at most once per arm (conversions are unique units) and an impression at
//!   most once (an item's successes never exceed its trials); every counted event adds its value.

use super::definition::Definitions;
use super::record::{Conversion, Exposure, Record};
use crate::profiles::events::CustomerEvent;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::num::NonZeroUsize;

/// An event may be stamped this much before the exposure it follows (channel clocks differ).
pub const SKEW_MS: i64 = 60_000;
/// Recent impressions kept per unit, for attribution without a decision id.
const IMPRESSIONS_PER_UNIT: usize = 64;
/// Recent decisions kept by id, for attribution with one.
const DECISIONS_KEPT: usize = 200_000;

/// Trials, successes and value of an arm or an item.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub trials: u64,
    pub successes: u64,
    pub value: f64,
}

#[derive(Debug, Default)]
struct UnitArms {
    /// (arm index, converted), one per arm the unit was exposed to.
    arms: Vec<(u32, bool)>,
    latest_arm: u32,
    latest_ms: i64,
}

#[derive(Debug, Default)]
struct ExperimentTally {
    arms: Vec<(String, Counts)>,
    units: FxHashMap<String, UnitArms>,
}

impl ExperimentTally {
    fn arm(&mut self, variant: &str) -> u32 {
        match self.arms.iter().position(|(v, _)| v == variant) {
            Some(index) => index as u32,
            None => {
                self.arms.push((variant.to_owned(), Counts::default()));
                (self.arms.len() - 1) as u32
            }
        }
    }
}

/// One impression of an item to a unit.
#[derive(Debug)]
struct Impression {
    policy: String,
    item: String,
    decision_id: String,
    at_ms: i64,
    credited: bool,
}

/// What one decision showed, for events that name it.
#[derive(Debug, Clone)]
struct Shown {
    slot: String,
    policy: String,
    unit: String,
    experiment: Option<(String, String)>,
    items: Vec<String>,
    at_ms: i64,
}

/// Every count, and the state attribution reads.
#[derive(Debug)]
pub struct Tally {
    /// Policy → experiment key → counts (looked up by `&str`, without allocating).
    experiments: FxHashMap<String, FxHashMap<String, ExperimentTally>>,
    items: FxHashMap<String, FxHashMap<String, Counts>>,
    impressions: FxHashMap<String, VecDeque<Impression>>,
    decisions: lru::LruCache<String, Vec<Shown>>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            experiments: FxHashMap::default(),
            items: FxHashMap::default(),
            impressions: FxHashMap::default(),
            decisions: lru::LruCache::new(
                NonZeroUsize::new(DECISIONS_KEPT).unwrap_or(NonZeroUsize::MIN),
            ),
        }
    }
}

fn within(exposed_ms: i64, event_ms: i64, window_ms: i64) -> bool {
    event_ms >= exposed_ms - SKEW_MS && event_ms <= exposed_ms.saturating_add(window_ms)
}

/// The entry of `key` in `map`, inserted (with its key allocated) only when missing.
fn entry<'m, V: Default>(map: &'m mut FxHashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

impl Tally {
    /// Counts a record (a new one, or one replayed from the log).
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Exposure(exposure) => self.expose(exposure.clone()),
            Record::Conversion(conversion) => self.convert(conversion),
        }
    }

    /// Counts a record it may keep parts of (no copies of what it keeps).
    pub fn apply_owned(&mut self, record: Record) {
        match record {
            Record::Exposure(exposure) => self.expose(exposure),
            Record::Conversion(conversion) => self.convert(&conversion),
        }
    }

    fn experiment_mut(&mut self, policy: &str, key: &str) -> &mut ExperimentTally {
        entry(entry(&mut self.experiments, policy), key)
    }

    fn experiment(&self, policy: &str, key: &str) -> Option<&ExperimentTally> {
        self.experiments.get(policy)?.get(key)
    }

    fn expose(&mut self, exposure: Exposure) {
        let mut experiment = None;
        if let (Some(key), Some(variant)) = (exposure.experiment, exposure.arm) {
            let tally = self.experiment_mut(&exposure.policy, &key);
            let arm = tally.arm(&variant);
            let unit = entry(&mut tally.units, &exposure.unit);
            if !unit.arms.iter().any(|(a, _)| *a == arm) {
                unit.arms.push((arm, false));
                tally.arms[arm as usize].1.trials += 1;
            }
            if exposure.at_ms >= unit.latest_ms || unit.arms.len() == 1 {
                unit.latest_arm = arm;
                unit.latest_ms = exposure.at_ms;
            }
            experiment = Some((key, variant));
        }
        if !exposure.items.is_empty() {
            let items = entry(&mut self.items, &exposure.policy);
            let recent = entry(&mut self.impressions, &exposure.unit);
            for item in &exposure.items {
                entry(items, item).trials += 1;
                if recent.len() == IMPRESSIONS_PER_UNIT {
                    recent.pop_front();
                }
                recent.push_back(Impression {
                    policy: exposure.policy.clone(),
                    item: item.clone(),
                    decision_id: exposure.decision_id.clone(),
                    at_ms: exposure.at_ms,
                    credited: false,
                });
            }
        }
        let shown = Shown {
            slot: exposure.slot,
            policy: exposure.policy,
            unit: exposure.unit,
            experiment,
            items: exposure.items,
            at_ms: exposure.at_ms,
        };
        match self.decisions.get_mut(&exposure.decision_id) {
            Some(list) => list.push(shown),
            None => {
                self.decisions.put(exposure.decision_id, vec![shown]);
            }
        }
    }

    fn convert(&mut self, conversion: &Conversion) {
        if let (Some(key), Some(variant)) = (&conversion.experiment, &conversion.arm) {
            let tally = self.experiment_mut(&conversion.policy, key);
            let arm = tally.arm(variant);
            let unit = entry(&mut tally.units, &conversion.unit);
            let counts = &mut tally.arms[arm as usize].1;
            counts.value += conversion.value;
            match unit.arms.iter_mut().find(|(a, _)| *a == arm) {
                Some((_, converted)) if !*converted => {
                    *converted = true;
                    counts.successes += 1;
                }
                Some(_) => {}
                // Its exposure is past the retention: counted, as it was when it was attributed.
                None => {
                    unit.arms.push((arm, true));
                    counts.successes += 1;
                }
            }
        }
        if let Some(item) = &conversion.item {
            let counts = self
                .items
                .entry(conversion.policy.clone())
                .or_default()
                .entry(item.clone())
                .or_default();
            counts.successes += 1;
            counts.value += conversion.value;
            if let Some(recent) = self.impressions.get_mut(&conversion.unit) {
                let impression = recent.iter_mut().rev().find(|i| {
                    !i.credited
                        && &i.item == item
                        && i.policy == conversion.policy
                        && conversion
                            .decision_id
                            .as_ref()
                            .is_none_or(|d| *d == i.decision_id)
                });
                if let Some(impression) = impression {
                    impression.credited = true;
                }
            }
        }
    }

    /// The conversions a new event earns, under the rules of the module doc. `definitions`
    /// gives a policy's outcome definitions. Nothing is counted yet: [`Tally::apply`] does.
    pub fn attribute(
        &mut self,
        event: &CustomerEvent,
        definitions: &mut dyn FnMut(&str) -> std::sync::Arc<Definitions>,
    ) -> Vec<Conversion> {
        let conversion = |policy: &str, unit: &str, decision_id: Option<&str>| Conversion {
            event_id: event.event_id.clone(),
            kind: event.kind.clone(),
            policy: policy.to_owned(),
            unit: unit.to_owned(),
            experiment: None,
            arm: None,
            item: None,
            decision_id: decision_id.map(str::to_owned),
            value: event.value.filter(|v| v.is_finite()).unwrap_or(0.0),
            at_ms: event.at_ms,
            node: None,
        };
        let mut earned = Vec::new();
        if let Some(decision_id) = &event.decision_id {
            let shown: Vec<Shown> = self
                .decisions
                .get(decision_id)
                .map(|list| {
                    list.iter()
                        .filter(|s| event.slot.as_ref().is_none_or(|slot| *slot == s.slot))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for shown in shown {
                let defs = definitions(&shown.policy);
                if let Some((key, arm)) = &shown.experiment {
                    let rule = defs.experiment(key).map_or(&defs.items, |e| &e.outcomes);
                    if rule.counts(&event.kind) && within(shown.at_ms, event.at_ms, rule.window_ms)
                    {
                        let mut c = conversion(&shown.policy, &shown.unit, Some(decision_id));
                        c.experiment = Some(key.clone());
                        c.arm = Some(arm.clone());
                        earned.push(c);
                    }
                }
                if let Some(item) = &event.item_id
                    && shown.items.contains(item)
                    && defs.items.counts(&event.kind)
                    && within(shown.at_ms, event.at_ms, defs.items.window_ms)
                    && self.impressions.get(&shown.unit).is_some_and(|recent| {
                        recent.iter().any(|i| {
                            !i.credited
                                && &i.item == item
                                && i.policy == shown.policy
                                && i.decision_id == *decision_id
                        })
                    })
                {
                    let mut c = conversion(&shown.policy, &shown.unit, Some(decision_id));
                    c.item = Some(item.clone());
                    earned.push(c);
                }
            }
            return earned;
        }
        let unit = event.customer_id.as_str();
        let experiments = self
            .experiments
            .iter()
            .flat_map(|(policy, keys)| keys.iter().map(move |(key, t)| (policy, key, t)));
        for (policy, key, tally) in experiments {
            let Some(state) = tally.units.get(unit) else {
                continue;
            };
            let defs = definitions(policy);
            let rule = defs.experiment(key).map_or(&defs.items, |e| &e.outcomes);
            if rule.counts(&event.kind) && within(state.latest_ms, event.at_ms, rule.window_ms) {
                let mut c = conversion(policy, unit, None);
                c.experiment = Some(key.clone());
                c.arm = Some(tally.arms[state.latest_arm as usize].0.clone());
                earned.push(c);
            }
        }
        if let (Some(item), Some(recent)) = (&event.item_id, self.impressions.get(unit)) {
            let mut credited: Vec<&str> = Vec::new();
            for impression in recent.iter().rev() {
                if impression.credited
                    || &impression.item != item
                    || credited.contains(&impression.policy.as_str())
                {
                    continue;
                }
                let defs = definitions(&impression.policy);
                if defs.items.counts(&event.kind)
                    && within(impression.at_ms, event.at_ms, defs.items.window_ms)
                {
                    credited.push(&impression.policy);
                    let mut c = conversion(&impression.policy, unit, None);
                    c.item = Some(item.clone());
                    c.decision_id = Some(impression.decision_id.clone());
                    earned.push(c);
                }
            }
        }
        earned
    }

    /// An experiment's arms (in the order first seen) and their counts.
    pub fn arms(&self, policy: &str, key: &str) -> Vec<(String, Counts)> {
        self.experiment(policy, key)
            .map(|t| t.arms.clone())
            .unwrap_or_default()
    }

    /// The arm a unit was last exposed to in an experiment, and when.
    pub fn last_exposure(&self, policy: &str, key: &str, unit: &str) -> Option<(String, i64)> {
        let tally = self.experiment(policy, key)?;
        let state = tally.units.get(unit)?;
        Some((
            tally.arms[state.latest_arm as usize].0.clone(),
            state.latest_ms,
        ))
    }

    /// Counts of items as a policy showed them; an item never shown has zeros.
    pub fn items(&self, policy: &str, items: &[String]) -> Vec<Counts> {
        let counts = self.items.get(policy);
        items
            .iter()
            .map(|item| {
                counts
                    .and_then(|c| c.get(item))
                    .copied()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Every experiment seen: (policy, key).
    pub fn experiments(&self) -> Vec<(String, String)> {
        let mut keys: Vec<_> = self
            .experiments
            .iter()
            .flat_map(|(policy, keys)| keys.keys().map(|key| (policy.clone(), key.clone())))
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
#[path = "tally/tests.rs"]
mod tests;
