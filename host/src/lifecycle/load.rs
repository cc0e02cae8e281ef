//! Turning stored versions into servable ones: the precompiled cache, and restoring the last
//! committed set at start.

use super::{Lifecycle, PublishError, RestoreError, StoreState, VersionRecord};
use crate::engine::LoadedPolicy;
use crate::registry::{Canary, Entry, PolicyVersion};
use std::sync::Arc;
use std::time::Instant;

impl Lifecycle {
    /// Compiles a component, or loads its machine code from the precompiled cache when this
    /// engine build compiled it before; then validates it against the contract.
    pub(super) fn load_component(
        &self,
        name: &str,
        component: &[u8],
        config: Option<&str>,
    ) -> Result<(LoadedPolicy, bool), PublishError> {
        let component_id = crate::digest::sha256(component);
        let engine_key = self.engine.compatibility_key();
        if let Some(bytes) = self.store.get_precompiled(&component_id, &engine_key) {
            // `component` passed the digest (and, where required, signature) checks before
            // this point; the cached code is named by its sha256 and checksummed.
            match self.engine.deserialize_trusted(name, &bytes) {
                Ok(compiled) => {
                    let loaded = self.engine.prepare(name, &compiled, config, None)?;
                    return Ok((loaded, true));
                }
                Err(error) => {
                    tracing::warn!(policy = name, %error, "precompiled artifact unusable; compiling");
                }
            }
        }
        let compiled = self.engine.compile(name, component)?;
        let loaded = self.engine.prepare(name, &compiled, config, None)?;
        match compiled.serialize() {
            Ok(bytes) => self
                .store
                .put_precompiled(&component_id, &engine_key, &bytes),
            Err(error) => tracing::warn!(policy = name, %error, "cannot serialize compiled policy"),
        }
        Ok((loaded, false))
    }

    /// A stored version, checked (digest, and signature where required) and loaded.
    fn load_stored(
        &self,
        name: &str,
        version: &VersionRecord,
        share: crate::scheduler::Share,
    ) -> Result<PolicyVersion, String> {
        let chain = |e: &dyn std::error::Error| crate::report::chain(e);
        let artifact = self.store.get(&version.digest).map_err(|e| chain(&e))?;
        if self.config.require_signatures {
            self.config
                .trusted_keys
                .verify(
                    &artifact.manifest.digest,
                    artifact.manifest.signature.as_deref(),
                )
                .map_err(|e| chain(&e))?;
        }
        let (loaded, _) = self
            .load_component(name, &artifact.component, artifact.config.as_deref())
            .map_err(|e| chain(&e))?;
        Ok(PolicyVersion::new(loaded, artifact.manifest.digest, share))
    }

    /// Serves the committed state. A version that cannot be loaded (corrupt, no longer trusted)
    /// is replaced by the newest earlier one that can, and the state says so.
    pub(super) fn restore(&self) -> Result<(), RestoreError> {
        let started = Instant::now();
        let changing = self.lock_changes();
        let mut next = StoreState::clone(&self.state());
        let mut changed = false;
        let mut dropped = Vec::new();
        for (name, record) in next.policies.iter_mut() {
            let share = self.share(record.share.as_ref());
            let mut candidates = std::iter::once(record.active.clone())
                .chain(record.previous.iter().cloned())
                .enumerate();
            let active = loop {
                let Some((skipped, version)) = candidates.next() else {
                    break None;
                };
                match self.load_stored(name, &version, share) {
                    Ok(loaded) => break Some((skipped, version, loaded)),
                    Err(error) => tracing::error!(
                        policy = %name, digest = %version.digest, %error,
                        "stored policy version cannot be served; trying the one before it"
                    ),
                }
            };
            let Some((skipped, version, loaded)) = active else {
                tracing::error!(policy = %name, "no stored version of this policy can be served");
                dropped.push(name.clone());
                continue;
            };
            if skipped > 0 {
                changed = true;
                record.previous.drain(..skipped);
                record.active = version;
                record.canary = None;
            }
            let canary = record.canary.as_ref().and_then(|c| {
                match self.load_stored(name, &c.version, share) {
                    Ok(loaded) => Some(Canary {
                        version: Arc::new(loaded),
                        percent: c.percent,
                    }),
                    Err(error) => {
                        tracing::error!(policy = %name, %error, "canary cannot be served; dropped");
                        None
                    }
                }
            });
            if record.canary.is_some() && canary.is_none() {
                record.canary = None;
                changed = true;
            }
            self.registry.install(
                name,
                Entry {
                    active: Arc::new(loaded),
                    canary,
                },
            );
            self.record_delivery(name, record);
        }
        for name in &dropped {
            next.policies.remove(name);
            changed = true;
        }
        // Unchanged, `next` is the state loaded at start.
        let state = if changed {
            self.commit(&changing, next, None)?
        } else {
            self.state()
        };
        self.store
            .sweep_precompiled(&state, &self.engine.compatibility_key());
        tracing::info!(
            policies = self.registry.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "policies restored from the store"
        );
        Ok(())
    }
}
