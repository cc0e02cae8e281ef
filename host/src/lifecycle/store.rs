//! The policy store on disk: one redb database holding content-addressed objects (component and
//! config bytes by their sha256), one manifest per version, and the committed set of every
//! policy; beside it, the precompiled-artifact cache.
//!
//! ```text
//! <root>/policies.redb                            objects, versions, state
//! <root>/precompiled/<component>-<engine>.cwasm   machine code for (component, engine build)
//! ```
//!
//! A change (new objects, its manifest and the new state) is one redb write transaction,
//! committed with fsync before it is served: a kill -9 at any point leaves the old state or the
//! new one, each complete. redb was chosen for the same reasons as for the profile store:
//! embedded, crash-safe with checksummed commits, pure Rust; one commit costs one durable write
//! where a file per object would cost one each.

use super::state::StoreState;
use crate::digest::{hex_part, sha256};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Component and config bytes by `sha256:<hex>`.
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// Version manifests (JSON) by digest.
const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("versions");
/// The committed state (JSON) under [`STATE_KEY`].
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
const STATE_KEY: &str = "state";

/// A store operation failed; names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("policy store: {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("policy store {}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("policy store {}: {what} is corrupt", path.display())]
    Decode {
        path: PathBuf,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("policy store {}: {what} cannot be encoded", path.display())]
    Encode {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("policy store {}: {what} is corrupt: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        what: String,
        reason: String,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// A policy version as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `sha256:<hex>` of component and config together (see [`crate::registry::digest`]).
    pub digest: String,
    /// `sha256:<hex>` of the component bytes.
    pub component: String,
    /// `sha256:<hex>` of the config bytes, when the version has a config.
    pub config: Option<String>,
    /// The signature text it was published with.
    pub signature: Option<String>,
}

/// The bytes of a version, read back and checked against its manifest.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Manifest,
    pub component: Vec<u8>,
    pub config: Option<String>,
}

/// redb's page cache for the policy store: versions are read at start and on rollback only.
const CACHE_BYTES: usize = 8 << 20;

fn open_database(path: &Path) -> std::result::Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
}

/// Whether redb refused the file for its contents (not a redb file, or corrupt), rather than
/// for a lock or an I/O failure that may pass.
fn unreadable(error: &redb::DatabaseError) -> bool {
    match error {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)) => true,
        // A file cut short (a truncated copy, a full disk) reads past its end.
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// A version to add in a commit.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub component: &'a [u8],
    pub config: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// The store.
#[derive(Debug)]
pub struct PolicyStore {
    root: PathBuf,
    db: Database,
}

