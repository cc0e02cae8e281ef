//! Burns CPU legally: runs `iterations` rounds of a deterministic integer mix (config
//! `{"iterations": N}`, 1000 by default), then answers with the count and the final state, so
//! host tests can spend a known amount of guest work against the deadline without a clock.
use serde::Deserialize;
use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};

/// The policy's config document.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct Settings {
    /// Rounds of the mix to run.
    iterations: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { iterations: 1000 }
    }
}

/// The mix's starting state (any non-zero value: the mix maps non-zero to non-zero).
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// One round: a xorshift step, then a multiply by an odd constant. Both are bijections that
/// keep zero at zero, so the state never collapses; `black_box` keeps every round from being
/// folded away.
fn mix(state: u64) -> u64 {
    let mut x = state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::hint::black_box(x.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// The state after `iterations` rounds from [`SEED`].
fn burn(iterations: u64) -> u64 {
    let mut state = SEED;
    for _ in 0..std::hint::black_box(iterations) {
        state = mix(state);
    }
    state
}

struct Burn;

impl Policy for Burn {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        // A policy loaded without a config has the document `null`: all defaults.
        let settings = request
            .config
            .parse::<Option<Settings>>()?
            .unwrap_or_default();
        let checksum = burn(settings.iterations);
        Ok(Decision::new(Reason::Static)
            .render("burned", settings.iterations.to_string())
            .render("checksum", format!("{checksum:016x}")))
    }
}

tailor_guest::export_policy!(Burn);
