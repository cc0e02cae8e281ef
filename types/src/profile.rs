//! The customer profile snapshot a decision is evaluated against.

use crate::{Pairs, Value, pairs};
use serde::{Deserialize, Serialize};

/// Consent by purpose. Anything not granted is `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(record)
)]
pub struct Consent {
    pub personalization: bool,
    pub marketing: bool,
    pub analytics: bool,
    #[cfg_attr(feature = "wasmtime", component(name = "third-party-sharing"))]
    pub third_party_sharing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(record)
)]
pub struct Loyalty {
    pub tier: String,
    #[serde(default, deserialize_with = "crate::integer::deserialize")]
    pub points: i64,
}

/// A recent customer event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(record)
)]
pub struct Event {
    /// `page_view`, `product_view`, `add_to_cart`, `purchase`, `store_visit` …
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "wasmtime", component(name = "item-id"))]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(deserialize_with = "crate::integer::deserialize")]
    #[cfg_attr(feature = "wasmtime", component(name = "at-ms"))]
    pub at_ms: i64,
}

/// A customer profile snapshot. `Profile::default()` is an anonymous visitor.
///
/// The host keeps it and lends it to a policy as the contract's `customer.profile` resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Absent for anonymous visitors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub segments: Vec<String>,
    #[serde(with = "pairs")]
    pub traits: Pairs<Value>,
    #[serde(
        deserialize_with = "crate::object::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub loyalty: Option<Loyalty>,
    #[serde(deserialize_with = "crate::object::deserialize")]
    pub consent: Consent,
    /// Newest first.
    #[serde(deserialize_with = "crate::object::list")]
    pub recent_events: Vec<Event>,
    /// Category affinity scores, typically in `0.0..=1.0`.
    #[serde(with = "pairs")]
    pub affinities: Pairs<f64>,
}

impl Profile {
    pub fn is_anonymous(&self) -> bool {
        self.customer_id.is_none()
    }

    pub fn in_segment(&self, segment: &str) -> bool {
        self.segments.iter().any(|s| s == segment)
    }

    pub fn trait_value(&self, key: &str) -> Option<&Value> {
        crate::lookup(&self.traits, key)
    }

    pub fn affinity(&self, category: &str) -> f64 {
        crate::lookup(&self.affinities, category)
            .copied()
            .unwrap_or(0.0)
    }

    pub fn loyalty_tier(&self) -> Option<&str> {
        self.loyalty.as_ref().map(|l| l.tier.as_str())
    }
}
