//! The profile store's value encoding: a compact binary form of a [`Profile`], about a third of
//! its JSON, decoded without a parser.
//!
//! Numbers are LEB128 varints (signed ones zigzagged), floats 8 bytes little-endian. A string is
//! one varint `n`: `n` odd is entry `n >> 1` of the store's [`Dictionary`], `n` even is `n >> 1`
//! bytes of UTF-8 that follow. Names that repeat across customers (segments, trait keys, short
//! trait texts, loyalty tiers, event kinds, categories, items, affinity keys) go to the
//! dictionary until it is full; the rest, and anything long, is written inline.
//!
//! A value is `id, consent, table, segments, traits, loyalty, recent events, affinities`: the
//! id inline, the consent flags in one byte, then a table of the five sections' byte lengths
//! (varints), then the sections, which together fill the rest of the value exactly. A reader
//! finds any field from the table without passing over the others (a policy that reads a
//! customer's tier decodes none of her thousand traits). Lists are a count, then their
//! entries; an event's `at_ms` is the difference from the one before it. [`FORMAT_VERSION`]
//! names this layout: a store file of another version is never read.

use crate::profiles::snapshot::{ProfileRef, ValueRef};
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The layout this code writes and reads.
pub(in crate::profiles) const FORMAT_VERSION: u32 = 2;
/// Sections a value's table gives the length of.
pub(super) const SECTIONS: usize = 5;
/// Entries a dictionary holds at most (later names are written inline).
const MAX_NAMES: usize = 1 << 16;
/// Longer strings are always inline: they rarely repeat, and would crowd the dictionary.
const MAX_NAME_LEN: usize = 40;

pub(super) const VALUE_FALSE: u8 = 0;
pub(super) const VALUE_TRUE: u8 = 1;
pub(super) const VALUE_INTEGER: u8 = 2;
pub(super) const VALUE_NUMBER: u8 = 3;
pub(super) const VALUE_TEXT: u8 = 4;
pub(super) const VALUE_TEXT_LIST: u8 = 5;

pub(super) const EVENT_ITEM: u8 = 1;
pub(super) const EVENT_CATEGORY: u8 = 2;
pub(super) const EVENT_VALUE: u8 = 4;

/// The repeated strings of one store, numbered in the order they were first written. Built by
/// the store's loading threads, then read by every lookup; a store built from a delta starts
/// from a copy of its base's, so the values it copies keep their meaning.
#[derive(Debug, Default, Clone)]
pub(super) struct Dictionary {
    numbers: FxHashMap<Arc<str>, u32>,
    pub(super) names: Vec<Arc<str>>,
}

/// Gives names their dictionary numbers as an [`Encoder`] writes them.
pub(super) trait Numbering {
    /// The number of `name`, adding it when there is room; `None` to write it inline.
    fn number(&mut self, name: &str) -> Option<u32>;
}

impl Numbering for Dictionary {
    fn number(&mut self, name: &str) -> Option<u32> {
        Dictionary::number(self, name)
    }
}

/// One encoding thread's access to a dictionary several threads add to: the numbers this
/// thread has used before, without a lock, and the dictionary itself, behind one, for the rest.
#[derive(Debug)]
pub(super) struct SharedNames<'d> {
    shared: &'d Mutex<Dictionary>,
    known: FxHashMap<Box<str>, u32>,
    /// The dictionary had no room left when this thread last asked.
    full: bool,
}

impl<'d> SharedNames<'d> {
    pub(super) fn new(shared: &'d Mutex<Dictionary>) -> SharedNames<'d> {
        SharedNames {
            shared,
            known: FxHashMap::default(),
            full: false,
        }
    }
}

impl Numbering for SharedNames<'_> {
    fn number(&mut self, name: &str) -> Option<u32> {
        if let Some(n) = self.known.get(name) {
            return Some(*n);
        }
        if self.full || name.len() > MAX_NAME_LEN {
            return None;
        }
        let mut dictionary = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let number = dictionary.number(name);
        match number {
            Some(n) => {
                self.known.insert(name.into(), n);
            }
            None => self.full = dictionary.names.len() >= MAX_NAMES,
        }
        number
    }
}

impl Dictionary {
    /// The number of `name`, adding it when there is room; `None` to write it inline.
    fn number(&mut self, name: &str) -> Option<u32> {
        if let Some(n) = self.numbers.get(name) {
            return Some(*n);
        }
        if name.len() > MAX_NAME_LEN || self.names.len() >= MAX_NAMES {
            return None;
        }
        let n = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.numbers.insert(name, n);
        Some(n)
    }

