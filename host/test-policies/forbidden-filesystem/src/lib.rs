//! Tries to read a file; the host must refuse to load it.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

struct Snoop;

impl Policy for Snoop {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(Decision::new(Reason::Static).render("leak", secret))
    }
}

tailor_guest::export_policy!(Snoop);
