//! Panics with a message that names the customer.
use tailor_guest::{Decision, Policy, PolicyError, Request};

struct Panicker;

impl Policy for Panicker {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        let customer = request.profile.customer_id().unwrap_or("anonymous");
        panic!("no creative for customer {customer}");
    }
}

tailor_guest::export_policy!(Panicker);
