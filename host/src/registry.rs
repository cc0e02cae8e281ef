//! The policies a node serves, by name, each with the digest of its component and config.

use crate::engine::{Engine, LoadError, LoadedPolicy, PolicySource};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One servable policy version.
#[derive(Debug)]
pub struct PolicyVersion {
    pub loaded: LoadedPolicy,
    /// `sha256:<hex>` over the component bytes, a zero byte and the config bytes.
    pub digest: String,
}

/// Digest of a policy version: what decision logs and responses name it by.
pub fn digest(component: &[u8], config: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(component);
    hasher.update([0u8]);
    hasher.update(config.unwrap_or_default().as_bytes());
    let bytes = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Active policy versions by name.
#[derive(Debug, Default)]
pub struct Registry {
    active: RwLock<HashMap<String, Arc<PolicyVersion>>>,
}

impl Registry {
    /// Validates, compiles and activates a policy version under its name.
    pub fn load(
        &self,
        engine: &Engine,
        source: PolicySource<'_>,
    ) -> Result<Arc<PolicyVersion>, LoadError> {
        let digest = digest(source.component, source.config);
        let name = source.name.to_owned();
        let loaded = engine.load(source)?;
        let version = Arc::new(PolicyVersion { loaded, digest });
        let mut active = self
            .active
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        active.insert(name, version.clone());
        Ok(version)
    }

    /// The active version of a policy.
    pub fn get(&self, name: &str) -> Option<Arc<PolicyVersion>> {
        self.active
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .cloned()
    }

    /// Names and digests of every active policy, sorted by name.
    pub fn list(&self) -> Vec<(String, String)> {
        let active = self
            .active
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out: Vec<(String, String)> = active
            .iter()
            .map(|(n, v)| (n.clone(), v.digest.clone()))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_covers_component_and_config() {
        let a = digest(b"wasm", Some("{}"));
        assert!(a.starts_with("sha256:") && a.len() == 71);
        assert_ne!(a, digest(b"wasm", Some("{ }")));
        assert_ne!(a, digest(b"wasm2", Some("{}")));
        assert_eq!(digest(b"wasm", None), digest(b"wasm", Some("")));
    }
}
