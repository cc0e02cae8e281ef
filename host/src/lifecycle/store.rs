//! The policy store on disk: content-addressed objects, one manifest per version, the committed
//! set of every policy in one file, and the precompiled-artifact cache.
//!
//! ```text
//! <root>/objects/sha256/<hex>                 component and config bytes, by their own sha256
//! <root>/versions/<hex>.json                  a version: its component, config and signature
//! <root>/state.json                           the committed set (active, canary, rollback list)
//! <root>/precompiled/<component>-<engine>.cwasm  machine code for (component, engine build)
//! ```
//!
//! Every file is written to a temporary name, flushed, renamed into place and its directory
//! flushed, and objects and manifests are written before the state that names them. A kill -9
//! at any point therefore leaves either the old state or the new one, each complete.

use super::state::StoreState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    #[error("policy store: {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
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

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The store's directory.
#[derive(Debug)]
pub struct PolicyStore {
    root: PathBuf,
}

static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl PolicyStore {
    /// Opens (creating it if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<PolicyStore> {
        for dir in ["objects/sha256", "versions", "precompiled"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
                what: "creating",
                path,
                source,
            })?;
        }
        Ok(PolicyStore { root: root.into() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The committed state; empty for a new store.
    pub fn load_state(&self) -> Result<StoreState> {
        let path = self.root.join("state.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreState::default()),
            Err(source) => Err(StoreError::Io {
                what: "reading",
                path,
                source,
            }),
        }
    }

    /// Makes `state` the committed state, durably and atomically.
    pub fn commit(&self, state: &StoreState) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Corrupt {
            path: self.root.join("state.json"),
            reason: e.to_string(),
        })?;
        write_atomic(&self.root.join("state.json"), &bytes)
    }

    /// Stores a version's bytes and manifest (idempotent). Call before committing a state
    /// that names the version.
    pub fn put(
        &self,
        component: &[u8],
        config: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Manifest> {
        let manifest = Manifest {
            digest: crate::registry::digest(component, config),
            component: self.put_object(component)?,
            config: config.map(|c| self.put_object(c.as_bytes())).transpose()?,
            signature: signature.map(str::to_owned),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Corrupt {
            path: self.manifest_path(&manifest.digest),
            reason: e.to_string(),
        })?;
        write_atomic(&self.manifest_path(&manifest.digest), &bytes)?;
        Ok(manifest)
    }

    /// Reads a version back, checking every byte against the digests that name it.
    pub fn get(&self, digest: &str) -> Result<Artifact> {
        let path = self.manifest_path(digest);
        let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
            what: "reading",
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let component = self.get_object(&manifest.component)?;
        let config =
            match &manifest.config {
                Some(id) => Some(String::from_utf8(self.get_object(id)?).map_err(|_| {
                    StoreError::Corrupt {
                        path: self.object_path(id),
                        reason: "config is not UTF-8".into(),
                    }
                })?),
                None => None,
            };
        let actual = crate::registry::digest(&component, config.as_deref());
        if actual != manifest.digest || manifest.digest != digest {
            return Err(StoreError::Corrupt {
                path,
                reason: format!("names {digest} but its contents hash to {actual}"),
            });
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
            tracing::warn!(%error, "precompiled artifact not cached");
        }
    }

    /// Removes objects, manifests and precompiled artifacts that `state` no longer names.
    pub fn collect_garbage(&self, state: &StoreState) {
        let keep_versions: std::collections::HashSet<String> =
            state.digests().map(|d| hex_of(d).to_owned()).collect();
        let mut keep_objects = std::collections::HashSet::new();
        for hex in &keep_versions {
            if let Ok(artifact) = self.get(&format!("sha256:{hex}")) {
                keep_objects.insert(hex_of(&artifact.manifest.component).to_owned());
                if let Some(config) = &artifact.manifest.config {
                    keep_objects.insert(hex_of(config).to_owned());
                }
            }
        }
        let sweep = |dir: PathBuf, keep: &dyn Fn(&str) -> bool| {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !keep(&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        };
        sweep(self.root.join("versions"), &|name| {
            keep_versions.contains(name.trim_end_matches(".json"))
        });
        sweep(self.root.join("objects/sha256"), &|name| {
            keep_objects.contains(name)
        });
        sweep(self.root.join("precompiled"), &|name| {
            keep_objects.contains(name.split('-').next().unwrap_or_default())
        });
    }

    fn put_object(&self, bytes: &[u8]) -> Result<String> {
        let id = sha256(bytes);
        let path = self.object_path(&id);
        if !path.is_file() {
            write_atomic(&path, bytes)?;
        }
        Ok(id)
    }

    fn get_object(&self, id: &str) -> Result<Vec<u8>> {
        let path = self.object_path(id);
        let bytes = std::fs::read(&path).map_err(|source| StoreError::Io {
            what: "reading",
            path: path.clone(),
            source,
        })?;
        if sha256(&bytes) != id {
            return Err(StoreError::Corrupt {
                path,
                reason: "contents do not match the name".into(),
            });
        }
        Ok(bytes)
    }

    fn object_path(&self, id: &str) -> PathBuf {
        self.root.join("objects/sha256").join(hex_of(id))
    }

    fn manifest_path(&self, digest: &str) -> PathBuf {
        self.root
            .join("versions")
            .join(format!("{}.json", hex_of(digest)))
    }

    fn precompiled_path(&self, component: &str, engine_key: &str) -> PathBuf {
        self.root
            .join("precompiled")
            .join(format!("{}-{engine_key}.cwasm", hex_of(component)))
    }
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
    for dir in ["", "objects/sha256", "versions", "precompiled"] {
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

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tailor-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn versions_round_trip_and_share_objects() {
        let dir = temp_dir("round-trip");
        let store = PolicyStore::open(&dir).unwrap();
        let a = store
            .put(b"component", Some("{\"a\":1}"), Some("sig"))
            .unwrap();
        let b = store.put(b"component", Some("{\"a\":2}"), None).unwrap();
        assert_eq!(a.component, b.component);
        assert_ne!(a.digest, b.digest);
        let back = store.get(&a.digest).unwrap();
        assert_eq!(back.component, b"component");
        assert_eq!(back.config.as_deref(), Some("{\"a\":1}"));
        assert_eq!(back.manifest.signature.as_deref(), Some("sig"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_object_is_refused() {
        let dir = temp_dir("corrupt");
        let store = PolicyStore::open(&dir).unwrap();
        let m = store.put(b"component", None, None).unwrap();
        std::fs::write(store.object_path(&m.component), b"tampered").unwrap();
        let error = store.get(&m.digest).unwrap_err().to_string();
        assert!(error.contains("corrupt"), "{error}");
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
}
