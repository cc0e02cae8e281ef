//! Loading a policy version: compile once, validate, keep an `InstancePre` for fresh instances.

use super::bindings::PolicyPre;
use super::state::DecisionState;
use super::{ConfigDocument, Engine, Limits, LoadError, imports};
use std::sync::Arc;
use wasmtime::component::Component;

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
    pub(crate) pre: PolicyPre<DecisionState>,
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
}

impl Engine {
    /// Compiles and validates a policy version. A component that is not a component, imports
    /// anything beyond the contract, or does not export the contract's `decide` is refused with
    /// an error that names the problem; nothing of it runs.
    pub fn load(&self, source: PolicySource<'_>) -> Result<LoadedPolicy, LoadError> {
        let name = source.name;
        let limits = source.limits.unwrap_or(self.inner.config.default_limits);
        limits
            .validate(self.inner.config.max_memory_bytes_ceiling)
            .map_err(|source| LoadError::InvalidLimits {
                name: name.to_owned(),
                source,
            })?;
        let config = match source.config {
            Some(text) => {
                ConfigDocument::parse(text).map_err(|reason| LoadError::InvalidConfig {
                    name: name.to_owned(),
                    reason,
                })?
            }
            None => ConfigDocument::empty(),
        };
        let component =
            Component::new(&self.inner.wasmtime, source.component).map_err(|source| {
                LoadError::NotAComponent {
                    name: name.to_owned(),
                    source,
                }
            })?;
        imports::check(name, &component, &self.inner.wasmtime)?;
        let wrong_world = |source| LoadError::WrongWorld {
            name: name.to_owned(),
            source,
        };
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = PolicyPre::new(instance_pre).map_err(wrong_world)?;
        Ok(LoadedPolicy {
            name: name.into(),
            pre,
            config: Arc::new(config),
            limits,
        })
    }
}
