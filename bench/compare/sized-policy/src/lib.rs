//! A policy that carries a lookup table in its component (a propensity table keyed by the
//! customer's bucket, as a model exported into a policy would be), so the component's size can
//! be graded from 10 KB to 1 MB while the work per decision stays the same: one bucket, one
//! table read, one variant with its creative.

use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

static TABLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/table.bin"));

#[derive(Debug)]
pub struct Sized;

impl Policy for Sized {
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError> {
        let unit = request.unit_id().unwrap_or("anonymous");
        let bucket = tailor_bucketing::bucket("sized-policy", unit) as usize;
        let score = TABLE
            .get(bucket * TABLE.len() / tailor_bucketing::BUCKETS as usize)
            .copied()
            .unwrap_or(0);
        let variant = if score < 128 {
            "spring-brand"
        } else {
            "spring-lifestyle"
        };
        Ok(Decision::new(Reason::TargetingMatch)
            .variant(variant)
            .render("score", score.to_string())
            .render("table_bytes", TABLE.len().to_string()))
    }
}

tailor_guest::export_policy!(Sized);
