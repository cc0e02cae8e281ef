//! Loading a policy version: compile once, validate, keep an `InstancePre` for fresh instances.

use super::bindings::Prepared;
use super::{ConfigDocument, Engine, Limits, LoadError, imports};
use std::sync::Arc;
use wasmtime::component::Component;

/// Hex digits of [`Engine::compatibility_key`].
const COMPATIBILITY_KEY_LEN: usize = 32;

/// A policy version to load: its component bytes and optional JSON config.
#[derive(Debug, Clone)]
pub struct PolicySource<'a> {
    pub name: &'a str,
    pub component: &'a [u8],
    pub config: Option<&'a str>,
    /// Limits for this policy; `None` takes the engine's defaults.
    pub limits: Option<Limits>,
}

/// A compiled, validated policy version, ready to run decisions. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPolicy {
    pub(crate) name: Arc<str>,
    pub(crate) pre: Prepared,
    pub(crate) config: Arc<ConfigDocument>,
    pub(crate) limits: Limits,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl LoadedPolicy {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn config(&self) -> &ConfigDocument {
        &self.config
    }

    /// The contract version the component implements.
    pub fn contract(&self) -> super::Contract {
        self.pre.contract()
    }
}

impl LoadedPolicy {
    /// The same compiled component under another config document (a config-only change):
    /// no compilation, only the new document is parsed and checked.
    pub fn with_config(&self, config: Option<&str>) -> Result<LoadedPolicy, LoadError> {
        Ok(LoadedPolicy {
            config: Arc::new(parse_config(&self.name, config)?),
            ..self.clone()
        })
    }
}

fn parse_config(name: &str, config: Option<&str>) -> Result<ConfigDocument, LoadError> {
    match config {
        Some(text) => ConfigDocument::parse(text).map_err(|reason| LoadError::InvalidConfig {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(ConfigDocument::empty()),
    }
}

impl Engine {
    /// Compiles and validates a policy version. A component that is not a component, imports
    /// anything beyond the contract, or does not export the contract's `decide` is refused with
    /// an error that names the problem; nothing of it runs.
    pub fn load(&self, source: PolicySource<'_>) -> Result<LoadedPolicy, LoadError> {
        let component = self.compile(source.name, source.component)?;
        self.prepare(source.name, &component, source.config, source.limits)
    }

    /// Compiles component bytes (the slow step: tens of milliseconds for a typical policy).
    pub fn compile(&self, name: &str, bytes: &[u8]) -> Result<Component, LoadError> {
        Component::new(&self.inner.wasmtime, bytes).map_err(|source| LoadError::NotAComponent {
            name: name.to_owned(),
            source,
        })
    }

    /// Loads machine code this engine build produced earlier with [`Component::serialize`].
    ///
    /// wasmtime runs precompiled code as it is, so this is crate-private and called from one
    /// place: the policy store's precompiled cache, whose files are named by the sha256 of the
    /// component they were compiled from, checked against a checksum, and used only after that
    /// component passed the digest and signature checks.
    #[expect(
        unsafe_code,
        reason = "the one place precompiled code is loaded; the policy store vouches for it"
    )]
    pub(crate) fn deserialize_trusted(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Component, LoadError> {
        // SAFETY: see above; the bytes come from this node's own store, written by this engine
        // build (the cache key includes `compatibility_key`) and integrity-checked on read.
        unsafe { Component::deserialize(&self.inner.wasmtime, bytes) }.map_err(|source| {
            LoadError::NotAComponent {
                name: name.to_owned(),
                source,
            }
        })
    }

    /// A hash that changes whenever precompiled components stop being loadable by this engine
    /// (wasmtime version, target, compilation settings): the key of the precompiled cache.
    ///
    /// SHA-256 (not `DefaultHasher`, whose algorithm may change between Rust releases) over what
    /// wasmtime hashes, as 32 hex digits: the same engine build always finds its own artifacts.
    pub fn compatibility_key(&self) -> String {
        use std::hash::Hash;
        let mut hasher = crate::digest::StableHasher::default();
        self.inner
            .wasmtime
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        let mut key = hasher.finish_hex();
        key.truncate(COMPATIBILITY_KEY_LEN);
        key
    }

    /// Validates a compiled component against the contract and readies it for fresh instances.
    pub fn prepare(
        &self,
        name: &str,
        component: &Component,
        config: Option<&str>,
        limits: Option<Limits>,
    ) -> Result<LoadedPolicy, LoadError> {
        let limits = limits.unwrap_or(self.inner.config.default_limits);
        limits
            .validate(self.inner.config.max_memory_bytes_ceiling)
            .map_err(|source| LoadError::InvalidLimits {
                name: name.to_owned(),
                source,
            })?;
        let config = parse_config(name, config)?;
        imports::check(name, component, &self.inner.wasmtime)?;
        let wrong_world = |source| LoadError::WrongWorld {
            name: name.to_owned(),
            source,
        };
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(component)
            .map_err(wrong_world)?;
        let pre = Prepared::new(instance_pre).map_err(wrong_world)?;
        Ok(LoadedPolicy {
            name: name.into(),
            pre,
            config: Arc::new(config),
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    #[test]
    fn the_compatibility_key_is_stable_hex() {
        let engine = || {
            Engine::new(EngineConfig {
                max_concurrent_decisions: 2,
                ..EngineConfig::default()
            })
            .unwrap()
        };
        let key = engine().compatibility_key();
        assert_eq!(key.len(), COMPATIBILITY_KEY_LEN);
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        // Another engine with the same build and settings finds the same artifacts.
        assert_eq!(key, engine().compatibility_key());
    }
}
