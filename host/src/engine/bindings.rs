//! The host side of the `tailor:policy@0.1.0` contract: generated bindings (private) and the
//! host functions a policy may call.

use super::state::DecisionState;
use wasmtime::component::{HasSelf, Linker};

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/policy-0.1.0",
        world: "tailor:policy/policy@0.1.0",
        // The contract's records are the shared `tailor-types`, lowered without conversion.
        with: {
            "tailor:policy/types": crate::engine::bindings::contract_types,
            "tailor:policy/customer.profile": crate::engine::state::ProfileHandle,
        },
    });
}

/// The `types` interface of the contract, mapped onto `tailor-types` (whose derives match the
/// WIT records field for field; wasmtime type-checks them when a policy is loaded). The interface
/// has no functions, so its `Host` side is empty.
pub mod contract_types {
    pub use tailor_types::*;

    pub trait Host {}
    impl<T: ?Sized> Host for T {}
    pub trait HostWithStore<T>: wasmtime::component::HasData {}
    impl<H: ?Sized + wasmtime::component::HasData, T> HostWithStore<T> for H {}

    pub fn add_to_linker<T, D>(
        _linker: &mut wasmtime::component::Linker<T>,
        _host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: HostWithStore<T>,
    {
        Ok(())
    }
}

use super::state::ProfileHandle;
use generated::tailor::policy::customer;
use generated::tailor::policy::host::{self, ConfigValue, LogLevel};
pub(crate) use generated::{Policy as PolicyBindings, PolicyPre};
use tailor_types::{Consent, Event, Loyalty, Value};
use wasmtime::component::Resource;

pub(crate) fn add_to_linker(linker: &mut Linker<DecisionState>) -> wasmtime::Result<()> {
    generated::Policy::add_to_linker::<DecisionState, HasSelf<DecisionState>>(linker, |state| state)
}

impl host::Host for DecisionState {
    fn log(&mut self, level: LogLevel, message: String) {
        if self.log_lines >= self.limits.max_log_lines {
            self.log_dropped += 1;
            return;
        }
        self.log_lines += 1;
        let mut message = message;
        if message.len() > self.limits.max_log_line_bytes {
            let mut cut = self.limits.max_log_line_bytes;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let policy = &*self.policy;
        match level {
            LogLevel::Trace => tracing::trace!(target: "tailor::policy", policy, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "tailor::policy", policy, "{message}"),
            LogLevel::Info => tracing::info!(target: "tailor::policy", policy, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "tailor::policy", policy, "{message}"),
            LogLevel::Error => tracing::error!(target: "tailor::policy", policy, "{message}"),
        }
    }

    fn config_get(&mut self, pointer: String) -> Option<ConfigValue> {
        use super::config_doc::ConfigNode;
        self.config.get(&pointer).map(|node| match node {
            ConfigNode::Null => ConfigValue::Null,
            ConfigNode::Boolean(b) => ConfigValue::Boolean(*b),
            ConfigNode::Number(n) => ConfigValue::Number(*n),
            ConfigNode::Text(s) => ConfigValue::Text(s.clone()),
            ConfigNode::Array(items) => {
                ConfigValue::Array(items.len().try_into().unwrap_or(u32::MAX))
            }
            ConfigNode::Object(object) => ConfigValue::Object(object.keys().to_vec()),
        })
    }

    fn config_json(&mut self, pointer: String) -> Option<String> {
        self.config.get_json(&pointer)
    }
}

/// The decision's profile snapshot, lent to the policy as the `customer.profile` resource. There
/// is one per decision (handle 0); every accessor reads the shared snapshot without copying
/// more than it returns.
impl customer::HostProfile for DecisionState {
    fn customer_id(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.customer_id.clone()
    }

    fn segments(&mut self, _: Resource<ProfileHandle>) -> Vec<String> {
        self.profile.segments.clone()
    }

    fn in_segment(&mut self, _: Resource<ProfileHandle>, segment: String) -> bool {
        self.profile.in_segment(&segment)
    }

    fn get_trait(&mut self, _: Resource<ProfileHandle>, key: String) -> Option<Value> {
        self.profile.trait_value(&key).cloned()
    }

    fn traits(&mut self, _: Resource<ProfileHandle>) -> Vec<(String, Value)> {
        self.profile.traits.clone()
    }

    fn loyalty(&mut self, _: Resource<ProfileHandle>) -> Option<Loyalty> {
        self.profile.loyalty.clone()
    }

    fn consent(&mut self, _: Resource<ProfileHandle>) -> Consent {
        self.profile.consent
    }

    fn recent_events(&mut self, _: Resource<ProfileHandle>, limit: u32) -> Vec<Event> {
        self.profile
            .recent_events
            .iter()
            .take(limit as usize)
            .cloned()
            .collect()
    }

    fn affinity(&mut self, _: Resource<ProfileHandle>, category: String) -> Option<f64> {
        tailor_types::lookup(&self.profile.affinities, &category).copied()
    }

    fn affinities(&mut self, _: Resource<ProfileHandle>) -> Vec<(String, f64)> {
        self.profile.affinities.clone()
    }

    fn drop(&mut self, _: Resource<ProfileHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl customer::Host for DecisionState {}
