//! The records of the outcome log: what was shown to whom (exposures) and which later events
//! were attributed to it (conversions). The log stores them in its own binary format
//! (`log::codec`); the exposure stream for a warehouse and the fleet carry them as JSON, one
//! object a line.

use serde::{Deserialize, Serialize};

/// A served slot whose decision put a unit in an experiment arm or showed it ranked items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    pub decision_id: String,
    pub slot: String,
    pub policy: String,
    /// Digest of the policy version that decided.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// Ids of the items shown, in rank order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// The customer id, or the anonymous id of a visitor without one.
    pub unit: String,
    pub channel: String,
    /// Decision time (the request's `now_ms`).
    pub at_ms: i64,
    /// The node that recorded it, when another node of the fleet did (received from the
    /// broker); absent for this node's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// An event attributed to an exposure: to an experiment arm, to a shown item, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    pub event_id: String,
    pub kind: String,
    pub policy: String,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The exposure's decision, when the event named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The event's value (a purchase's amount), 0 when it has none.
    #[serde(default)]
    pub value: f64,
    pub at_ms: i64,
    /// The node that attributed it, when another node of the fleet did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// One line of the outcome log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Exposure(Exposure),
    Conversion(Conversion),
}

impl Record {
    pub fn at_ms(&self) -> i64 {
        match self {
            Record::Exposure(e) => e.at_ms,
            Record::Conversion(c) => c.at_ms,
        }
    }

    /// The node that recorded it (`None`: this one).
    pub fn node(&self) -> Option<&str> {
        match self {
            Record::Exposure(e) => e.node.as_deref(),
            Record::Conversion(c) => c.node.as_deref(),
        }
    }

    /// Marks it as recorded by another node.
    pub fn set_node(&mut self, node: String) {
        match self {
            Record::Exposure(e) => e.node = Some(node),
            Record::Conversion(c) => c.node = Some(node),
        }
    }
}
