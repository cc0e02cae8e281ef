//! The tailor host: loads personalization policies (Wasm components built against the
//! `tailor:policy@0.1.0` contract) and runs each decision in a fresh, sandboxed instance.
//!
//! - [`engine`]: wasmtime set-up, policy loading and validation, per-decision sandboxing.
//! - [`registry`]: the policy versions a node serves, with their digests.
//! - [`profiles`]: the profile snapshot store and cache.
//! - [`fleet`]: customer events flowing between nodes through NATS JetStream.
//! - [`privacy`]: encryption at rest of the customer data a node holds.
//! - [`server`]: the decision service over HTTP, with [`config`] and [`metrics`].
//! - [`bundled`]: the example policies shipped inside the binary, for defaults and demos.
//! - [`authoring`]: policy crates outside this repository (`tailor new`, `build`, `test`).

pub mod authoring;
pub mod bundled;
pub mod clock;
pub mod config;
pub mod digest;
pub mod distribution;
pub mod engine;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod http_client;
pub mod lifecycle;
pub mod metrics;
pub mod outcomes;
pub mod privacy;
pub mod profiles;
pub mod registry;
pub mod report;
pub mod scheduler;
pub mod server;

pub use engine::{
    Contract, DecisionError, Engine, EngineConfig, ErrorCode, Evaluation, Limits, LoadError,
    LoadedPolicy, PinnedInstance, PolicySource, SlotInput,
};
