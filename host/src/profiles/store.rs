//! The snapshot store on disk: redb, one file per loaded snapshot.
//!
//! redb is an embedded, crash-safe (copy-on-write B-trees, checksummed commits) key-value store
//! in pure Rust: no server, no C toolchain, one file a kiosk can hold for one store's customers
//! and an edge PoP for millions, with reads that need no lock against the writer.
//!
//! With a data key the store is encrypted: its keys are keyed hashes of the customer ids and
//! its values sealed (AES-256-GCM, each bound to its key), under keys of its own derived from
//! the data key and a fresh salt. The store is rebuilt from the snapshot at every start, so the
//! salt lives only in memory and the file is unreadable once the process is gone, even with the
//! data key.

use super::snapshot::{self, SnapshotError, SnapshotHeader};
use crate::privacy::{CipherError, DataKey, StoreCipher};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use tailor_types::Profile;

const PROFILES: TableDefinition<&str, &[u8]> = TableDefinition::new("profiles");

/// Profiles per write transaction while importing.
const BATCH: usize = 10_000;

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
    #[error("profile store {path}")]
    Database {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("a profile cannot be encoded for the store")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Events(#[from] super::events::EventLogError),
    #[error("profile store {path}")]
    Cipher {
        path: PathBuf,
        #[source]
        source: CipherError,
    },
    #[error("a profile in the store cannot be decoded")]
    Corrupt {
        #[source]
        source: serde_json::Error,
    },
}

/// Maps a redb failure on the store at `path`.
fn database<E: Into<redb::Error>>(path: &Path) -> impl FnOnce(E) -> StoreError + '_ {
    move |e| StoreError::Database {
        path: path.to_owned(),
        source: Box::new(e.into()),
    }
}

/// One loaded snapshot on disk.
#[derive(Debug)]
pub struct ProfileStore {
    db: Database,
    path: PathBuf,
    pub header: SnapshotHeader,
    pub profiles: u64,
    pub file_bytes: u64,
    /// When this node finished loading it, ms since the Unix epoch.
    pub loaded_at_ms: i64,
    /// Its cipher, when it is encrypted at rest.
    cipher: Option<StoreCipher>,
}

