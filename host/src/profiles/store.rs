//! The snapshot store on disk: one file per loaded snapshot, written once while the snapshot
//! loads and then read in place (memory-mapped), never changed.
//!
//! The file is a header, the profiles' values ([`codec`]: compact binary, each prefixed by its
//! length) and an index ([`index`]: an open-addressing hash table of id hash → value offset).
//! A lookup hashes the id, reads one or two index slots and the layout of one value (its id,
//! consent and where its sections lie); a decision decodes only the sections it reads
//! ([`stored`]). A lookup's cost grows neither with the number of profiles nor with a
//! profile's size, and the page cache, not the process, holds what is read often. The
//! repeated names the values refer to (segments, trait keys, categories …) are
//! kept in memory, in the store's [`codec::Dictionary`].
//!
//! The store is rebuilt from the snapshot at every start and reload ([`load`]: the snapshot
//! parsed on every core, one writer), so it needs no durability of its own, and a file of
//! another format version (`profiles-*.redb` of earlier releases included) is deleted at start,
//! never read.
//!
//! With a data key the store is encrypted: the index holds keyed hashes of the ids, every value
//! (the id inside it) is sealed (AES-256-GCM, bound to its id hash), under keys of its own
//! derived from the data key and a fresh salt; the salt and the dictionary live only in memory,
//! so the file is unreadable once the process is gone, even with the data key.

mod codec;
mod decode;
mod index;
mod load;
mod stored;

use super::partition::Partition;
use super::snapshot::{SnapshotError, SnapshotHeader};
use crate::privacy::{CipherError, DataKey, StoreCipher};
use codec::Dictionary;
#[cfg(test)]
pub(super) use codec::FORMAT_VERSION;
pub use codec::Malformed;
use memmap2::Mmap;
use std::borrow::Cow;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use stored::StoredProfile;

/// The first bytes of a store file; the format version follows.
const MAGIC: &[u8; 8] = b"TLRPROF\n";
/// Magic, format version (u32), flags (u32, 1 = encrypted), profiles (u64), index offset (u64).
const HEADER_LEN: usize = 32;
/// Store files are named `profiles-<snapshot version>-<ms>` with this extension.
pub(crate) const EXTENSION: &str = "profiles";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("profile store {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Events(#[from] super::events::EventLogError),
    #[error("profile store {path}")]
    Cipher {
        path: PathBuf,
        #[source]
        source: CipherError,
    },
    #[error("profile store {path}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: Malformed,
    },
}

/// How a store hashes ids for its index, and whether it seals its values. The hash is keyed
/// either way, so no one can choose ids that collide.
#[derive(Debug)]
enum Keys {
    /// Plaintext values; ids hashed with SipHash-1-3 under a random key of this store's.
    Plain(std::hash::RandomState),
    /// Sealed values; ids hashed with the first 8 bytes of the cipher's keyed id hash
    /// (HMAC-SHA256), which every value carries before its ciphertext as its associated data.
    Sealed(Box<StoreCipher>),
}

impl Keys {
    fn hash(&self, id: &str) -> u64 {
        match self {
            Keys::Plain(state) => state.hash_one(id),
            Keys::Sealed(cipher) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(&cipher.id_hash(id)[..8]);
                u64::from_le_bytes(word)
            }
        }
    }

    /// The id hash of a value as stored: the one a sealed value carries, or the plaintext
    /// value's id hashed.
    fn stored_hash(&self, raw: &[u8]) -> Result<u64, Malformed> {
        match self {
            Keys::Sealed(_) => raw
                .first_chunk::<8>()
                .map(|word| u64::from_le_bytes(*word))
                .ok_or(Malformed("a sealed value without its hash")),
            Keys::Plain(_) => codec::stored_id(raw).map(|id| self.hash(id)),
        }
    }
}

/// One loaded snapshot on disk.
#[derive(Debug)]
pub struct ProfileStore {
    map: Mmap,
    path: PathBuf,
    pub header: SnapshotHeader,
    /// Customers held (a customer listed twice in the snapshot counts once).
    pub profiles: u64,
    pub file_bytes: u64,
    /// When this node finished loading it, ms since the Unix epoch.
    pub loaded_at_ms: i64,
    /// The node's share of the snapshot it was built with (all of it when `None`).
    pub partition: Option<Partition>,
    /// The snapshot's profiles outside that share, not in the store.
    pub outside_partition: u64,
    /// Where the index starts in the file.
    index_at: usize,
    /// Shared with the views of its values ([`StoredProfile`]).
    dictionary: Arc<Dictionary>,
    /// Shared with the stores built from deltas on top of this one.
    keys: Arc<Keys>,
}

impl ProfileStore {
    /// Imports a snapshot file into a new store file under `dir` (encrypted with `key`), only
    /// the profiles in `partition` when one is given. A delta snapshot is applied on top of
    /// `base`, which must be the version it names: the new store holds the base's profiles
    /// with the delta's changes and removals. `seen`, when given, is called (on any of the
    /// loading threads) with every customer id the new store was built from (those outside the
    /// partition too).
    pub fn build_from_file(
        dir: &Path,
        snapshot_path: &Path,
        key: Option<&DataKey>,
        partition: Option<&Partition>,
        base: Option<&ProfileStore>,
        seen: Option<&(dyn Fn(&str) + Sync)>,
    ) -> Result<ProfileStore, StoreError> {
        load::build(dir, snapshot_path, key, partition, base, seen)
    }

