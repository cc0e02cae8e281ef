//! Customer data protection: erasure of one customer across the node's stores and the fleet,
//! and keyed pseudonyms for what is logged or kept about an erased customer.
//!
//! - [`pseudonym`]: keyed hashes of customer ids, for the decision log, the erasure list and
//!   the audit log.
//! - [`erasure`]: forgetting a customer (events, overlay, cached profile, exposures and
//!   outcomes, snapshot profile suppressed), recorded in the audit log.

pub mod erasure;
pub mod pseudonym;

pub use erasure::{Eraser, Erasure, ErasureError, ErasureReport};
pub use pseudonym::Pseudonyms;