static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl PolicyStore {
    /// Opens (creating it if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<PolicyStore> {
        let precompiled = root.join("precompiled");
        std::fs::create_dir_all(&precompiled).map_err(|source| StoreError::Io {
            what: "creating",
            path: precompiled,
            source,
        })?;
        let path = root.join("policies.redb");
        let db = match open_database(&path) {
            Ok(db) => db,
            // Unreadable as a database (not merely locked by another process): keep it aside
            // for inspection and start from an empty store rather than not at all. The node
            // says so; what it then serves comes from seeding, a followed tag or the watched
            // directory.
            Err(error) if unreadable(&error) => {
                let reason = error.to_string();
                let aside = root.join(format!("policies.redb.corrupt-{}", crate::clock::now_ms()));
                tracing::error!(
                    path = %path.display(), aside = %aside.display(), %reason,
                    "the policy store is corrupt; it was moved aside and an empty store started"
                );
                std::fs::rename(&path, &aside).map_err(|source| StoreError::Io {
                    what: "moving aside",
                    path: path.clone(),
                    source,
                })?;
                open_database(&path)
            }
            .map_err(|e| StoreError::Database {
                path: path.clone(),
                source: Box::new(e.into()),
            })?,
            Err(e) => {
                return Err(StoreError::Database {
                    path,
                    source: Box::new(e.into()),
                });
            }
        };
        let store = PolicyStore {
            root: root.into(),
            db,
        };
        // Create the tables so readers never find them missing.
        store.write(|_| Ok(()))?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn error(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.root.join("policies.redb"),
            source: Box::new(e.into()),
        }
    }

    fn decode(&self, what: impl Into<String>, source: serde_json::Error) -> StoreError {
        StoreError::Decode {
            path: self.root.join("policies.redb"),
            what: what.into(),
            source,
        }
    }

    fn encode(&self, what: &'static str, source: serde_json::Error) -> StoreError {
        StoreError::Encode {
            path: self.root.join("policies.redb"),
            what,
            source,
        }
    }

    fn corrupt(&self, what: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.root.join("policies.redb"),
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// One durable write transaction over the three tables.
    fn write<R>(&self, f: impl FnOnce(&mut Tables<'_>) -> Result<R>) -> Result<R> {
        let mut txn = self.db.begin_write().map_err(|e| self.error(e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.error(e))?;
        let result = {
            let mut tables = Tables {
                objects: txn.open_table(OBJECTS).map_err(|e| self.error(e))?,
                versions: txn.open_table(VERSIONS).map_err(|e| self.error(e))?,
                state: txn.open_table(STATE).map_err(|e| self.error(e))?,
            };
            f(&mut tables)?
        };
        txn.commit().map_err(|e| self.error(e))?;
        Ok(result)
    }

    /// The committed state; empty for a new store.
    pub fn load_state(&self) -> Result<StoreState> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(STATE).map_err(|e| self.error(e))?;
        match table.get(STATE_KEY).map_err(|e| self.error(e))? {
            Some(bytes) => {
                serde_json::from_slice(bytes.value()).map_err(|e| self.decode("the state", e))
            }
            None => Ok(StoreState::default()),
        }
    }

    /// Makes `state` the committed state, with the bytes and manifest of `added` (which it may
    /// name), in one durable transaction; drops what no state names any more.
    pub fn commit(&self, state: &StoreState, added: Option<NewVersion<'_>>) -> Result<()> {
        let encoded = serde_json::to_vec(state).map_err(|e| self.encode("the new state", e))?;
        self.write(|tables| {
            if let Some(version) = added {
                let manifest = Manifest {
                    digest: crate::registry::digest(version.component, version.config),
                    component: put_object(&mut tables.objects, version.component, self)?,
                    config: version
                        .config
                        .map(|c| put_object(&mut tables.objects, c.as_bytes(), self))
                        .transpose()?,
                    signature: version.signature.map(str::to_owned),
                };
                let bytes =
                    serde_json::to_vec(&manifest).map_err(|e| self.encode("a manifest", e))?;
                tables
                    .versions
                    .insert(manifest.digest.as_str(), bytes.as_slice())
                    .map_err(|e| self.error(e))?;
            }
            tables
                .state
                .insert(STATE_KEY, encoded.as_slice())
                .map_err(|e| self.error(e))?;
            self.collect_garbage(tables, state)
        })
    }

    /// Removes manifests and objects `state` no longer names (in the commit's transaction).
    fn collect_garbage(&self, tables: &mut Tables<'_>, state: &StoreState) -> Result<()> {
        let keep: HashSet<&str> = state.digests().collect();
        let mut drop_versions = Vec::new();
        let mut keep_objects = HashSet::new();
        for entry in tables.versions.iter().map_err(|e| self.error(e))? {
            let (digest, bytes) = entry.map_err(|e| self.error(e))?;
            if keep.contains(digest.value()) {
                let manifest: Manifest = serde_json::from_slice(bytes.value())
                    .map_err(|e| self.decode(format!("manifest {}", digest.value()), e))?;
                keep_objects.insert(manifest.component);
                keep_objects.extend(manifest.config);
            } else {
                drop_versions.push(digest.value().to_owned());
            }
        }
        for digest in drop_versions {
            tables
                .versions
                .remove(digest.as_str())
                .map_err(|e| self.error(e))?;
        }
        let mut drop_objects = Vec::new();
        for entry in tables.objects.iter().map_err(|e| self.error(e))? {
            let (id, _) = entry.map_err(|e| self.error(e))?;
            if !keep_objects.contains(id.value()) {
                drop_objects.push(id.value().to_owned());
            }
        }
        for id in drop_objects {
            tables
                .objects
                .remove(id.as_str())
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Reads a version back, checking every byte against the digests that name it.
    pub fn get(&self, digest: &str) -> Result<Artifact> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let versions = txn.open_table(VERSIONS).map_err(|e| self.error(e))?;
        let objects = txn.open_table(OBJECTS).map_err(|e| self.error(e))?;
        let manifest: Manifest = match versions.get(digest).map_err(|e| self.error(e))? {
            Some(bytes) => serde_json::from_slice(bytes.value())
                .map_err(|e| self.decode(format!("manifest {digest}"), e))?,
            None => return Err(self.corrupt(format!("version {digest}"), "it is missing")),
        };
        let object = |id: &str| -> Result<Vec<u8>> {
            let bytes = objects
                .get(id)
                .map_err(|e| self.error(e))?
                .ok_or_else(|| self.corrupt(format!("object {id}"), "it is missing"))?
                .value()
                .to_vec();
            if sha256(&bytes) != id {
                return Err(self.corrupt(format!("object {id}"), "its bytes do not match its name"));
            }
            Ok(bytes)
        };
        let component = object(&manifest.component)?;
        let config = match &manifest.config {
            Some(id) => Some(
                String::from_utf8(object(id)?)
                    .map_err(|_| self.corrupt(format!("object {id}"), "config is not UTF-8"))?,
            ),
            None => None,
        };
        let actual = crate::registry::digest(&component, config.as_deref());
        if actual != manifest.digest || manifest.digest != digest {
            return Err(self.corrupt(
                format!("version {digest}"),
                format!("its contents hash to {actual}"),
            ));
        }
        Ok(Artifact {
            manifest,
            component,
            config,
        })
    }

    /// Precompiled machine code for a component on an engine build, if cached and intact.
    pub fn get_precompiled(&self, component: &str, engine_key: &str) -> Option<Vec<u8>> {
        let path = self.precompiled_path(component, engine_key);
        let bytes = std::fs::read(&path).ok()?;
        let expected = std::fs::read_to_string(path.with_extension("sha256")).ok()?;
        if sha256(&bytes) == expected.trim() {
            Some(bytes)
        } else {
            tracing::warn!(path = %path.display(), "precompiled artifact does not match its checksum; recompiling");
            None
        }
    }

    /// Caches precompiled machine code (best effort: a failure only costs a later compile).
    pub fn put_precompiled(&self, component: &str, engine_key: &str, bytes: &[u8]) {
        let path = self.precompiled_path(component, engine_key);
        let written = write_atomic(&path, bytes)
            .and_then(|()| write_atomic(&path.with_extension("sha256"), sha256(bytes).as_bytes()));
        if let Err(error) = written {
            tracing::warn!(error = %crate::report::chain(&error), "precompiled artifact not cached");
        }
    }

    /// Removes precompiled artifacts of components `state` no longer names, and those of other
    /// engine builds (an older wasmtime, other settings, an earlier naming of the key): this
    /// build would never look them up.
    pub fn sweep_precompiled(&self, state: &StoreState, engine_key: &str) {
        let mut keep = HashSet::new();
        for digest in state.digests() {
            if let Ok(artifact) = self.get(digest) {
                keep.insert(hex_part(&artifact.manifest.component).to_owned());
            }
        }
        let Ok(entries) = std::fs::read_dir(self.root.join("precompiled")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name
                .rsplit_once('.')
                .map_or(name.as_str(), |(stem, _)| stem);
            let (component, key) = stem.split_once('-').unwrap_or((stem, ""));
            if !keep.contains(component) || key != engine_key {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn precompiled_path(&self, component: &str, engine_key: &str) -> PathBuf {
        self.root
            .join("precompiled")
            .join(format!("{}-{engine_key}.cwasm", hex_part(component)))
    }
}

struct Tables<'txn> {
    objects: redb::Table<'txn, &'static str, &'static [u8]>,
    versions: redb::Table<'txn, &'static str, &'static [u8]>,
    state: redb::Table<'txn, &'static str, &'static [u8]>,
}

fn put_object(
    objects: &mut redb::Table<'_, &'static str, &'static [u8]>,
    bytes: &[u8],
    store: &PolicyStore,
) -> Result<String> {
    let id = sha256(bytes);
    if objects
        .get(id.as_str())
        .map_err(|e| store.error(e))?
        .is_none()
    {
        objects
            .insert(id.as_str(), bytes)
            .map_err(|e| store.error(e))?;
    }
    Ok(id)
}

/// Writes a file so that readers (and a restart after a crash) see the old contents or the new,
/// never a mix: temporary file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { what, path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = File::create(&temp).map_err(io("creating", &temp))?;
    file.write_all(bytes).map_err(io("writing", &temp))?;
    file.sync_all().map_err(io("flushing", &temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io("renaming into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("flushing directory", dir))
}

/// Removes temporary files a crash left behind.
pub(super) fn remove_leftovers(root: &Path) {
    for dir in ["precompiled"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::state::{PolicyRecord, VersionRecord};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tailor-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn naming(digests: &[&str]) -> StoreState {
        let mut state = StoreState::default();
        for (i, digest) in digests.iter().enumerate() {
            let version = VersionRecord {
                digest: (*digest).to_owned(),
                published_at_ms: 0,
                signed_by: None,
            };
            state
                .policies
                .insert(format!("p{i}"), PolicyRecord::new(version));
        }
        state
    }

    fn add<'a>(component: &'a [u8], config: Option<&'a str>) -> Option<NewVersion<'a>> {
        Some(NewVersion {
            component,
            config,
            signature: Some("sig"),
        })
    }

    #[test]
    fn versions_round_trip_share_objects_and_unnamed_ones_are_dropped() {
        let dir = temp_dir("round-trip");
        let store = PolicyStore::open(&dir).unwrap();
        let a = crate::registry::digest(b"component", Some("{\"a\":1}"));
        let b = crate::registry::digest(b"component", Some("{\"a\":2}"));
        store
            .commit(&naming(&[&a]), add(b"component", Some("{\"a\":1}")))
            .unwrap();
        store
            .commit(&naming(&[&a, &b]), add(b"component", Some("{\"a\":2}")))
            .unwrap();
        let back = store.get(&a).unwrap();
        assert_eq!(back.component, b"component");
        assert_eq!(back.config.as_deref(), Some("{\"a\":1}"));
        assert_eq!(back.manifest.signature.as_deref(), Some("sig"));
        assert_eq!(
            back.manifest.component,
            store.get(&b).unwrap().manifest.component
        );
        // Reopened: the committed state and versions are there.
        drop(store);
        let store = PolicyStore::open(&dir).unwrap();
        assert_eq!(store.load_state().unwrap(), naming(&[&a, &b]));
        store.commit(&naming(&[&b]), None).unwrap();
        assert!(store.get(&a).is_err());
        assert!(store.get(&b).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_version_is_named() {
        let dir = temp_dir("missing");
        let store = PolicyStore::open(&dir).unwrap();
        let error = store.get("sha256:00").unwrap_err().to_string();
        assert!(
            error.contains("version sha256:00 is corrupt: it is missing"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn precompiled_bytes_are_checked() {
        let dir = temp_dir("precompiled");
        let store = PolicyStore::open(&dir).unwrap();
        store.put_precompiled("sha256:ab", "k1", b"machine code");
        assert_eq!(
            store.get_precompiled("sha256:ab", "k1").unwrap(),
            b"machine code"
        );
        assert!(store.get_precompiled("sha256:ab", "k2").is_none());
        std::fs::write(store.precompiled_path("sha256:ab", "k1"), b"machine cod3").unwrap();
        assert!(store.get_precompiled("sha256:ab", "k1").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_sweep_keeps_only_named_components_of_this_engine_build() {
        let dir = temp_dir("sweep");
        let store = PolicyStore::open(&dir).unwrap();
        let digest = crate::registry::digest(b"component", None);
        store
            .commit(&naming(&[&digest]), add(b"component", None))
            .unwrap();
        let component = sha256(b"component");
        // An artifact of another engine build (or of the key's earlier naming), one of a
        // component no state names, and the one this build uses.
        store.put_precompiled(&component, "0123456789abcdef", b"old build");
        store.put_precompiled(&sha256(b"gone"), "current", b"unnamed");
        store.put_precompiled(&component, "current", b"machine code");
        store.sweep_precompiled(&store.load_state().unwrap(), "current");
        let mut left: Vec<String> = std::fs::read_dir(dir.join("precompiled"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let hex = hex_part(&component);
        assert_eq!(
            left,
            [
                format!("{hex}-current.cwasm"),
                format!("{hex}-current.sha256")
            ]
        );
        assert_eq!(
            store.get_precompiled(&component, "current").unwrap(),
            b"machine code"
        );
        // A key nothing was cached under is a miss, not an error.
        assert!(
            store
                .get_precompiled(&component, "0123456789abcdef")
                .is_none()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
