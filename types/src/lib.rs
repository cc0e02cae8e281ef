//! The data of a tailor decision, defined once.
//!
//! These types mirror the records of the `tailor:policy` WIT package (0.1.0 and 0.2.0 alike)
//! field for field. The host lowers them straight into a guest (feature `wasmtime`), the guest
//! SDK hands them to policy authors, and both read and write them as JSON with the same field
//! names, so a fixture written for a policy's native unit test is also a valid `tailor
//! run-policy` input.
//!
//! JSON conventions: snake_case field names; list-of-pair fields (`attributes`, `traits`,
//! `affinities`, `numbers`, `render`) are JSON objects; channels, device classes and reasons are
//! strings.

mod context;
mod decision;
#[cfg(feature = "fixtures")]
pub mod fixture;
pub mod integer;
pub mod object;
pub mod pairs;
mod profile;
mod value;

pub use context::{Candidate, Channel, Context, DeviceClass, Page};
pub use decision::{Decision, Experiment, PolicyError, RankedItem, Reason};
pub use profile::{Consent, Event, Loyalty, Profile};
pub use value::Value;

/// Name/value pairs in the order the channel or the profile store gave them.
pub type Pairs<V> = Vec<(String, V)>;

/// Looks a key up in a pair list (the lists are short; a linear scan beats hashing here).
pub fn lookup<'a, V>(pairs: &'a [(String, V)], key: &str) -> Option<&'a V> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}
