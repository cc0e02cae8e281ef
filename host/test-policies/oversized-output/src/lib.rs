//! Returns a 1 MiB render value.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

struct Oversized;

impl Policy for Oversized {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        Ok(Decision::new(Reason::Static)
            .variant("huge")
            .render("body", "x".repeat(1 << 20)))
    }
}

tailor_guest::export_policy!(Oversized);
