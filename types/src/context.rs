//! The request side of a decision: where it is shown and what may be shown.

use crate::{Pairs, Value, pairs};
use serde::{Deserialize, Serialize};

/// The channel a decision is made for. JSON: `"web"`, `"app"`, `"kiosk"`, `"email"`, `"pos"` or
/// any other name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(variant)
)]
pub enum Channel {
    #[cfg_attr(feature = "wasmtime", component(name = "web"))]
    Web,
    #[cfg_attr(feature = "wasmtime", component(name = "app"))]
    App,
    #[cfg_attr(feature = "wasmtime", component(name = "kiosk"))]
    Kiosk,
    #[cfg_attr(feature = "wasmtime", component(name = "email"))]
    Email,
    #[cfg_attr(feature = "wasmtime", component(name = "pos"))]
    Pos,
    #[cfg_attr(feature = "wasmtime", component(name = "other"))]
    Other(String),
}

impl Channel {
    pub fn as_str(&self) -> &str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
            Channel::Kiosk => "kiosk",
            Channel::Email => "email",
            Channel::Pos => "pos",
            Channel::Other(name) => name,
        }
    }
}

impl From<String> for Channel {
    fn from(name: String) -> Self {
        match name.as_str() {
            "web" => Channel::Web,
            "app" => Channel::App,
            "kiosk" => Channel::Kiosk,
            "email" => Channel::Email,
            "pos" => Channel::Pos,
            _ => Channel::Other(name),
        }
    }
}

impl From<Channel> for String {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Other(name) => name,
            known => known.as_str().to_owned(),
        }
    }
}

/// The class of device that renders the decision. JSON: `"desktop"`, `"mobile"`, `"tablet"`,
/// `"kiosk_screen"`, `"unknown"` or any other name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(variant)
)]
pub enum DeviceClass {
    #[cfg_attr(feature = "wasmtime", component(name = "desktop"))]
    Desktop,
    #[cfg_attr(feature = "wasmtime", component(name = "mobile"))]
    Mobile,
    #[cfg_attr(feature = "wasmtime", component(name = "tablet"))]
    Tablet,
    #[cfg_attr(feature = "wasmtime", component(name = "kiosk-screen"))]
    KioskScreen,
    #[default]
    #[cfg_attr(feature = "wasmtime", component(name = "unknown"))]
    Unknown,
    #[cfg_attr(feature = "wasmtime", component(name = "other"))]
    Other(String),
}

impl DeviceClass {
    pub fn as_str(&self) -> &str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::KioskScreen => "kiosk_screen",
            DeviceClass::Unknown => "unknown",
            DeviceClass::Other(name) => name,
        }
    }
}

impl From<String> for DeviceClass {
    fn from(name: String) -> Self {
        match name.as_str() {
            "desktop" => DeviceClass::Desktop,
            "mobile" => DeviceClass::Mobile,
            "tablet" => DeviceClass::Tablet,
            "kiosk_screen" => DeviceClass::KioskScreen,
            "unknown" => DeviceClass::Unknown,
            _ => DeviceClass::Other(name),
        }
    }
}

impl From<DeviceClass> for String {
    fn from(device: DeviceClass) -> Self {
        match device {
            DeviceClass::Other(name) => name,
            known => known.as_str().to_owned(),
        }
    }
}

/// What the visitor is looking at.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
pub struct Page {
    /// Page type: `home`, `product`, `category`, `cart`, `checkout` …
    pub kind: String,
    #[serde(default)]
    #[cfg_attr(feature = "wasmtime", component(name = "product-ids"))]
    pub product_ids: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "wasmtime", component(name = "category-ids"))]
    pub category_ids: Vec<String>,
}

/// The request context of one slot's decision.
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
pub struct Context {
    pub channel: Channel,
    /// The slot / placement being decided, for example `home-hero`.
    pub slot: String,
    #[serde(
        default,
        deserialize_with = "crate::object::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub page: Option<Page>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Store or region the request is served for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "wasmtime", component(name = "store-id"))]
    pub store_id: Option<String>,
    #[serde(default)]
    pub device: DeviceClass,
    /// Decision time, milliseconds since the Unix epoch.
    #[serde(deserialize_with = "crate::integer::deserialize")]
    #[cfg_attr(feature = "wasmtime", component(name = "now-ms"))]
    pub now_ms: i64,
    /// Stable id of an anonymous visitor: the bucketing unit when there is no customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "wasmtime", component(name = "anonymous-id"))]
    pub anonymous_id: Option<String>,
    #[serde(default, with = "pairs")]
    pub attributes: Pairs<Value>,
}

impl Context {
    /// A context for a channel and slot at a given time, with nothing else set.
    pub fn new(channel: Channel, slot: impl Into<String>, now_ms: i64) -> Self {
        Context {
            channel,
            slot: slot.into(),
            page: None,
            locale: None,
            store_id: None,
            device: DeviceClass::Unknown,
            now_ms,
            anonymous_id: None,
            attributes: Vec::new(),
        }
    }

    pub fn attribute(&self, key: &str) -> Option<&Value> {
        crate::lookup(&self.attributes, key)
    }
}

/// A content item or offer the slot may show.
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
pub struct Candidate {
    pub id: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, with = "pairs")]
    pub numbers: Pairs<f64>,
}

impl Candidate {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        crate::lookup(&self.numbers, key).copied()
    }
}
