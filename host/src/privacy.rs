//! Privacy of the customer data a node holds.
//!
//! - [`key`]: the data key, where it comes from (file, environment, systemd credential).
//! - [`cipher`]: per-store encryption of values and keyed hashing of customer ids.

pub mod cipher;
mod hex;
pub mod key;

pub use cipher::{CipherError, Sealing, StoreCipher, check};
pub use key::{DataKey, KeyError, KeySource};
