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

    /// The unit it is about: the exposed unit, or the converting one.
    pub fn unit(&self) -> &str {
        match self {
            Record::Exposure(e) => &e.unit,
            Record::Conversion(c) => &c.unit,
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

/// An exposure as borrowed strings: what the outcome thread counts and encodes, whether it
/// comes packed from a decision or from a record.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureRef<'a> {
    pub decision_id: &'a str,
    pub slot: &'a str,
    pub policy: &'a str,
    pub version: &'a str,
    pub experiment: Option<&'a str>,
    pub arm: Option<&'a str>,
    pub items: Vec<&'a str>,
    pub unit: &'a str,
    pub channel: &'a str,
    pub at_ms: i64,
    pub node: Option<&'a str>,
}

impl Exposure {
    pub fn as_ref(&self) -> ExposureRef<'_> {
        ExposureRef {
            decision_id: &self.decision_id,
            slot: &self.slot,
            policy: &self.policy,
            version: &self.version,
            experiment: self.experiment.as_deref(),
            arm: self.arm.as_deref(),
            items: self.items.iter().map(String::as_str).collect(),
            unit: &self.unit,
            channel: &self.channel,
            at_ms: self.at_ms,
            node: self.node.as_deref(),
        }
    }
}

#[cfg(test)]
impl ExposureRef<'_> {
    pub fn to_owned(&self) -> Exposure {
        Exposure {
            decision_id: self.decision_id.to_owned(),
            slot: self.slot.to_owned(),
            policy: self.policy.to_owned(),
            version: self.version.to_owned(),
            experiment: self.experiment.map(str::to_owned),
            arm: self.arm.map(str::to_owned),
            items: self.items.iter().map(|i| (*i).to_owned()).collect(),
            unit: self.unit.to_owned(),
            channel: self.channel.to_owned(),
            at_ms: self.at_ms,
            node: self.node.map(str::to_owned),
        }
    }
}

/// A decision's exposures packed into one buffer: the request thread copies its strings in
/// once, and the outcome thread reads them in place. (Building them as records cost the request
/// thread nine allocations an exposure, each freed on the outcome thread: measured in
/// docs/benchmarks.md, "The loop".)
#[derive(Debug, Default)]
pub struct PackedExposures {
    bytes: Vec<u8>,
    count: usize,
}

fn put(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

fn put_optional(bytes: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            bytes.push(1);
            put(bytes, text);
        }
        None => bytes.push(0),
    }
}

impl PackedExposures {
    pub fn with_capacity(bytes: usize) -> Self {
        PackedExposures {
            bytes: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    pub fn push(&mut self, e: &ExposureRef<'_>) {
        let b = &mut self.bytes;
        for text in [e.decision_id, e.slot, e.policy, e.version] {
            put(b, text);
        }
        put_optional(b, e.experiment);
        put_optional(b, e.arm);
        b.extend_from_slice(&(e.items.len() as u32).to_le_bytes());
        for item in &e.items {
            put(b, item);
        }
        put(b, e.unit);
        put(b, e.channel);
        b.extend_from_slice(&e.at_ms.to_le_bytes());
        put_optional(b, e.node);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The exposures, in the order they were packed.
    pub fn iter(&self) -> impl Iterator<Item = ExposureRef<'_>> {
        let mut reader = Unpack(&self.bytes);
        (0..self.count).map_while(move |_| reader.exposure())
    }
}

/// Reads what [`PackedExposures::push`] wrote (the writer is this module: a short read means
/// nothing more to read).
struct Unpack<'a>(&'a [u8]);

impl<'a> Unpack<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*head))
    }

    fn text(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        if self.0.len() < len {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(head).ok()
    }

    fn optional(&mut self) -> Option<Option<&'a str>> {
        let (&flag, rest) = self.0.split_first()?;
        self.0 = rest;
        match flag {
            0 => Some(None),
            _ => self.text().map(Some),
        }
    }

    fn exposure(&mut self) -> Option<ExposureRef<'a>> {
        let decision_id = self.text()?;
        let slot = self.text()?;
        let policy = self.text()?;
        let version = self.text()?;
        let experiment = self.optional()?;
        let arm = self.optional()?;
        let count = self.u32()? as usize;
        let mut items = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            items.push(self.text()?);
        }
        let unit = self.text()?;
        let channel = self.text()?;
        let (at, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        let node = self.optional()?;
        Some(ExposureRef {
            decision_id,
            slot,
            policy,
            version,
            experiment,
            arm,
            items,
            unit,
            channel,
            at_ms: i64::from_le_bytes(*at),
            node,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_exposures_read_back_as_they_were_written() {
        let exposure = Exposure {
            decision_id: "d-1".into(),
            slot: "hero".into(),
            policy: "p".into(),
            version: "sha256:0".into(),
            experiment: Some("e".into()),
            arm: None,
            items: vec!["a".into(), "ü".into()],
            unit: "u".into(),
            channel: "web".into(),
            at_ms: -3,
            node: Some("n".into()),
        };
        let mut other = exposure.clone();
        other.decision_id = "d-2".into();
        other.items.clear();
        let mut packed = PackedExposures::with_capacity(16);
        packed.push(&exposure.as_ref());
        packed.push(&other.as_ref());
        let read: Vec<Exposure> = packed.iter().map(|e| e.to_owned()).collect();
        assert_eq!(read, [exposure, other]);
        assert_eq!(packed.len(), 2);
    }
}
