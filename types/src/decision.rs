//! What a policy returns for a slot.

use crate::{Pairs, pairs};
use serde::{Deserialize, Serialize};

/// Why a decision came out as it did, in OpenFeature's vocabulary (`"TARGETING_MATCH"` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(enum),
    repr(u8)
)]
pub enum Reason {
    #[cfg_attr(feature = "wasmtime", component(name = "targeting-match"))]
    TargetingMatch,
    #[cfg_attr(feature = "wasmtime", component(name = "split"))]
    Split,
    #[cfg_attr(feature = "wasmtime", component(name = "default"))]
    Default,
    #[cfg_attr(feature = "wasmtime", component(name = "static"))]
    Static,
    #[cfg_attr(feature = "wasmtime", component(name = "cached"))]
    Cached,
    #[cfg_attr(feature = "wasmtime", component(name = "disabled"))]
    Disabled,
    #[cfg_attr(feature = "wasmtime", component(name = "unknown"))]
    Unknown,
    #[cfg_attr(feature = "wasmtime", component(name = "error"))]
    Error,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
            Reason::Default => "DEFAULT",
            Reason::Static => "STATIC",
            Reason::Cached => "CACHED",
            Reason::Disabled => "DISABLED",
            Reason::Unknown => "UNKNOWN",
            Reason::Error => "ERROR",
        }
    }
}

/// The experiment arm a unit was assigned to.
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
pub struct Experiment {
    pub key: String,
    pub variant: String,
    /// Bucket in `0..10_000` from the shared bucketing algorithm.
    #[serde(deserialize_with = "crate::integer::deserialize")]
    pub bucket: u32,
}

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
pub struct RankedItem {
    pub id: String,
    pub score: f64,
}

/// A policy's answer for one slot.
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
pub struct Decision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::object::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub items: Vec<RankedItem>,
    pub reason: Reason,
    #[serde(
        default,
        deserialize_with = "crate::object::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub experiment: Option<Experiment>,
    #[serde(
        default,
        deserialize_with = "crate::integer::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "wasmtime", component(name = "ttl-seconds"))]
    pub ttl_seconds: Option<u32>,
    #[serde(default, with = "pairs", skip_serializing_if = "Vec::is_empty")]
    pub render: Pairs<String>,
}

impl Decision {
    /// A decision with a reason and nothing chosen yet; the builder methods below fill it in:
    /// `Decision::new(Reason::Static).variant("hello").render("headline", "Hi").ttl(60)`.
    pub fn new(reason: Reason) -> Self {
        Decision {
            variant: None,
            items: Vec::new(),
            reason,
            experiment: None,
            ttl_seconds: None,
            render: Vec::new(),
        }
    }

    /// Sets the chosen variant.
    #[must_use]
    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = Some(variant.into());
        self
    }

    /// Adds a key/value for the channel to render (after those already added).
    #[must_use]
    pub fn render(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.render.push((key.into(), value.into()));
        self
    }

    /// Sets how long the channel may reuse the decision.
    #[must_use]
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl_seconds = Some(seconds);
        self
    }

    /// Records the experiment assignment.
    #[must_use]
    pub fn experiment(mut self, experiment: Experiment) -> Self {
        self.experiment = Some(experiment);
        self
    }

    /// Sets the ranked items.
    #[must_use]
    pub fn items(mut self, items: Vec<RankedItem>) -> Self {
        self.items = items;
        self
    }

    /// Size of the decision's strings in bytes: what a channel will receive.
    pub fn payload_bytes(&self) -> usize {
        self.variant.as_ref().map_or(0, String::len)
            + self.items.iter().map(|i| i.id.len() + 8).sum::<usize>()
            + self
                .experiment
                .as_ref()
                .map_or(0, |e| e.key.len() + e.variant.len() + 4)
            + self
                .render
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// A policy that cannot decide says why; the host serves the slot's fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(record)
)]
pub struct PolicyError {
    pub code: String,
    pub message: String,
}

impl PolicyError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PolicyError {}
