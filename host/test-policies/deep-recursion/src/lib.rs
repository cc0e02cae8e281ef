//! Recurses without bound, with a frame that cannot be optimised away.
use tailor_guest::{Decision, Policy, PolicyError, Request};

struct Deep;

#[inline(never)]
#[expect(
    unconditional_recursion,
    reason = "this policy exists to exhaust the stack"
)]
fn descend(depth: u64, pad: [u64; 16]) -> u64 {
    let mut local = std::hint::black_box(pad);
    local[(depth % 16) as usize] = depth;
    descend(depth + 1, local) + local[3]
}

impl Policy for Deep {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let _ = descend(0, [1; 16]);
        Err(PolicyError::new("unreachable", "recursion returned"))
    }
}

tailor_guest::export_policy!(Deep);
