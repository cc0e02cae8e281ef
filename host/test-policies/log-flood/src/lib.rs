//! Logs a thousand 2 KB lines, then decides normally.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request, log};

struct Flood;

impl Policy for Flood {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let line = "spam ".repeat(400);
        for _ in 0..1_000 {
            log::info(&line);
        }
        Ok(Decision::new(Reason::Static).variant("after-flood"))
    }
}

tailor_guest::export_policy!(Flood);