impl ProfileStore {
    /// Imports a snapshot file into a new store file under `dir` (encrypted with `key`),
    /// calling `seen` with every customer id it holds.
    pub fn build_from_file(
        dir: &Path,
        snapshot_path: &Path,
        key: Option<&DataKey>,
        mut seen: impl FnMut(&str),
    ) -> Result<ProfileStore, StoreError> {
        let (header, profiles) = snapshot::open(snapshot_path, key)?;
        let safe: String = header
            .snapshot_version
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let name = format!("profiles-{safe}-{}.redb", crate::clock::now_ms());
        let path = dir.join(&name);
        let cipher = key
            .map(|key| StoreCipher::new(key, &name).map(|(cipher, _)| cipher))
            .transpose()
            .map_err(|source| StoreError::Cipher {
                path: path.clone(),
                source,
            })?;
        let db = redb::Builder::new()
            .set_cache_size(crate::profiles::PROFILE_STORE_CACHE_BYTES)
            .create(&path)
            .map_err(database(&path))?;
        let count = match import(&db, &path, cipher.as_ref(), profiles, &mut seen) {
            Ok(count) => count,
            Err(error) => {
                // A snapshot that fails part way (a bad line, a damaged sealed chunk) leaves
                // no half-built store behind.
                drop(db);
                if let Err(error) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), %error, "could not remove a half-built profile store");
                }
                return Err(error);
            }
        };
        let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(ProfileStore {
            db,
            path,
            header,
            profiles: count,
            file_bytes,
            loaded_at_ms: crate::clock::now_ms(),
            cipher,
        })
    }

    /// Whether the store is encrypted at rest.
    pub fn encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// A stored value as the profile it holds.
    fn decode(&self, key: &str, bytes: &[u8]) -> Result<Profile, StoreError> {
        let opened;
        let bytes = match &self.cipher {
            Some(cipher) => {
                opened =
                    cipher
                        .open(key.as_bytes(), bytes)
                        .map_err(|source| StoreError::Cipher {
                            path: self.path.clone(),
                            source,
                        })?;
                opened.as_slice()
            }
            None => bytes,
        };
        serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { source })
    }

    /// A customer's profile, if the snapshot has it.
    pub fn get(&self, customer_id: &str) -> Result<Option<Profile>, StoreError> {
        let txn = self.db.begin_read().map_err(database(&self.path))?;
        let table = txn.open_table(PROFILES).map_err(database(&self.path))?;
        let key = stored_id(self.cipher.as_ref(), customer_id);
        let Some(bytes) = table.get(key.as_ref()).map_err(database(&self.path))? else {
            return Ok(None);
        };
        self.decode(&key, bytes.value()).map(Some)
    }

    /// Whether the snapshot holds a customer (without decoding the profile).
    pub fn contains(&self, customer_id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(database(&self.path))?;
        let table = txn.open_table(PROFILES).map_err(database(&self.path))?;
        let key = stored_id(self.cipher.as_ref(), customer_id);
        Ok(table
            .get(key.as_ref())
            .map_err(database(&self.path))?
            .is_some())
    }

    /// Up to `n` customer ids spread evenly over the store's key order (every
    /// `profiles / n`-th one): a sample that is the same for the same store, so two previews of
    /// one draft compare like with like.
    pub fn sample_ids(&self, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(database(&self.path))?;
        let table = txn.open_table(PROFILES).map_err(database(&self.path))?;
        let step = usize::try_from(self.profiles)
            .unwrap_or(usize::MAX)
            .div_ceil(n)
            .max(1);
        let mut ids = Vec::with_capacity(n.min(self.profiles as usize));
        for (i, entry) in table.iter().map_err(database(&self.path))?.enumerate() {
            if i % step != 0 {
                continue;
            }
            let (key, value) = entry.map_err(database(&self.path))?;
            // An encrypted store's keys are hashes: the id is in the value.
            let id = match self.cipher {
                None => key.value().to_owned(),
                Some(_) => self
                    .decode(key.value(), value.value())?
                    .customer_id
                    .unwrap_or_default(),
            };
            ids.push(id);
            if ids.len() == n {
                break;
            }
        }
        Ok(ids)
    }

    /// Age of the snapshot's data at `now_ms`, in seconds.
    pub fn age_seconds(&self, now_ms: i64) -> i64 {
        (now_ms - self.header.generated_at_ms).max(0) / 1000
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Imports the snapshot's profiles into `db`, returning how many it holds.
fn import(
    db: &Database,
    path: &Path,
    cipher: Option<&StoreCipher>,
    profiles: impl Iterator<Item = Result<Profile, SnapshotError>>,
    seen: &mut impl FnMut(&str),
) -> Result<u64, StoreError> {
    let mut count = 0u64;
    let mut profiles = profiles.peekable();
    while profiles.peek().is_some() {
        let txn = db.begin_write().map_err(database(path))?;
        {
            let mut table = txn.open_table(PROFILES).map_err(database(path))?;
            for profile in profiles.by_ref().take(BATCH) {
                let profile = profile?;
                let id = profile.customer_id.as_deref().unwrap_or_default();
                seen(id);
                let bytes =
                    serde_json::to_vec(&profile).map_err(|source| StoreError::Encode { source })?;
                let key = stored_id(cipher, id);
                let bytes = match cipher {
                    Some(cipher) => cipher.seal(key.as_bytes(), &bytes).map_err(|source| {
                        StoreError::Cipher {
                            path: path.to_owned(),
                            source,
                        }
                    })?,
                    None => bytes,
                };
                table
                    .insert(key.as_ref(), bytes.as_slice())
                    .map_err(database(path))?;
                count += 1;
            }
        }
        txn.commit().map_err(database(path))?;
    }
    // An empty snapshot still gets its (empty) table.
    let txn = db.begin_write().map_err(database(path))?;
    txn.open_table(PROFILES).map_err(database(path))?;
    txn.commit().map_err(database(path))?;
    Ok(count)
}

/// A customer id as the store's keys hold it: a keyed hash when it is encrypted.
fn stored_id<'a>(cipher: Option<&StoreCipher>, id: &'a str) -> Cow<'a, str> {
    match cipher {
        Some(cipher) => Cow::Owned(cipher.id_hash_hex(id)),
        None => Cow::Borrowed(id),
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
