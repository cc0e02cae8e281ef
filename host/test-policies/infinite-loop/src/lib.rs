//! Spins forever; only the epoch deadline ends the decision.
use tailor_guest::{Decision, Policy, PolicyError, Request};

struct Spin;

impl Policy for Spin {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        let mut n: u64 = request.context.now_ms as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

tailor_guest::export_policy!(Spin);
