//! Generated bindings and the glue between them and the SDK's types. Not part of the API.

wit_bindgen::generate!({
    path: "../wit/policy-0.2.0",
    world: "tailor:policy/policy@0.2.0",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "tailor_guest::__private",
    runtime_path: "tailor_guest::wit_bindgen::rt",
});

/// The generated types, under one short path for the export macro.
pub mod wit {
    pub use super::tailor::policy::customer::Profile;
    pub use super::tailor::policy::types::*;
    pub use super::{ConfigProblem, PageSlot};
}

#[cfg(target_arch = "wasm32")]
pub use convert::*;

/// Between the generated types and the SDK's (only a wasm build talks to a host).
#[cfg(target_arch = "wasm32")]
mod convert {
    use super::wit;
    use crate::{Config, Policy, Request};
    use tailor_types as t;

    /// Runs a policy for one `decide` call from the host.
    pub fn decide<P: Policy>(
        context: wit::Context,
        profile: &wit::Profile,
        candidates: Vec<wit::Candidate>,
    ) -> Result<wit::Decision, wit::PolicyError> {
        let request = Request {
            context: context_from(context),
            profile: crate::Profile::host(profile),
            candidates: candidates.into_iter().map(candidate_from).collect(),
            config: Config::host(),
            outcomes: crate::Outcomes::default(),
        };
        match P::decide(&request) {
            Ok(decision) => Ok(decision_into(decision)),
            Err(error) => Err(wit::PolicyError {
                code: error.code,
                message: error.message,
            }),
        }
    }

    /// Runs a policy for one `decide-page` call: each slot in turn, in the same instance.
    pub fn decide_page<P: Policy>(
        slots: Vec<wit::PageSlot>,
        profile: &wit::Profile,
    ) -> Vec<Result<wit::Decision, wit::PolicyError>> {
        slots
            .into_iter()
            .map(|slot| decide::<P>(slot.context, profile, slot.candidates))
            .collect()
    }

    /// Runs a policy's config check for the host, on the version's own document.
    pub fn check_config<P: Policy>() -> Vec<wit::ConfigProblem> {
        P::check_config(&Config::host())
            .into_iter()
            .map(|problem| wit::ConfigProblem {
                path: problem.path,
                message: problem.message,
            })
            .collect()
    }

    pub(crate) fn value_from(value: wit::Value) -> t::Value {
        match value {
            wit::Value::Boolean(b) => t::Value::Boolean(b),
            wit::Value::Integer(i) => t::Value::Integer(i),
            wit::Value::Number(n) => t::Value::Number(n),
            wit::Value::Text(s) => t::Value::Text(s),
            wit::Value::TextList(l) => t::Value::TextList(l),
        }
    }

    pub(crate) fn pairs_from(pairs: Vec<(String, wit::Value)>) -> Vec<(String, t::Value)> {
        pairs.into_iter().map(|(k, v)| (k, value_from(v))).collect()
    }

    fn context_from(c: wit::Context) -> t::Context {
        t::Context {
            channel: match c.channel {
                wit::Channel::Web => t::Channel::Web,
                wit::Channel::App => t::Channel::App,
                wit::Channel::Kiosk => t::Channel::Kiosk,
                wit::Channel::Email => t::Channel::Email,
                wit::Channel::Pos => t::Channel::Pos,
                wit::Channel::Other(name) => t::Channel::Other(name),
            },
            slot: c.slot,
            page: c.page.map(|p| t::Page {
                kind: p.kind,
                product_ids: p.product_ids,
                category_ids: p.category_ids,
            }),
            locale: c.locale,
            store_id: c.store_id,
            device: match c.device {
                wit::DeviceClass::Desktop => t::DeviceClass::Desktop,
                wit::DeviceClass::Mobile => t::DeviceClass::Mobile,
                wit::DeviceClass::Tablet => t::DeviceClass::Tablet,
                wit::DeviceClass::KioskScreen => t::DeviceClass::KioskScreen,
                wit::DeviceClass::Unknown => t::DeviceClass::Unknown,
                wit::DeviceClass::Other(name) => t::DeviceClass::Other(name),
            },
            now_ms: c.now_ms,
            anonymous_id: c.anonymous_id,
            attributes: pairs_from(c.attributes),
        }
    }

    pub(crate) fn event_from(e: wit::Event) -> t::Event {
        t::Event {
            kind: e.kind,
            item_id: e.item_id,
            category: e.category,
            value: e.value,
            at_ms: e.at_ms,
        }
    }

    fn candidate_from(c: wit::Candidate) -> t::Candidate {
        t::Candidate {
            id: c.id,
            tags: c.tags,
            numbers: c.numbers,
        }
    }

    fn decision_into(d: t::Decision) -> wit::Decision {
        wit::Decision {
            variant: d.variant,
            items: d
                .items
                .into_iter()
                .map(|i| wit::RankedItem {
                    id: i.id,
                    score: i.score,
                })
                .collect(),
            reason: match d.reason {
                t::Reason::TargetingMatch => wit::Reason::TargetingMatch,
                t::Reason::Split => wit::Reason::Split,
                t::Reason::Default => wit::Reason::Default,
                t::Reason::Static => wit::Reason::Static,
                t::Reason::Cached => wit::Reason::Cached,
                t::Reason::Disabled => wit::Reason::Disabled,
                t::Reason::Unknown => wit::Reason::Unknown,
                t::Reason::Error => wit::Reason::Error,
            },
            experiment: d.experiment.map(|e| wit::Experiment {
                key: e.key,
                variant: e.variant,
                bucket: e.bucket,
            }),
            ttl_seconds: d.ttl_seconds,
            render: d.render,
        }
    }
}
