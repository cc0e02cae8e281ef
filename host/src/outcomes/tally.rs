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
//!
//! Everything is counted on the outcome thread, at the rate decisions are made, so the state is
//! kept lean: policy names, experiment keys, arms, slots and items are interned to numbers, and
//! recent decisions sit in a fixed, direct-mapped table (a decision id's hash picks its entry; a
//! newer decision that lands on the same entry replaces it, as an LRU would have evicted it).

use super::definition::Definitions;
use super::record::{Conversion, ExposureRef, Record};
use crate::profiles::events::CustomerEvent;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;

/// An event may be stamped this much before the exposure it follows (channel clocks differ).
pub const SKEW_MS: i64 = 60_000;
/// Recent impressions kept per unit, for attribution without a decision id.
const IMPRESSIONS_PER_UNIT: usize = 64;
/// Entries of the table of recent decisions, for attribution with a decision id.
const DECISION_ENTRIES: usize = 1 << 18;

/// Trials, successes and value of an arm or an item.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub trials: u64,
    pub successes: u64,
    pub value: f64,
}

/// A string the counts refer to by number.
type Name = u32;

/// Names interned to numbers, and back.
#[derive(Debug, Default)]
struct Names {
    ids: FxHashMap<Arc<str>, Name>,
    names: Vec<Arc<str>>,
    /// The last few names asked for: consecutive exposures mostly repeat their policy,
    /// experiment, arm and slot, and comparing is cheaper than hashing.
    recent: [Name; 8],
    next_recent: usize,
}

impl Names {
    fn id(&mut self, name: &str) -> Name {
        for &id in &self.recent {
            if self.names.get(id as usize).is_some_and(|n| **n == *name) {
                return id;
            }
        }
        let id = self.lookup(name);
        self.recent[self.next_recent] = id;
        self.next_recent = (self.next_recent + 1) % self.recent.len();
        id
    }

    fn lookup(&mut self, name: &str) -> Name {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as Name;
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    fn find(&self, name: &str) -> Option<Name> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: Name) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

#[derive(Debug, Default)]
struct UnitArms {
    /// (arm, converted), one per arm the unit was exposed to.
    arms: Vec<(Name, bool)>,
    latest_arm: Name,
    latest_ms: i64,
}

/// A unit, by its id's 64-bit hash: no copy of the id is kept per experiment, and a lookup
/// neither allocates nor compares strings. Two units whose hashes collide would count as one:
/// about one chance in a million among ten million units.
type UnitKey = u64;

fn unit_key(unit: &str) -> UnitKey {
    rustc_hash::FxBuildHasher.hash_one(unit)
}

#[derive(Debug, Default)]
struct ExperimentTally {
    /// Arms in the order first seen.
    arms: Vec<(Name, Counts)>,
    units: FxHashMap<UnitKey, UnitArms>,
}

impl ExperimentTally {
    fn arm(&mut self, arm: Name) -> &mut Counts {
        let index = match self.arms.iter().position(|(a, _)| *a == arm) {
            Some(index) => index,
            None => {
                self.arms.push((arm, Counts::default()));
                self.arms.len() - 1
            }
        };
        &mut self.arms[index].1
    }
}

/// One impression of an item to a unit.
#[derive(Debug)]
struct Impression {
    policy: Name,
    item: Name,
    /// The decision's entry check (its id's hash), to tell which decision showed it.
    decision: u64,
    at_ms: i64,
    credited: bool,
}

/// What one slot of a decision showed, for events that name the decision.
#[derive(Debug, Clone)]
struct Shown {
    slot: Name,
    policy: Name,
    unit: Box<str>,
    experiment: Option<(Name, Name)>,
    items: Box<[Name]>,
    at_ms: i64,
}

#[derive(Debug)]
struct DecisionEntry {
    id: Box<str>,
    shown: Vec<Shown>,
}

/// Every count, and the state attribution reads.
#[derive(Debug)]
pub struct Tally {
    names: Names,
    experiments: FxHashMap<(Name, Name), ExperimentTally>,
    items: FxHashMap<(Name, Name), Counts>,
    /// Only in a tally that attributes (this node's own).
    impressions: FxHashMap<UnitKey, VecDeque<Impression>>,
    decisions: Vec<Option<DecisionEntry>>,
}

impl Default for Tally {
    /// A tally that attributes events (this node's own).
    fn default() -> Self {
        let mut tally = Tally::counting_only();
        tally.decisions = (0..DECISION_ENTRIES).map(|_| None).collect();
        tally
    }
}

fn within(exposed_ms: i64, event_ms: i64, window_ms: i64) -> bool {
    event_ms >= exposed_ms - SKEW_MS && event_ms <= exposed_ms.saturating_add(window_ms)
}

impl Tally {
    /// A tally that only counts (the fleet's, another node's): it keeps no impressions or
    /// decisions, since events are attributed only where the exposure was recorded.
    pub fn counting_only() -> Tally {
        Tally {
            names: Names::default(),
            experiments: FxHashMap::default(),
            items: FxHashMap::default(),
            impressions: FxHashMap::default(),
            decisions: Vec::new(),
        }
    }