    /// Entries held.
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    /// Bytes the entries' text takes.
    pub(super) fn text_bytes(&self) -> usize {
        self.names.iter().map(|n| n.len()).sum()
    }
}

/// A stored value that does not decode: a damaged store, or a bug; no customer data in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stored profile does not decode: {0}")]
pub struct Malformed(pub &'static str);

pub(super) fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

pub(super) fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// Writes profiles, adding names to the dictionary as it goes.
#[derive(Debug)]
pub(super) struct Encoder<'n, N: ?Sized> {
    pub(super) names: &'n mut N,
}

impl<N: Numbering + ?Sized> Encoder<'_, N> {
    fn name(&mut self, out: &mut Vec<u8>, s: &str) {
        match self.names.number(s) {
            Some(n) => varint(out, (u64::from(n) << 1) | 1),
            None => inline(out, s),
        }
    }

    fn names(&mut self, out: &mut Vec<u8>, list: &[&str]) {
        varint(out, list.len() as u64);
        for s in list {
            self.name(out, s);
        }
    }

    /// Appends `profile`'s value (its id first).
    pub(super) fn encode(&mut self, profile: &ProfileRef<'_>, out: &mut Vec<u8>) {
        inline(out, profile.customer_id);
        let c = &profile.consent;
        out.push(
            u8::from(c.personalization)
                | (u8::from(c.marketing) << 1)
                | (u8::from(c.analytics) << 2)
                | (u8::from(c.third_party_sharing) << 3),
        );
        // The sections are written first, then their table, which is moved before them.
        let table_at = out.len();
        let mut ends = [0; SECTIONS];
        self.names(out, &profile.segments);
        ends[0] = out.len();
        varint(out, profile.traits.len() as u64);
        for (key, value) in &profile.traits {
            self.name(out, key);
            match value {
                ValueRef::Boolean(false) => out.push(VALUE_FALSE),
                ValueRef::Boolean(true) => out.push(VALUE_TRUE),
                ValueRef::Integer(n) => {
                    out.push(VALUE_INTEGER);
                    varint(out, zigzag(*n));
                }
                ValueRef::Number(x) => {
                    out.push(VALUE_NUMBER);
                    out.extend_from_slice(&x.to_le_bytes());
                }
                ValueRef::Text(text) => {
                    out.push(VALUE_TEXT);
                    self.name(out, text);
                }
                ValueRef::TextList(list) => {
                    out.push(VALUE_TEXT_LIST);
                    self.names(out, list);
                }
            }
        }
        ends[1] = out.len();
        match &profile.loyalty {
            None => out.push(0),
            Some(loyalty) => {
                out.push(1);
                self.name(out, loyalty.tier);
                varint(out, zigzag(loyalty.points));
            }
        }
        ends[2] = out.len();
        varint(out, profile.recent_events.len() as u64);
        let mut last_at = 0i64;
        for event in &profile.recent_events {
            self.name(out, event.kind);
            out.push(
                (if event.item_id.is_some() {
                    EVENT_ITEM
                } else {
                    0
                }) | (if event.category.is_some() {
                    EVENT_CATEGORY
                } else {
                    0
                }) | (if event.value.is_some() {
                    EVENT_VALUE
                } else {
                    0
                }),
            );
            if let Some(item) = event.item_id {
                self.name(out, item);
            }
            if let Some(category) = event.category {
                self.name(out, category);
            }
            if let Some(value) = event.value {
                out.extend_from_slice(&value.to_le_bytes());
            }
            varint(out, zigzag(event.at_ms.wrapping_sub(last_at)));
            last_at = event.at_ms;
        }
        ends[3] = out.len();
        varint(out, profile.affinities.len() as u64);
        for (category, score) in &profile.affinities {
            self.name(out, category);
            out.extend_from_slice(&score.to_le_bytes());
        }
        ends[4] = out.len();
        let mut start = table_at;
        for end in ends {
            varint(out, (end - start) as u64);
            start = end;
        }
        // The table went in after the sections; it belongs before them.
        let table_len = out.len() - ends[4];
        out[table_at..].rotate_right(table_len);
    }
}

fn inline(out: &mut Vec<u8>, s: &str) {
    varint(out, (s.len() as u64) << 1);
    out.extend_from_slice(s.as_bytes());
}

