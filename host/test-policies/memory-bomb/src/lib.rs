//! Keeps allocating 1 MiB blocks and touching them until memory cannot grow.
use tailor_guest::{Decision, Policy, PolicyError, Request};

struct Bomb;

impl Policy for Bomb {
    fn decide(_: &Request) -> Result<Decision, PolicyError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![0xA5; 1 << 20]));
        }
    }
}

tailor_guest::export_policy!(Bomb);
