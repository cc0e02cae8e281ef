//! The tailor host: loads personalization policies (Wasm components built against the
//! `tailor:policy@0.1.0` contract) and runs each decision in a fresh, sandboxed instance.
//!
//! - [`engine`]: wasmtime set-up, policy loading and validation, per-decision sandboxing.
//! - [`bundled`]: the example policies shipped inside the binary, for defaults and demos.
//! - [`profiles`]: the profile snapshot store and cache.

pub mod bundled;
pub mod engine;
pub mod profiles;

pub use engine::{
    DecisionError, Engine, EngineConfig, ErrorCode, Evaluation, Limits, LoadError, LoadedPolicy,
    PinnedInstance, PolicySource,
};
