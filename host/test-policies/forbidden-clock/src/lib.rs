//! Reads the wall clock instead of the context's time; the host must refuse to load it.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

struct Clock;

impl Policy for Clock {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Ok(Decision::new(Reason::Static).render("now", now.to_string()))
    }
}

tailor_guest::export_policy!(Clock);
