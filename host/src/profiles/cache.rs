//! A sharded LRU of profiles read from the store, so cores do not contend on one lock, with an
//! admission filter in front of it.
//!
//! A full shard admits a customer on her second miss within a while, not her first: a
//! customer seen once (most of them, in a store of millions drawn uniformly, or in a scan such
//! as a mailing over every customer) is read, used and dropped while still in the CPU's
//! caches, instead of evicting a profile that is read again (whose memory is cold by then, and
//! costs more to free than the read cost). The filter is a set of the hashes of
//! customers missed once, cleared when it holds as many as the shard: a frequency sketch with
//! one bit, as TinyLFU's doorkeeper is.

use super::CustomerProfile;
use lru::LruCache;
use rustc_hash::FxHashSet;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::num::NonZeroUsize;
use std::sync::Mutex;

const SHARDS: usize = 16;

type Hasher = BuildHasherDefault<rustc_hash::FxHasher>;

#[derive(Debug)]
struct Shard {
    lru: LruCache<Box<str>, CustomerProfile>,
    /// Hashes of customers missed once since the filter was last cleared.
    missed_once: FxHashSet<u64>,
}

#[derive(Debug)]
pub(crate) struct ShardedLru {
    shards: Vec<Mutex<Shard>>,
}

impl ShardedLru {
    /// A cache holding about `capacity` profiles in all.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard =
            NonZeroUsize::new(capacity.div_ceil(SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        ShardedLru {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        lru: LruCache::new(per_shard),
                        missed_once: FxHashSet::default(),
                    })
                })
                .collect(),
        }
    }

    /// The key's hash and its shard, locked.
    fn shard(&self, key: &str) -> (u64, std::sync::MutexGuard<'_, Shard>) {
        let hash = Hasher::default().hash_one(key);
        let shard = self.shards[(hash as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (hash, shard)
    }

    pub(crate) fn get(&self, key: &str) -> Option<CustomerProfile> {
        self.shard(key).1.lru.get(key).cloned()
    }

    pub(crate) fn remove(&self, key: &str) {
        self.shard(key).1.lru.pop(key);
    }

    /// Offers a profile just read for `key`: kept while the shard has room, and once it is
    /// full only for a customer missed before (the module's admission filter).
    pub(crate) fn offer(&self, key: &str, profile: CustomerProfile) {
        let (hash, mut shard) = self.shard(key);
        let room = shard.lru.len() < shard.lru.cap().get();
        if room || shard.lru.contains(key) || shard.missed_once.remove(&hash) {
            shard.lru.put(key.into(), profile);
            return;
        }
        if shard.missed_once.len() >= shard.lru.cap().get() {
            shard.missed_once.clear();
        }
        shard.missed_once.insert(hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> CustomerProfile {
        tailor_types::Profile::default().into()
    }

    #[test]
    fn evicts_least_recently_used_per_shard() {
        let cache = ShardedLru::new(SHARDS); // one entry per shard
        for i in 0..200 {
            // Offered twice: admitted each time, evicting.
            cache.offer(&format!("c{i}"), profile());
            cache.offer(&format!("c{i}"), profile());
        }
        let kept = (0..200)
            .filter(|i| cache.get(&format!("c{i}")).is_some())
            .count();
        assert!(kept <= SHARDS, "{kept} kept");
        cache.offer("hot", profile());
        cache.offer("hot", profile());
        assert!(cache.get("hot").is_some());
    }

    #[test]
    fn a_scan_of_customers_seen_once_leaves_the_read_again_ones_cached() {
        let cache = ShardedLru::new(16 * 64);
        let hot: Vec<String> = (0..16 * 32).map(|i| format!("hot-{i}")).collect();
        for id in &hot {
            cache.offer(id, profile());
        }
        // Ten times the cache's size of customers offered once each: at first they fill the
        // room there is, then none is admitted.
        for i in 0..16 * 640 {
            cache.offer(&format!("once-{i}"), profile());
        }
        let kept = hot.iter().filter(|id| cache.get(id).is_some()).count();
        assert_eq!(kept, hot.len(), "the scan evicted customers read again");
        // A customer missed twice while the cache is full is admitted.
        cache.offer("twice", profile());
        assert!(cache.get("twice").is_none());
        cache.offer("twice", profile());
        assert!(cache.get("twice").is_some());
    }
}
