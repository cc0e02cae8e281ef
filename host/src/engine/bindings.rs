//! The host side of the `tailor:policy` contract, 0.1.0 and 0.2.0: generated bindings (private) and the
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

/// Contract 0.2.0: 0.1.0's interfaces under the new version, and `decide-page`.
mod generated_v2 {
    wasmtime::component::bindgen!({
        path: "../wit/policy-0.2.0",
        world: "tailor:policy/policy@0.2.0",
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
use tailor_types::{Candidate, Context, Decision, PolicyError};
use wasmtime::component::{ComponentExportIndex, Func, InstancePre, Resource, TypedFunc};
use wasmtime::{AsContextMut, Store};

use generated_v2::ConfigProblem as WitConfigProblem;
pub(crate) use generated_v2::PageSlot;

/// Which version of the contract a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// `tailor:policy@0.1.0`: `decide` only; every slot gets a fresh instance.
    V0_1,
    /// `tailor:policy@0.2.0`: `decide` and `decide-page`.
    V0_2,
}

impl Contract {
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }
}

/// The contract's `decide` export as wasmtime calls it: borrowed inputs, the policy's result.
type DecideFn<'a> = TypedFunc<
    (&'a Context, Resource<ProfileHandle>, &'a [Candidate]),
    (Result<Decision, PolicyError>,),
>;

/// Contract 0.2.0's `decide-page` export as wasmtime calls it.
type DecidePageFn<'a> =
    TypedFunc<(&'a [PageSlot], Resource<ProfileHandle>), (Vec<Result<Decision, PolicyError>>,)>;

/// Contract 0.2.0's `check-config` and `config-schema` exports.
type CheckConfigFn = TypedFunc<(), (Vec<WitConfigProblem>,)>;
type ConfigSchemaFn = TypedFunc<(), (Option<String>,)>;

/// A problem a policy found in its config document (its `check-config` export).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigProblem {
    /// Where in the document, in `rules[3].when` form; empty for the whole document.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A policy component linked against the contract and type-checked once, ready for fresh
/// instances.
///
/// The generated `PolicyPre` type-checks the exports again on every instantiation (a few
/// hundred nanoseconds of a decision that costs a few microseconds). The type of a component's
/// export cannot change between its instances, so this checks them once, here, and afterwards
/// only looks them up by their pre-resolved indices.
#[derive(Clone)]
pub(crate) struct Prepared {
    pre: InstancePre<DecisionState>,
    contract: Contract,
    decide: ComponentExportIndex,
    decide_page: Option<ComponentExportIndex>,
    /// `check-config` and `config-schema` (contract 0.2.0).
    describe: Option<Describe>,
    /// Whether it imports `outcomes` (only then does a decision's store hold the counts).
    reads_outcomes: bool,
}

/// The exports through which a 0.2.0 policy checks and describes its config.
#[derive(Clone, Copy)]
struct Describe {
    check_config: ComponentExportIndex,
    config_schema: ComponentExportIndex,
}

/// One fresh instance's exports, ready to be called.
pub(crate) struct Instantiated {
    decide: Func,
    decide_page: Option<Func>,
}

fn export_index(
    pre: &InstancePre<DecisionState>,
    name: &str,
) -> wasmtime::Result<ComponentExportIndex> {
    pre.component()
        .get_export(None, name)
        .map(|(_, index)| index)
        .ok_or_else(|| wasmtime::format_err!("no export `{name}` found"))
}

impl Prepared {
    /// Type-checks the component's exports against its contract version (the generated check:
    /// a component with `decide-page` is held to 0.2.0, any other to 0.1.0) and resolves them.
    pub(crate) fn new(pre: InstancePre<DecisionState>) -> wasmtime::Result<Prepared> {
        let pages = pre.component().get_export(None, "decide-page").is_some();
        let (contract, decide_page, describe) = if pages {
            generated_v2::PolicyPre::new(pre.clone())?;
            let describe = Describe {
                check_config: export_index(&pre, "check-config")?,
                config_schema: export_index(&pre, "config-schema")?,
            };
            (
                Contract::V0_2,
                Some(export_index(&pre, "decide-page")?),
                Some(describe),
            )
        } else {
            generated::PolicyPre::new(pre.clone())?;
            (Contract::V0_1, None, None)
        };
        let decide = export_index(&pre, "decide")?;
        let component = pre.component();
        let reads_outcomes = component
            .component_type()
            .imports(component.engine())
            .any(|(name, _)| name.starts_with("tailor:policy/outcomes@"));
        Ok(Prepared {
            pre,
            contract,
            decide,
            decide_page,
            describe,
            reads_outcomes,
        })
    }

    pub(crate) fn contract(&self) -> Contract {
        self.contract
    }

    pub(crate) fn reads_outcomes(&self) -> bool {
        self.reads_outcomes
    }

    /// Calls `check-config` in a fresh instance in `store`; `None` for a 0.1.0 component.
    #[expect(
        unsafe_code,
        reason = "TypedFunc::new_unchecked on an export type-checked at load; see SAFETY"
    )]
    pub(crate) fn check_config(
        &self,
        store: &mut Store<DecisionState>,
    ) -> Option<wasmtime::Result<Vec<ConfigProblem>>> {
        let describe = self.describe?;
        Some(
            self.call_export(store, describe.check_config)
                .and_then(|func| {
                    // SAFETY: `Prepared::new` resolved `check_config` only for a component whose
                    // exports the generated 0.2.0 `PolicyPre::new` type-checked, `check-config` against
                    // exactly this signature; `func` is that export of an instance of this component.
                    let check: CheckConfigFn = unsafe { TypedFunc::new_unchecked(func) };
                    let (problems,) = check.call(&mut *store, ())?;
                    Ok(problems
                        .into_iter()
                        .map(|p| ConfigProblem {
                            path: p.path,
                            message: p.message,
                        })
                        .collect())
                }),
        )
    }