/// The customer id a stored value starts with (to check a lookup found the right one).
pub(super) fn stored_id(value: &[u8]) -> Result<&str, Malformed> {
    let mut input = value;
    let n = read_varint(&mut input)?;
    if n & 1 == 1 {
        return Err(Malformed("the id is not inline"));
    }
    let bytes = take(&mut input, (n >> 1) as usize)?;
    std::str::from_utf8(bytes).map_err(|_| Malformed("the id is not UTF-8"))
}

pub(super) fn read_varint(input: &mut &[u8]) -> Result<u64, Malformed> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first().ok_or(Malformed("truncated"))?;
        *input = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(Malformed("varint too long"))
}

pub(super) fn take<'a>(input: &mut &'a [u8], len: usize) -> Result<&'a [u8], Malformed> {
    if input.len() < len {
        return Err(Malformed("truncated"));
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::store::decode::decode;
    use tailor_types::{Consent, Event, Loyalty, Profile, Value};

    fn round_trip(profile: &Profile, dictionary: &mut Dictionary) -> Vec<u8> {
        let mut out = Vec::new();
        let view = ProfileRef::of(profile.customer_id.as_deref().unwrap(), profile);
        Encoder { names: dictionary }.encode(&view, &mut out);
        out
    }

    #[test]
    fn every_field_round_trips_inline_and_from_the_dictionary() {
        let mut dictionary = Dictionary::default();
        for i in 0..50 {
            let profile = crate::profiles::sample::profile(i);
            let bytes = round_trip(&profile, &mut dictionary);
            assert_eq!(stored_id(&bytes).unwrap(), format!("cust-{i:06}"));
            let back = decode(&bytes, &dictionary).unwrap();
            assert_eq!(back, profile);
            let json = serde_json::to_vec(&profile).unwrap();
            assert!(
                bytes.len() * 2 < json.len(),
                "{} of {}",
                bytes.len(),
                json.len()
            );
        }
        let odd = Profile {
            customer_id: Some("c-1".into()),
            segments: vec!["x".repeat(MAX_NAME_LEN + 1)],
            traits: vec![
                ("b".into(), Value::Boolean(true)),
                ("f".into(), Value::Boolean(false)),
                ("i".into(), Value::Integer(i64::MIN)),
                ("n".into(), Value::Number(-0.25)),
                ("t".into(), Value::Text("é€".into())),
                ("l".into(), Value::TextList(vec!["a".into(), String::new()])),
            ],
            loyalty: Some(Loyalty {
                tier: "gold".into(),
                points: -3,
            }),
            consent: Consent {
                personalization: true,
                marketing: false,
                analytics: true,
                third_party_sharing: true,
            },
            recent_events: vec![
                Event {
                    kind: "purchase".into(),
                    item_id: Some("sku-1".into()),
                    category: None,
                    value: Some(12.5),
                    at_ms: 1_774_000_000_000,
                },
                Event {
                    kind: "page_view".into(),
                    item_id: None,
                    category: Some("shoes".into()),
                    value: None,
                    at_ms: i64::MIN,
                },
            ],
            affinities: vec![("shoes".into(), 0.75)],
        };
        let bytes = round_trip(&odd, &mut dictionary);
        assert_eq!(decode(&bytes, &dictionary).unwrap(), odd);
    }

    #[test]
    fn a_full_dictionary_writes_names_inline() {
        let mut dictionary = Dictionary::default();
        for i in 0..MAX_NAMES {
            dictionary.number(&format!("n{i}"));
        }
        let profile = Profile {
            customer_id: Some("c-1".into()),
            segments: vec!["never-seen".into()],
            ..Profile::default()
        };
        let bytes = round_trip(&profile, &mut dictionary);
        assert_eq!(dictionary.len(), MAX_NAMES);
        assert_eq!(decode(&bytes, &dictionary).unwrap(), profile);
    }

    #[test]
    fn damaged_values_are_refused_not_misread() {
        let mut dictionary = Dictionary::default();
        let profile = crate::profiles::sample::profile(7);
        let bytes = round_trip(&profile, &mut dictionary);
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], &dictionary).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode(&longer, &dictionary),
            Err(Malformed("bytes after the profile"))
        );
        // Against another store's (empty) dictionary, names are unknown.
        assert_eq!(
            decode(&bytes, &Dictionary::default()),
            Err(Malformed("unknown name"))
        );
    }
}
