//! Reads `/probe` from the config `calls` times (context attribute `calls`), touches every profile
//! field, and reports what it saw: a probe for the cost of host calls and of passing a profile.
//! With `read` = `"nothing"` and no `calls` it makes no host call at all: the floor of a
//! decision, what the sandbox costs before a policy does anything.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

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
        let read = request.context.attribute("read").and_then(|v| v.as_str());
        let fields = if read == Some("nothing") {
            0
        } else if read == Some("all") {
            profile.segments().len()
                + profile.traits().len()
                + profile.recent_events(u32::MAX).len()
                + profile.affinities().len()
        } else {
            // What a typical targeting policy reads: identity, consent, tier, a few segment
            // checks, a trait, a few affinities and the latest events.
            let mut read = usize::from(profile.customer_id().is_some())
                + usize::from(profile.consent().personalization)
                + usize::from(profile.loyalty().is_some());
            for segment in ["segment-1", "cart_abandoner", "new_customer"] {
                read += usize::from(profile.in_segment(segment));
            }
            read += usize::from(profile.trait_value("trait_1").is_some());
            for category in ["category-1", "category-2", "category-3"] {
                read += usize::from(profile.affinity(category) > 0.0);
            }
            read + profile.recent_events(5).len()
        };
        Ok(Decision::new(Reason::Static)
            .variant("probe")
            .render("sum", sum.to_string())
            .render("profile_fields", fields.to_string()))
    }
}

tailor_guest::export_policy!(Probe);