    fn attributes(&self) -> bool {
        !self.decisions.is_empty()
    }

    fn decision_hash(&self, id: &str) -> u64 {
        rustc_hash::FxBuildHasher.hash_one(id)
    }

    /// A decision's entry: the hash's high bits, mixed (a multiplicative hash's low bits are
    /// its weakest).
    fn decision_index(&self, hash: u64) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % self.decisions.len()
    }

    /// Counts a record (a new one, or one replayed from the log).
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Exposure(exposure) => self.expose(&exposure.as_ref()),
            Record::Conversion(conversion) => self.convert(conversion),
        }
    }

    /// Counts an exposure.
    pub fn expose(&mut self, exposure: &ExposureRef<'_>) {
        let policy = self.names.id(exposure.policy);
        let mut experiment = None;
        if let (Some(key), Some(variant)) = (exposure.experiment, exposure.arm) {
            let (key, arm) = (self.names.id(key), self.names.id(variant));
            let tally = self.experiments.entry((policy, key)).or_default();
            let unit = tally.units.entry(unit_key(exposure.unit)).or_default();
            let first = !unit.arms.iter().any(|(a, _)| *a == arm);
            if first {
                unit.arms.push((arm, false));
            }
            if exposure.at_ms >= unit.latest_ms || unit.arms.len() == 1 {
                unit.latest_arm = arm;
                unit.latest_ms = exposure.at_ms;
            }
            if first {
                tally.arm(arm).trials += 1;
            }
            experiment = Some((key, arm));
        }
        let attributes = self.attributes();
        let decision = self.decision_hash(exposure.decision_id);
        let mut items = Vec::with_capacity(exposure.items.len());
        for item in &exposure.items {
            let item = self.names.id(item);
            self.items.entry((policy, item)).or_default().trials += 1;
            items.push(item);
        }
        if !attributes {
            return;
        }
        if !items.is_empty() {
            let recent = self.impressions.entry(unit_key(exposure.unit)).or_default();
            for &item in &items {
                if recent.len() == IMPRESSIONS_PER_UNIT {
                    recent.pop_front();
                }
                recent.push_back(Impression {
                    policy,
                    item,
                    decision,
                    at_ms: exposure.at_ms,
                    credited: false,
                });
            }
        }
        let shown = Shown {
            slot: self.names.id(exposure.slot),
            policy,
            unit: exposure.unit.into(),
            experiment,
            items: items.into_boxed_slice(),
            at_ms: exposure.at_ms,
        };
        let index = self.decision_index(decision);
        match &mut self.decisions[index] {
            Some(entry) if *entry.id == *exposure.decision_id => entry.shown.push(shown),
            slot => {
                *slot = Some(DecisionEntry {
                    id: exposure.decision_id.into(),
                    shown: vec![shown],
                });
            }
        }
    }

    fn convert(&mut self, conversion: &Conversion) {
        let policy = self.names.id(&conversion.policy);
        if let (Some(key), Some(variant)) = (&conversion.experiment, &conversion.arm) {
            let (key, arm) = (self.names.id(key), self.names.id(variant));
            let tally = self.experiments.entry((policy, key)).or_default();
            let unit = tally.units.entry(unit_key(&conversion.unit)).or_default();
            let newly = match unit.arms.iter_mut().find(|(a, _)| *a == arm) {
                Some((_, converted)) if !*converted => {
                    *converted = true;
                    true
                }
                Some(_) => false,
                // Its exposure is past the retention: counted, as it was when it was attributed.
                None => {
                    unit.arms.push((arm, true));
                    true
                }
            };
            let counts = tally.arm(arm);
            counts.value += conversion.value;
            if newly {
                counts.successes += 1;
            }
        }
        if let Some(item) = &conversion.item {
            let item = self.names.id(item);
            let counts = self.items.entry((policy, item)).or_default();
            counts.successes += 1;
            counts.value += conversion.value;
            let decision = conversion
                .decision_id
                .as_deref()
                .map(|d| self.decision_hash(d));
            if let Some(recent) = self.impressions.get_mut(&unit_key(&conversion.unit)) {
                let impression = recent.iter_mut().rev().find(|i| {
                    !i.credited
                        && i.item == item
                        && i.policy == policy
                        && decision.is_none_or(|d| d == i.decision)
                });
                if let Some(impression) = impression {
                    impression.credited = true;
                }
            }
        }
    }

    /// The slots of a decision this node recorded, if it is still in the table.
    fn shown(&self, decision_id: &str) -> &[Shown] {
        if !self.attributes() {
            return &[];
        }
        let index = self.decision_index(self.decision_hash(decision_id));
        match &self.decisions[index] {
            Some(entry) if *entry.id == *decision_id => &entry.shown,
            _ => &[],
        }
    }

    /// The conversions a new event earns, under the rules of the module doc. `definitions`
    /// gives a policy's outcome definitions. Nothing is counted yet: [`Tally::apply`] does.
    pub fn attribute(
        &mut self,
        event: &CustomerEvent,
        definitions: &mut dyn FnMut(&str) -> Arc<Definitions>,
    ) -> Vec<Conversion> {
        let names = &self.names;
        let conversion = |policy: Name, unit: &str, decision_id: Option<&str>| Conversion {
            event_id: event.event_id.clone(),
            kind: event.kind.clone(),
            policy: names.name(policy).to_owned(),
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
        let item = event.item_id.as_deref().and_then(|i| names.find(i));
        if let Some(decision_id) = &event.decision_id {
            let slot = event.slot.as_deref().map(|s| names.find(s));
            let decision = self.decision_hash(decision_id);
            for shown in self.shown(decision_id) {
                if slot.is_some_and(|slot| slot != Some(shown.slot)) {
                    continue;
                }
                let defs = definitions(names.name(shown.policy));
                if let Some((key, arm)) = shown.experiment {
                    let rule = defs
                        .experiment(names.name(key))
                        .map_or(&defs.items, |e| &e.outcomes);
                    if rule.counts(&event.kind) && within(shown.at_ms, event.at_ms, rule.window_ms)
                    {
                        let mut c = conversion(shown.policy, &shown.unit, Some(decision_id));
                        c.experiment = Some(names.name(key).to_owned());
                        c.arm = Some(names.name(arm).to_owned());
                        earned.push(c);
                    }
                }
                if let Some(item) = item
                    && shown.items.contains(&item)
                    && defs.items.counts(&event.kind)
                    && within(shown.at_ms, event.at_ms, defs.items.window_ms)
                    && self
                        .impressions
                        .get(&unit_key(&shown.unit))
                        .is_some_and(|recent| {
                            recent.iter().any(|i| {
                                !i.credited
                                    && i.item == item
                                    && i.policy == shown.policy
                                    && i.decision == decision
                            })
                        })
                {
                    let mut c = conversion(shown.policy, &shown.unit, Some(decision_id));
                    c.item = Some(names.name(item).to_owned());
                    earned.push(c);
                }
            }
            return earned;
        }
        let unit = event.customer_id.as_str();
        let key_of_unit = unit_key(unit);
        for ((policy, key), tally) in &self.experiments {
            let Some(state) = tally.units.get(&key_of_unit) else {
                continue;
            };
            let defs = definitions(names.name(*policy));
            let rule = defs
                .experiment(names.name(*key))
                .map_or(&defs.items, |e| &e.outcomes);
            if rule.counts(&event.kind) && within(state.latest_ms, event.at_ms, rule.window_ms) {
                let mut c = conversion(*policy, unit, None);
                c.experiment = Some(names.name(*key).to_owned());
                c.arm = Some(names.name(state.latest_arm).to_owned());
                earned.push(c);
            }
        }
        if let (Some(item), Some(recent)) = (item, self.impressions.get(&key_of_unit)) {
            let mut credited: Vec<Name> = Vec::new();
            for impression in recent.iter().rev() {
                if impression.credited
                    || impression.item != item
                    || credited.contains(&impression.policy)
                {
                    continue;
                }
                let defs = definitions(names.name(impression.policy));
                if defs.items.counts(&event.kind)
                    && within(impression.at_ms, event.at_ms, defs.items.window_ms)
                {
                    credited.push(impression.policy);
                    let mut c = conversion(impression.policy, unit, None);
                    c.item = Some(names.name(item).to_owned());
                    earned.push(c);
                }
            }
        }
        earned
    }

    fn experiment(&self, policy: &str, key: &str) -> Option<&ExperimentTally> {
        let (policy, key) = (self.names.find(policy)?, self.names.find(key)?);
        self.experiments.get(&(policy, key))
    }

    /// An experiment's arms (in the order first seen) and their counts.
    pub fn arms(&self, policy: &str, key: &str) -> Vec<(String, Counts)> {
        self.experiment(policy, key)
            .map(|t| {
                t.arms
                    .iter()
                    .map(|(arm, counts)| (self.names.name(*arm).to_owned(), *counts))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The arm a unit was last exposed to in an experiment, and when.
    pub fn last_exposure(&self, policy: &str, key: &str, unit: &str) -> Option<(String, i64)> {
        let state = self.experiment(policy, key)?.units.get(&unit_key(unit))?;
        Some((
            self.names.name(state.latest_arm).to_owned(),
            state.latest_ms,
        ))
    }

    /// Counts of items as a policy showed them; an item never shown has zeros.
    pub fn items(&self, policy: &str, items: &[String]) -> Vec<Counts> {
        let policy = self.names.find(policy);
        items
            .iter()
            .map(|item| {
                policy
                    .zip(self.names.find(item))
                    .and_then(|key| self.items.get(&key))
                    .copied()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Every experiment seen: (policy, key).
    pub fn experiments(&self) -> Vec<(String, String)> {
        let mut keys: Vec<_> = self
            .experiments
            .keys()
            .map(|(policy, key)| {
                (
                    self.names.name(*policy).to_owned(),
                    self.names.name(*key).to_owned(),
                )
            })
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
#[path = "tally/tests.rs"]
mod tests;