    /// Whether the store is encrypted at rest.
    pub fn encrypted(&self) -> bool {
        matches!(*self.keys, Keys::Sealed(_))
    }

    fn cipher_error(&self) -> impl FnOnce(CipherError) -> StoreError + '_ {
        |source| StoreError::Cipher {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self) -> impl FnOnce(Malformed) -> StoreError + '_ {
        |source| StoreError::Corrupt {
            path: self.path.clone(),
            source,
        }
    }

    /// The stored value at `offset` (its length prefix first) and where the next one starts.
    fn raw_at(&self, offset: usize) -> Result<(&[u8], usize), StoreError> {
        let values = self.map.get(..self.index_at).unwrap_or_default();
        let mut input = values
            .get(offset..)
            .ok_or_else(|| self.corrupt()(Malformed("a value offset past the values")))?;
        let before = input.len();
        let len = load::read_len(&mut input).map_err(self.corrupt())?;
        let start = offset + (before - input.len());
        let value = values
            .get(start..start + len)
            .ok_or_else(|| self.corrupt()(Malformed("a value past the values")))?;
        Ok((value, start + len))
    }

    /// The plaintext of a stored value.
    fn plaintext<'v>(&self, raw: &'v [u8]) -> Result<Cow<'v, [u8]>, StoreError> {
        match &*self.keys {
            Keys::Plain(_) => Ok(Cow::Borrowed(raw)),
            Keys::Sealed(cipher) => {
                let (hash, sealed) = raw
                    .split_at_checked(8)
                    .ok_or_else(|| self.corrupt()(Malformed("a sealed value without its hash")))?;
                cipher
                    .open(hash, sealed)
                    .map(Cow::Owned)
                    .map_err(self.cipher_error())
            }
        }
    }

    /// The plaintext value of `customer_id`, if the store holds it.
    fn find(&self, customer_id: &str) -> Result<Option<Cow<'_, [u8]>>, StoreError> {
        let hash = self.keys.hash(customer_id);
        let table = self.map.get(self.index_at..).unwrap_or_default();
        let mut found = None;
        let mut failed = None;
        index::find(table, hash, |offset| {
            let value = match usize::try_from(offset)
                .map_err(|_| self.corrupt()(Malformed("a value offset past the values")))
                .and_then(|offset| self.raw_at(offset))
                .and_then(|(raw, _)| self.plaintext(raw))
            {
                Ok(value) => value,
                Err(error) => {
                    failed = Some(error);
                    return true;
                }
            };
            match codec::stored_id(&value) {
                Ok(id) if id == customer_id => {
                    found = Some(value);
                    true
                }
                Ok(_) => false,
                Err(malformed) => {
                    failed = Some(self.corrupt()(malformed));
                    true
                }
            }
        });
        match failed {
            Some(error) => Err(error),
            None => Ok(found),
        }
    }

    /// A customer's profile, if the snapshot has it: checked, and decoded field by field as
    /// it is read.
    pub fn get(&self, customer_id: &str) -> Result<Option<StoredProfile>, StoreError> {
        match self.find(customer_id)? {
            None => Ok(None),
            Some(value) => StoredProfile::new(value.into_owned().into(), self.dictionary.clone())
                .map(Some)
                .map_err(self.corrupt()),
        }
    }

    /// Whether the snapshot holds a customer (without decoding the profile).
    pub fn contains(&self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self.find(customer_id)?.is_some())
    }

    /// Up to `n` customer ids spread evenly over the store (every `profiles / n`-th one in the
    /// snapshot's order): a sample that is the same for the same store, so two previews of one
    /// draft compare like with like.
    pub fn sample_ids(&self, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let step = usize::try_from(self.profiles)
            .unwrap_or(usize::MAX)
            .div_ceil(n)
            .max(1);
        let mut ids = Vec::with_capacity(n.min(self.profiles as usize));
        let mut offset = HEADER_LEN;
        let mut i = 0usize;
        while offset < self.index_at && ids.len() < n {
            let (raw, next) = self.raw_at(offset)?;
            if i.is_multiple_of(step) {
                let value = self.plaintext(raw)?;
                ids.push(codec::stored_id(&value).map_err(self.corrupt())?.to_owned());
            }
            offset = next;
            i += 1;
        }
        Ok(ids)
    }

    /// Entries of the store's name dictionary, and the bytes of their text (in memory).
    pub fn dictionary_size(&self) -> (usize, usize) {
        (self.dictionary.len(), self.dictionary.text_bytes())
    }

    /// Age of the snapshot's data at `now_ms`, in seconds.
    pub fn age_seconds(&self, now_ms: i64) -> i64 {
        (now_ms - self.header.generated_at_ms).max(0) / 1000
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProfileStore {
    fn drop(&mut self) {
        // A replaced snapshot's file goes once its last reader is done.
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), %error, "could not remove a replaced profile store");
        }
    }
}

#[cfg(test)]
mod tests;
