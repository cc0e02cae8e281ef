//! Reads `/probe` from the config `calls` times (context attribute `calls`), touches every profile
//! field, and reports what it saw: a probe for the cost of host calls and of passing a profile.
use tailor_guest::{Decision, DecisionExt, Policy, PolicyError, Reason, Request};

struct Probe;

impl Policy for Probe {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        let calls = request
            .context
            .attribute("calls")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let mut sum = 0.0;
        for _ in 0..calls {
            sum += request.config.number("/probe").unwrap_or(0.0);
        }
        let profile = &request.profile;
        let fields = profile.segments().len()
            + profile.traits().len()
            + profile.recent_events(u32::MAX).len()
            + profile.affinities().len();
        Ok(Decision::new(Reason::Static)
            .variant("probe")
            .render("sum", sum.to_string())
            .render("profile_fields", fields.to_string()))
    }
}

tailor_guest::export_policy!(Probe);
