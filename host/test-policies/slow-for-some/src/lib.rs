//! Slow only for some customers: never returns for ids ending in `7`, answers at once for the
//! rest. The deadline must cut off exactly those decisions.
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

struct SlowForSome;

impl Policy for SlowForSome {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        let id = request.profile.customer_id().unwrap_or_default().to_owned();
        if id.ends_with('7') {
            let mut spins: u64 = 0;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        Ok(Decision::new(Reason::Static).render("customer", id))
    }
}

tailor_guest::export_policy!(SlowForSome);
