//! Privacy of the customer data a node holds.
//!
//! - [`key`]: the data key, where it comes from (file, environment, systemd credential).

mod hex;
pub mod key;

pub use key::{DataKey, KeyError, KeySource};
