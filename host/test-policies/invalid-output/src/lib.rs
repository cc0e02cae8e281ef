//! Ranks an item with a NaN score.
use tailor_guest::{Decision, Policy, PolicyError, RankedItem, Reason, Request};

struct Invalid;

impl Policy for Invalid {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        Ok(
            Decision::new(Reason::TargetingMatch).items(vec![RankedItem {
                id: "sku-1".into(),
                score: f64::NAN,
            }]),
        )
    }
}

tailor_guest::export_policy!(Invalid);
