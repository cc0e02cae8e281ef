//! Write tailor personalization policies in Rust.
//!
//! A policy implements [`Policy`] and exports itself with [`export_policy!`]; that is all the
//! glue there is. The same code is unit-testable natively with plain `cargo test`
//! (see [`testing`]), and builds to a `wasm32-wasip2` component that any tailor host runs.
//!
//! ```
//! use serde::Deserialize;
//! use tailor_guest::{Decision, Policy, PolicyError, Reason, Request};
//!
//! struct Hello;
//!
//! /// The policy's `config.json`.
//! #[derive(Deserialize)]
//! struct Settings {
//!     headline: String,
//!     ttl_seconds: Option<u32>,
//! }
//!
//! impl Policy for Hello {
//!     fn decide(request: &Request) -> Result<Decision, PolicyError> {
//!         let settings: Settings = request.config.parse()?;
//!         let mut decision = Decision::new(Reason::Static)
//!             .variant("hello")
//!             .render("headline", settings.headline);
//!         if let Some(ttl) = settings.ttl_seconds {
//!             decision = decision.ttl(ttl);
//!         }
//!         Ok(decision)
//!     }
//! }
//!
//! tailor_guest::export_policy!(Hello);
//! # let decision = tailor_guest::testing::decide::<Hello>(
//! #     tailor_guest::Context::new(tailor_guest::Channel::Web, "hero", 0),
//! #     Default::default(),
//! #     vec![],
//! #     serde_json::json!({"headline": "Hi", "ttl_seconds": 60}),
//! # );
//! # assert_eq!(decision.unwrap().ttl_seconds, Some(60));
//! ```

// Lets generated code name this crate by its public path from inside it too.
extern crate self as tailor_guest;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod alloc;
pub mod bandit;
pub mod config;
pub mod experiment;
pub mod log;
pub mod outcomes;
mod profile;
pub mod rank;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use bandit::{LastExposure, Stats, Thompson};
pub use config::{Config, ConfigProblem, ConfigValue, pointer};
pub use experiment::{Arm, assign};
pub use outcomes::{OutcomeData, Outcomes};
pub use profile::Profile;
/// A profile snapshot as data: what native tests and fixtures build a [`Profile`] from.
pub use tailor_types::Profile as ProfileData;
pub use tailor_types::{
    Candidate, Channel, Consent, Context, Decision, DeviceClass, Event, Experiment, Loyalty, Page,
    PolicyError, RankedItem, Reason, Value,
};
/// The bindings generator the SDK is built on, for authors who need something it does not wrap.
pub use wit_bindgen;

/// Everything one decision is made from.
#[derive(Debug)]
pub struct Request<'a> {
    pub context: Context,
    /// The customer's profile snapshot, read on demand.
    pub profile: Profile<'a>,
    pub candidates: Vec<Candidate>,
    /// This policy version's configuration document.
    pub config: Config,
    /// What happened after this policy's earlier decisions (experiment arms' and items' counts).
    pub outcomes: Outcomes,
}

impl Request<'_> {
    /// The unit experiments bucket on: the customer id, else the anonymous visitor id.
    pub fn unit_id(&self) -> Option<&str> {
        self.profile
            .customer_id()
            .or(self.context.anonymous_id.as_deref())
    }

    /// Whether the customer allows personalization. Policies should fall back to
    /// non-personalized content when this is `false`.
    pub fn may_personalize(&self) -> bool {
        self.profile.consent().personalization
    }
}

/// A personalization policy: decides one slot from a request.
pub trait Policy {
    /// Decides the slot. An `Err` makes the host serve the slot's fallback with reason `ERROR`.
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError>;

    /// Every problem with a config document, each at a path a person can find
    /// (`rules[3].when`); none accepts it. The host refuses to publish a version whose config
    /// has problems, naming them, and a console shows them as the document is edited. The
    /// default accepts every document (its fields are checked as `decide` reads them).
    fn check_config(config: &Config) -> Vec<ConfigProblem> {
        let _ = config;
        Vec::new()
    }

    /// The JSON Schema (draft 2020-12) of the config document, for editors; the default is none.
    fn config_schema() -> Option<&'static str> {
        None
    }
}

/// Exports a [`Policy`] implementation as the component's `decide` function.
///
/// Use it once, at the crate root of a policy built as a `cdylib`:
/// `tailor_guest::export_policy!(MyPolicy);`. Natively (unit tests, benchmarks) there is nothing
/// to export, so it only checks that the type implements [`Policy`].
///
/// # The allocator it installs
///
/// In a wasm build the macro also makes the SDK's decision allocator the component's
/// `#[global_allocator]`: a bump allocator over a 128 KiB arena in the component's static data,
/// falling back to the system allocator (wasi-libc's `malloc`) when the arena is full.
///
/// Why: the host runs every decision in a fresh instance and discards it afterwards, so a
/// decision never needs memory back and allocating is a pointer bump. And because the arena is
/// part of the component's initial memory, a typical decision never executes `memory.grow`,
/// whose cost in the host (moving the heap limit with `mprotect`, and back when the instance is
/// reset) dominated instantiation in measurements (see `docs/benchmarks.md`). A decision that
/// outgrows the arena carries on with the system allocator, within the host's memory cap.
///
/// To keep Rust's default allocator, or to install your own `#[global_allocator]`, opt out:
///
/// ```ignore
/// tailor_guest::export_policy!(MyPolicy, global_allocator = false);
/// ```
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        $crate::export_policy!($policy, global_allocator = true);
    };
    ($policy:ty, global_allocator = true) => {
        $crate::export_policy!($policy, global_allocator = false);

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[global_allocator]
            static TAILOR_ALLOCATOR: $crate::alloc::DecisionAllocator =
                $crate::alloc::DecisionAllocator;
        };
    };
    ($policy:ty, global_allocator = false) => {
        // Natively there is nothing to export (several policies may link into one test or
        // benchmark binary); this only checks the type implements `Policy`.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn(
            &$crate::Request<'_>,
        ) -> ::std::result::Result<$crate::Decision, $crate::PolicyError> =
            <$policy as $crate::Policy>::decide;

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct TailorPolicyExport;

            impl $crate::__private::Guest for TailorPolicyExport {
                fn decide(
                    context: $crate::__private::wit::Context,
                    profile: &$crate::__private::wit::Profile,
                    candidates: ::std::vec::Vec<$crate::__private::wit::Candidate>,
                ) -> ::std::result::Result<
                    $crate::__private::wit::Decision,
                    $crate::__private::wit::PolicyError,
                > {
                    $crate::__private::decide::<$policy>(context, profile, candidates)
                }

                fn decide_page(
                    slots: ::std::vec::Vec<$crate::__private::wit::PageSlot>,
                    profile: &$crate::__private::wit::Profile,
                ) -> ::std::vec::Vec<
                    ::std::result::Result<
                        $crate::__private::wit::Decision,
                        $crate::__private::wit::PolicyError,
                    >,
                > {
                    $crate::__private::decide_page::<$policy>(slots, profile)
                }

                fn check_config() -> ::std::vec::Vec<$crate::__private::wit::ConfigProblem> {
                    $crate::__private::check_config::<$policy>()
                }

                fn config_schema() -> ::std::option::Option<::std::string::String> {
                    <$policy as $crate::Policy>::config_schema()
                        .map(::std::string::ToString::to_string)
                }
            }

    $crate::__private::export!(TailorPolicyExport with_types_in $crate::__private);
        };
    };
}
