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
use generated::PolicyPre;
use generated::tailor::policy::customer;
use generated::tailor::policy::host::{self, ConfigValue, LogLevel};
use tailor_types::{Candidate, Consent, Context, Decision, Event, Loyalty, PolicyError, Value};
use wasmtime::component::{ComponentExportIndex, InstancePre, Resource, TypedFunc};
use wasmtime::{AsContextMut, Store};

/// The contract's `decide` export as wasmtime calls it: borrowed inputs, the policy's result.
type DecideFn<'a> = TypedFunc<
    (&'a Context, Resource<ProfileHandle>, &'a [Candidate]),
    (Result<Decision, PolicyError>,),
>;

/// A policy component linked against the contract and type-checked once, ready for fresh
/// instances.
///
/// The generated `PolicyPre` type-checks `decide` again on every instantiation (a few hundred
/// nanoseconds of a decision that costs a few microseconds). The type of a component's export
/// cannot change between its instances, so this checks it once, here, and afterwards only looks
/// the export up by its pre-resolved index.
#[derive(Clone)]
pub(crate) struct Prepared {
    pre: InstancePre<DecisionState>,
    decide: ComponentExportIndex,
}

/// One fresh instance's `decide`, ready to be called once.
pub(crate) struct Instantiated {
    decide: wasmtime::component::Func,
}

impl Prepared {
    /// Type-checks the component's exports against the contract (the generated check) and
    /// resolves `decide`.
    pub(crate) fn new(pre: InstancePre<DecisionState>) -> wasmtime::Result<Prepared> {
        PolicyPre::new(pre.clone())?;
        let (_, decide) = pre
            .component()
            .get_export(None, "decide")
            .ok_or_else(|| wasmtime::format_err!("no export `decide` found"))?;
        Ok(Prepared { pre, decide })
    }

    /// A fresh instance in `store`.
    pub(crate) fn instantiate(
        &self,
        mut store: &mut Store<DecisionState>,
    ) -> wasmtime::Result<Instantiated> {
        let instance = self.pre.instantiate(&mut store)?;
        let decide = instance
            .get_func(&mut store, self.decide)
            .ok_or_else(|| wasmtime::format_err!("export `decide` is missing"))?;
        Ok(Instantiated { decide })
    }
}

impl Instantiated {
    /// Calls the instance's `decide`.
    #[expect(
        unsafe_code,
        reason = "TypedFunc::new_unchecked on an export type-checked at load; see SAFETY"
    )]
    pub(crate) fn call_decide(
        &self,
        mut store: impl AsContextMut<Data = DecisionState>,
        context: &Context,
        profile: Resource<ProfileHandle>,
        candidates: &[Candidate],
    ) -> wasmtime::Result<Result<Decision, PolicyError>> {
        // SAFETY: `Prepared::new` type-checked this component's `decide` export against exactly
        // this signature (the generated `PolicyPre::new` check), and `self.decide` is that
        // export of an instance of the same component.
        let decide: DecideFn<'_> = unsafe { TypedFunc::new_unchecked(self.decide) };
        let (result,) = decide.call(&mut store, (context, profile, candidates))?;
        Ok(result)
    }
}

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
