//! The example policies built into the `tailor` binary.

pub use tailor_policies::{ALL, BundledPolicy, find};
