//! A policy against `tailor:policy@0.1.0`, built with wit-bindgen directly (not the SDK, which
//! targets the newest contract): the host must keep serving components released for 0.1.0.
//!
//! It reads one config value and the profile through the 0.1.0 host interfaces, and counts its
//! decisions in a global: a 0.1.0 component has no `decide-page`, so every slot of it gets a
//! fresh instance and the count is always 1.
wit_bindgen::generate!({
    path: "../../../wit/policy-0.1.0",
    world: "tailor:policy/policy@0.1.0",
});

use std::sync::atomic::{AtomicU64, Ordering};
use tailor::policy::host::{self, ConfigValue};
use tailor::policy::types::Reason;

static DECISIONS: AtomicU64 = AtomicU64::new(0);

struct ContractV1;

impl Guest for ContractV1 {
    fn decide(
        context: Context,
        profile: &Profile,
        candidates: Vec<Candidate>,
    ) -> Result<Decision, PolicyError> {
        let seen = DECISIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let greeting = match host::config_get("/greeting") {
            Some(ConfigValue::Text(text)) => text,
            _ => "hello".to_owned(),
        };
        Ok(Decision {
            variant: Some("v0-1".to_owned()),
            items: Vec::new(),
            reason: Reason::Static,
            experiment: None,
            ttl_seconds: None,
            render: vec![
                ("greeting".to_owned(), greeting),
                ("decisions_seen".to_owned(), seen.to_string()),
                ("slot".to_owned(), context.slot),
                (
                    "customer".to_owned(),
                    profile.customer_id().unwrap_or_default(),
                ),
                ("candidates".to_owned(), candidates.len().to_string()),
            ],
        })
    }
}

export!(ContractV1);