    /// Calls `config-schema` in a fresh instance in `store`; `None` for a 0.1.0 component.
    #[expect(
        unsafe_code,
        reason = "TypedFunc::new_unchecked on an export type-checked at load; see SAFETY"
    )]
    pub(crate) fn config_schema(
        &self,
        store: &mut Store<DecisionState>,
    ) -> Option<wasmtime::Result<Option<String>>> {
        let describe = self.describe?;
        Some(
            self.call_export(store, describe.config_schema)
                .and_then(|func| {
                    // SAFETY: as in `check_config`, for `config-schema`.
                    let schema: ConfigSchemaFn = unsafe { TypedFunc::new_unchecked(func) };
                    let (schema,) = schema.call(&mut *store, ())?;
                    Ok(schema)
                }),
        )
    }

    /// A fresh instance's export `index`.
    fn call_export(
        &self,
        mut store: &mut Store<DecisionState>,
        index: ComponentExportIndex,
    ) -> wasmtime::Result<Func> {
        let instance = self.pre.instantiate(&mut store)?;
        instance
            .get_func(&mut store, index)
            .ok_or_else(|| wasmtime::format_err!("an export of the component is missing"))
    }

    /// A fresh instance in `store`.
    pub(crate) fn instantiate(
        &self,
        mut store: &mut Store<DecisionState>,
    ) -> wasmtime::Result<Instantiated> {
        let instance = self.pre.instantiate(&mut store)?;
        let missing = |name| wasmtime::format_err!("export `{name}` is missing");
        let decide = instance
            .get_func(&mut store, self.decide)
            .ok_or_else(|| missing("decide"))?;
        let decide_page = match self.decide_page {
            Some(index) => Some(
                instance
                    .get_func(&mut store, index)
                    .ok_or_else(|| missing("decide-page"))?,
            ),
            None => None,
        };
        Ok(Instantiated {
            decide,
            decide_page,
        })
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
        // this signature (the generated `PolicyPre::new` check, which is the same for both
        // contract versions), and `self.decide` is that export of an instance of the same
        // component.
        let decide: DecideFn<'_> = unsafe { TypedFunc::new_unchecked(self.decide) };
        let (result,) = decide.call(&mut store, (context, profile, candidates))?;
        Ok(result)
    }

    /// Calls the instance's `decide-page`; `None` for a 0.1.0 component, which has none.
    #[expect(
        unsafe_code,
        reason = "TypedFunc::new_unchecked on an export type-checked at load; see SAFETY"
    )]
    pub(crate) fn call_decide_page(
        &self,
        mut store: impl AsContextMut<Data = DecisionState>,
        slots: &[PageSlot],
        profile: Resource<ProfileHandle>,
    ) -> Option<wasmtime::Result<Vec<Result<Decision, PolicyError>>>> {
        let func = self.decide_page?;
        // SAFETY: `Prepared::new` resolved `decide_page` only for a component whose exports the
        // generated 0.2.0 `PolicyPre::new` type-checked, `decide-page` against exactly this
        // signature; `func` is that export of an instance of the same component.
        let decide_page: DecidePageFn<'_> = unsafe { TypedFunc::new_unchecked(func) };
        Some(
            decide_page
                .call(&mut store, (slots, profile))
                .map(|(results,)| results),
        )
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<DecisionState>) -> wasmtime::Result<()> {
    generated::Policy::add_to_linker::<DecisionState, HasSelf<DecisionState>>(linker, |state| {
        state
    })?;
    generated_v2::Policy::add_to_linker::<DecisionState, HasSelf<DecisionState>>(linker, |state| {
        state
    })
}

