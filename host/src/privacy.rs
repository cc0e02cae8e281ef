//! Customer data protection: erasure of one customer across the node's stores and the fleet,
//! keyed pseudonyms for what is logged or kept about an erased customer, and encryption at rest.
//!
//! - [`pseudonym`]: keyed hashes of customer ids, for the decision log, the erasure list and
//!   the audit log.
//! - [`erasure`]: forgetting a customer (events, overlay, cached profile, exposures and
//!   outcomes, snapshot profile suppressed), recorded in the audit log.
//! - [`key`]: the data key, where it comes from (file, environment, systemd credential).
//! - [`cipher`]: per-store encryption of values and keyed hashing of customer ids.
//! - [`sealed`]: the streaming encrypted file format for profile snapshots.

pub mod cipher;
pub mod erasure;
mod hex;
pub mod key;
pub mod pseudonym;
pub mod sealed;

pub use cipher::{CipherError, Nonces, Sealing, StoreCipher, check};
pub use erasure::{Eraser, Erasure, ErasureError, ErasureReport};
pub use key::{DataKey, KeyError, KeySource};
pub use pseudonym::Pseudonyms;
pub use sealed::{SealedError, SealedReader, SealedWriter, is_sealed, seal_into_place};
