//! The campaign document: a default creative, rules tried in order, and a TTL.
//!
//! [`Campaign::compile`] reads the whole document once, checking every field (unknown ones
//! included) and compiling every condition, so that a decision only evaluates.

mod creative;
mod experiment;
mod rule;

pub(crate) use creative::Creative;
pub(crate) use experiment::{Assignment, Experiment};
pub(crate) use rule::{Rule, Then};

use crate::logic::Slot;
use crate::problem::{Problem, Problems, field, index};
use serde_json::Value;
use std::collections::BTreeSet;

pub(crate) const FIELDS: &[&str] = &[
    "$schema",
    "description",
    "default",
    "rules",
    "ttl_seconds",
    "cache",
];

/// A compiled campaign document.
#[derive(Debug)]
pub(crate) struct Campaign {
    pub(crate) default: Creative,
    pub(crate) rules: Vec<Rule>,
    pub(crate) ttl_seconds: Option<u32>,
    /// The request variables the rules' conditions read.
    pub(crate) slots: Vec<Slot>,
}

impl Campaign {
    /// The campaign, or every problem with the document.
    pub(crate) fn compile(document: &Value) -> Result<Campaign, Vec<Problem>> {
        let mut problems = Problems::default();
        let campaign = compile(document, &mut problems);
        match campaign {
            Some(campaign) if problems.is_empty() => Ok(campaign),
            _ => Err(problems.into_vec()),
        }
    }
}

fn compile(document: &Value, problems: &mut Problems) -> Option<Campaign> {
    let object = problems.object(document, "")?;
    problems.deny_unknown(object, "", FIELDS);
    if let Some(description) = object.get("description")
        && !description.is_string()
    {
        problems.add("description", "must be a string");
    }
    if let Some(cache) = object.get("cache") {
        check_cache(cache, problems);
    }
    let ttl_seconds = object.get("ttl_seconds").and_then(|ttl| {
        let seconds = ttl.as_u64().and_then(|s| u32::try_from(s).ok());
        if seconds.is_none() {
            problems.add("ttl_seconds", "must be a non-negative integer of seconds");
        }
        seconds
    });
    let default = problems
        .required(object, "", "default")
        .and_then(|default| Creative::parse(default, "default", problems));
    let mut slots = Vec::new();
    let mut rules = Vec::new();
    match problems.required(object, "", "rules").map(Value::as_array) {
        Some(Some(list)) => {
            for (i, rule) in list.iter().enumerate() {
                rules.extend(Rule::parse(rule, &index("rules", i), &mut slots, problems));
            }
        }
        Some(None) => problems.add("rules", "must be a list of rules"),
        None => {}
    }
    check_unique(list_of(object.get("rules")), problems);
    Some(Campaign {
        default: default?,
        rules,
        ttl_seconds,
        slots,
    })
}

fn list_of(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Rule names and experiment keys are each used once: results are reported by them.
fn check_unique(rules: &[Value], problems: &mut Problems) {
    let (mut names, mut keys) = (BTreeSet::new(), BTreeSet::new());
    for (i, rule) in rules.iter().enumerate() {
        let at = index("rules", i);
        if let Some(name) = rule["name"].as_str()
            && !names.insert(name)
        {
            problems.add(&field(&at, "name"), format!("duplicate rule name {name:?}"));
        }
        if let Some(key) = rule["then"]["experiment"]["key"].as_str()
            && !keys.insert(key)
        {
            problems.add(
                &field(&at, "then.experiment.key"),
                format!("duplicate experiment key {key:?}"),
            );
        }
    }
}

/// `{"cache": {"scope": "segment"}}`: the host may share decisions across a segment.
fn check_cache(cache: &Value, problems: &mut Problems) {
    let Some(object) = problems.object(cache, "cache") else {
        return;
    };
    problems.deny_unknown(object, "cache", &["scope"]);
    if let Some(scope) = problems.required(object, "cache", "scope")
        && scope != "segment"
    {
        problems.add("cache.scope", "must be \"segment\"");
    }
}

#[cfg(test)]
mod tests;
