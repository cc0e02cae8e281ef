//! A sharded LRU of decoded profiles, so cores do not contend on one lock.

use lru::LruCache;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tailor_types::Profile;

const SHARDS: usize = 16;

type Hasher = BuildHasherDefault<rustc_hash::FxHasher>;

#[derive(Debug)]
pub(crate) struct ShardedLru {
    shards: Vec<Mutex<LruCache<Box<str>, Arc<Profile>>>>,
}

impl ShardedLru {
    /// A cache holding about `capacity` profiles in all.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard =
            NonZeroUsize::new(capacity.div_ceil(SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        ShardedLru {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<LruCache<Box<str>, Arc<Profile>>> {
        &self.shards[(Hasher::default().hash_one(key) as usize) % SHARDS]
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<Profile>> {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.get(key).cloned()
    }

    pub(crate) fn remove(&self, key: &str) {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.pop(key);
    }

    pub(crate) fn insert(&self, key: &str, profile: Arc<Profile>) {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.put(key.into(), profile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_per_shard() {
        let cache = ShardedLru::new(SHARDS); // one entry per shard
        for i in 0..200 {
            cache.insert(&format!("c{i}"), Arc::new(Profile::default()));
        }
        let kept = (0..200)
            .filter(|i| cache.get(&format!("c{i}")).is_some())
            .count();
        assert!(kept <= SHARDS, "{kept} kept");
        cache.insert("hot", Arc::new(Profile::default()));
        assert!(cache.get("hot").is_some());
    }
}
