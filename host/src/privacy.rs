//! Privacy of the customer data a node holds.
//!
//! - [`key`]: the data key, where it comes from (file, environment, systemd credential).
//! - [`cipher`]: per-store encryption of values and keyed hashing of customer ids.
//! - [`sealed`]: the streaming encrypted file format for profile snapshots.

pub mod cipher;
mod hex;
pub mod key;
pub mod sealed;

pub use cipher::{CipherError, Sealing, StoreCipher, check};
pub use key::{DataKey, KeyError, KeySource};
pub use sealed::{SealedError, SealedReader, SealedWriter, is_sealed};