/// The host functions, the same for every contract version (each version's bindings have their
/// own traits and types, so the one implementation is stamped out per version), plus the ones a
/// version added.
macro_rules! host_functions {
    ($($contract:ident)::+ $(, $($added:item)*)?) => {
        impl $($contract)::+::host::Host for DecisionState {
            fn log(&mut self, level: $($contract)::+::host::LogLevel, message: String) {
                use $($contract)::+::host::LogLevel;
                let Some(message) = self.admit_log_line(message) else {
                    return;
                };
                let message =
                    super::redact::mask(&self.profile, self.anonymous_id.as_deref(), &message);
                let policy = &*self.policy;
                match level {
                    LogLevel::Trace => tracing::trace!(target: "tailor::policy", policy, "{message}"),
                    LogLevel::Debug => tracing::debug!(target: "tailor::policy", policy, "{message}"),
                    LogLevel::Info => tracing::info!(target: "tailor::policy", policy, "{message}"),
                    LogLevel::Warn => tracing::warn!(target: "tailor::policy", policy, "{message}"),
                    LogLevel::Error => tracing::error!(target: "tailor::policy", policy, "{message}"),
                }
            }

            fn config_get(&mut self, pointer: String) -> Option<$($contract)::+::host::ConfigValue> {
                use super::config_doc::ConfigNode;
                use $($contract)::+::host::ConfigValue;
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

            $($($added)*)?
        }

        /// The decision's profile snapshot, lent to the policy as the `customer.profile`
        /// resource. There is one per decision (handle 0); every accessor reads the shared
        /// snapshot and decodes no more than it returns.
        impl $($contract)::+::customer::HostProfile for DecisionState {
            fn customer_id(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
                self.profile.customer_id().map(str::to_owned)
            }

            fn segments(&mut self, _: Resource<ProfileHandle>) -> Vec<String> {
                self.profile.segments()
            }

            fn in_segment(&mut self, _: Resource<ProfileHandle>, segment: String) -> bool {
                self.profile.in_segment(&segment)
            }

            fn get_trait(&mut self, _: Resource<ProfileHandle>, key: String) -> Option<tailor_types::Value> {
                self.profile.trait_value(&key)
            }

            fn traits(&mut self, _: Resource<ProfileHandle>) -> Vec<(String, tailor_types::Value)> {
                self.profile.traits()
            }

            fn loyalty(&mut self, _: Resource<ProfileHandle>) -> Option<tailor_types::Loyalty> {
                self.profile.loyalty()
            }

            fn consent(&mut self, _: Resource<ProfileHandle>) -> tailor_types::Consent {
                self.profile.consent()
            }

            fn recent_events(&mut self, _: Resource<ProfileHandle>, limit: u32) -> Vec<tailor_types::Event> {
                self.profile.recent_events(limit as usize)
            }

            fn affinity(&mut self, _: Resource<ProfileHandle>, category: String) -> Option<f64> {
                self.profile.affinity(&category)
            }

            fn affinities(&mut self, _: Resource<ProfileHandle>) -> Vec<(String, f64)> {
                self.profile.affinities()
            }

            fn drop(&mut self, _: Resource<ProfileHandle>) -> wasmtime::Result<()> {
                Ok(())
            }
        }

        impl $($contract)::+::customer::Host for DecisionState {}
    };
}

host_functions!(generated::tailor::policy);
host_functions!(
    generated_v2::tailor::policy,
    fn config_texts(&mut self, pointer: String) -> Option<Vec<(String, String)>> {
        self.config.texts(&pointer)
    }
);

/// Contract 0.2.0's `outcomes`: the node's counts for this policy (by name, over all its
/// versions), zeros where the node keeps none.
mod outcomes {
    use super::DecisionState;
    use super::generated_v2::tailor::policy::outcomes::{Exposure, Host, OutcomeStats};
    use crate::outcomes::tally::Counts;

    fn stats(id: String, counts: Counts) -> OutcomeStats {
        OutcomeStats {
            id,
            trials: counts.trials,
            successes: counts.successes,
            value: counts.value,
        }
    }

    impl Host for DecisionState {
        fn experiment_stats(&mut self, key: String) -> Vec<OutcomeStats> {
            let Some(outcomes) = &self.outcomes else {
                return Vec::new();
            };
            outcomes
                .arms(&self.policy, &key)
                .into_iter()
                .map(|(id, counts)| stats(id, counts))
                .collect()
        }

        fn last_exposure(&mut self, key: String) -> Option<Exposure> {
            let outcomes = self.outcomes.as_ref()?;
            let (variant, at_ms) = outcomes.last_exposure(&self.policy, &key, self.unit()?)?;
            Some(Exposure { variant, at_ms })
        }

        fn item_stats(&mut self, items: Vec<String>) -> Vec<OutcomeStats> {
            let counts = match &self.outcomes {
                Some(outcomes) => outcomes.items(&self.policy, &items),
                None => vec![Counts::default(); items.len()],
            };
            items
                .into_iter()
                .zip(counts)
                .map(|(id, counts)| stats(id, counts))
                .collect()
        }
    }
}
