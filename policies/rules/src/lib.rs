//! Campaign rules for marketers: the whole campaign is the config document.
//!
//! ```json
//! {
//!   "default": {"variant": "evergreen", "render": {"headline": "…", "image": "…"}},
//!   "rules": [
//!     {"name": "vip", "when": {"in": [{"var": "tier"}, ["gold", "platinum"]]},
//!      "schedule": {"start": "2026-12-01T00:00:00Z", "timezone": "Europe/London"},
//!      "then": {"variant": "vip", "render": {"headline": "…"}}},
//!     {"name": "spring-test", "then": {"experiment": {"key": "spring-hero", "holdout": 0.1,
//!      "arms": [{"variant": "a", "weight": 50, "render": {…}}, {"variant": "b", …}]}}}
//!   ],
//!   "ttl_seconds": 300
//! }
//! ```
//!
//! Rules are tried in order; the first that is open (its `schedule`) and
//! whose `when` holds decides: a creative is served with reason `TARGETING_MATCH`, an
//! experiment assigns the unit (customer id, else anonymous id) to a weighted arm with reason
//! `SPLIT`, or to the `holdout` share, which gets the default creative and reports the
//! experiment as variant `"holdout"` (also `SPLIT`). No rule, or an experiment without a unit
//! to bucket, gives the default creative with reason `DEFAULT`. Rules only apply with the
//! customer's personalization consent: without it everyone gets the default (`DEFAULT`).
//!
//! A `schedule`'s `start` is inclusive and its `end` exclusive (RFC 3339 with an offset); its
//! `days` and `hours` are read on the wall clock of its `timezone` (an IANA name, DST-aware,
//! default `UTC`), and an `hours` window whose `to` is before its `from` runs overnight, its
//! small hours belonging to the day it started on. Time is only ever the request's `now_ms`.
//!
//! Conditions are JSON Logic over the request's variables: `segments`, `tier`,
//! `points`, `traits.<key>`, `channel`, `page.kind`, `page.product_ids`, `page.category_ids`,
//! `locale`, `store`, `device`, `consent.<purpose>`, `attributes.<key>`, `now_ms`, `slot`,
//! `customer_id` and `events` (the newest 50), plus `in_segment` and
//! `recent_event`. Each variable is read the first time a condition needs it, so a rule that
//! reads two fields pays for two reads, not for the whole profile.
//!
//! Why JSON Logic rather than GrowthBook-style (Mongo query) conditions: it is the targeting
//! language of flagd and the OpenFeature ecosystem around it, and Adobe Target ships its
//! on-device decisioning rules as JSON Logic, so marketers' tools already speak it; it is a
//! small language with a written specification, a shared test suite and libraries in every
//! mainstream language, so the console, a preview tool or a warehouse job can evaluate exactly
//! the documents a node serves; and it composes, every operator taking expressions as
//! arguments. GrowthBook's conditions would serve as well as a notation, but they are one
//! vendor's dialect with one vendor's evaluators.
//!
//! [`check`] names every problem of a document by its path (`rules[3].when.and[1]: unknown
//! operator "~="`); [`SCHEMA`] is its JSON Schema for editors. A decision under an invalid
//! document fails with `invalid_config` and the first problem.

mod data;
mod decide;
mod document;
mod logic;
mod problem;
mod schedule;

pub use problem::Problem;

use document::Campaign;
use tailor_guest::{Config, ConfigProblem, Decision, Policy, PolicyError, Request};

/// The JSON Schema (draft 2020-12) of the campaign document.
pub const SCHEMA: &str = include_str!("../schema.json");

/// Every problem with a campaign document; none means it is valid.
pub fn check(document: &serde_json::Value) -> Vec<Problem> {
    Campaign::compile(document).err().unwrap_or_default()
}

/// The campaign rules policy.
#[derive(Debug)]
pub struct Rules;

impl Policy for Rules {
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError> {
        let document: serde_json::Value = request.config.json("")?;
        let campaign = Campaign::compile(&document).map_err(|problems| {
            let first = problems
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            PolicyError::new("invalid_config", first)
        })?;
        Ok(decide::decide(&campaign, request))
    }

    fn check_config(config: &Config) -> Vec<ConfigProblem> {
        match config.json::<serde_json::Value>("") {
            Ok(document) => check(&document),
            Err(error) => vec![ConfigProblem::new("", error.message)],
        }
    }

    fn config_schema() -> Option<&'static str> {
        Some(SCHEMA)
    }
}

tailor_guest::export_policy!(Rules);

#[cfg(test)]
mod tests;
