//! Which customers the event log holds events of, in memory: a cache miss for a customer with
//! no events (most of a large snapshot's customers) then costs no read of the log.
//!
//! A set of 64-bit hashes of the customers as the log keys them. It may hold more than the log
//! does (two customers sharing a hash, customers whose events were pruned or erased since
//! start): that costs a read that finds nothing. It never holds less: a customer is added before
//! the transaction that writes her first event commits.

use rustc_hash::{FxBuildHasher, FxHashSet};
use std::hash::BuildHasher;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub(super) struct Holders(RwLock<FxHashSet<u64>>);

fn hash(customer: &str) -> u64 {
    FxBuildHasher.hash_one(customer)
}

impl Holders {
    /// Notes that the log holds (or is about to hold) events of `customer`.
    pub(super) fn insert(&self, customer: &str) {
        let hash = hash(customer);
        if !self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&hash)
        {
            self.0
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash);
        }
    }

    /// Whether the log may hold events of `customer` (`false`: it certainly holds none).
    pub(super) fn may_hold(&self, customer: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&hash(customer))
    }
}
