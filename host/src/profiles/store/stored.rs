//! A stored profile read field by field: the value's bytes, whose layout (id, consent and
//! where each section lies) is checked when they are read from the store, then decoded only
//! where a decision asks: a policy reading a tier and one trait decodes the loyalty section
//! and the traits up to that one, whatever else the customer holds.

use super::codec::{Dictionary, Malformed};
use super::decode::{self, Decoder, Layout, Section};
use std::sync::Arc;
use tailor_types::{Consent, Event, Loyalty, Profile, Value};

/// One customer's stored value, with where each of its sections lies.
#[derive(Debug)]
pub struct StoredProfile {
    value: Box<[u8]>,
    /// The store's names the value refers to.
    dictionary: Arc<Dictionary>,
    layout: Layout,
}

impl StoredProfile {
    /// Reads a value's layout (its id, consent and section table, which must fill the value
    /// exactly); the sections are checked as they are read.
    pub(super) fn new(
        value: Box<[u8]>,
        dictionary: Arc<Dictionary>,
    ) -> Result<StoredProfile, Malformed> {
        let layout = Layout::of(&value)?;
        Ok(StoredProfile {
            value,
            dictionary,
            layout,
        })
    }

    /// What `read` finds in `section`. A section that does not decode (a damaged store, or a
    /// bug) is logged and reads as absent (`T::default()`), never as something else.
    fn read<'s, T: Default>(
        &'s self,
        section: Section,
        read: impl FnOnce(&mut Decoder<'s>) -> Result<T, Malformed>,
    ) -> T {
        let mut decoder = Decoder::new(self.layout.section(&self.value, section), &self.dictionary);
        read(&mut decoder).unwrap_or_else(|malformed| {
            tracing::error!(
                %malformed,
                section = ?section,
                "a stored profile's section does not decode; it reads as absent"
            );
            T::default()
        })
    }

    pub fn customer_id(&self) -> &str {
        self.layout.id(&self.value)
    }

    pub fn consent(&self) -> Consent {
        self.layout.consent
    }

    pub fn segments(&self) -> Vec<String> {
        self.read(Section::Segments, Decoder::segments)
    }

    pub fn in_segment(&self, segment: &str) -> bool {
        self.read(Section::Segments, |d| {
            for _ in 0..d.count()? {
                if d.str()? == segment {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// The first trait named `key`; the ones before it are passed over, not decoded.
    pub fn trait_value(&self, key: &str) -> Option<Value> {
        self.read(Section::Traits, |d| {
            for _ in 0..d.count()? {
                if d.str()? == key {
                    return d.value().map(Some);
                }
                d.skip_value()?;
            }
            Ok(None)
        })
    }

    pub fn traits(&self) -> Vec<(String, Value)> {
        self.read(Section::Traits, Decoder::traits)
    }

    pub fn loyalty(&self) -> Option<Loyalty> {
        self.read(Section::Loyalty, Decoder::loyalty)
    }

    /// The newest `limit` events (only those are decoded).
    pub fn recent_events(&self, limit: usize) -> Vec<Event> {
        self.read(Section::Events, |d| d.events(limit))
    }

    pub fn affinity(&self, category: &str) -> Option<f64> {
        self.read(Section::Affinities, |d| {
            for _ in 0..d.count()? {
                let (name, score) = d.affinity()?;
                if name == category {
                    return Ok(Some(score));
                }
            }
            Ok(None)
        })
    }

    pub fn affinities(&self) -> Vec<(String, f64)> {
        self.read(Section::Affinities, Decoder::affinities)
    }

    /// Every field (a section that does not decode reads as absent, as for its accessor).
    pub fn decode(&self) -> Profile {
        Profile {
            customer_id: Some(self.customer_id().to_owned()),
            segments: self.segments(),
            traits: self.traits(),
            loyalty: self.loyalty(),
            consent: self.consent(),
            recent_events: self.recent_events(usize::MAX),
            affinities: self.affinities(),
        }
    }

    /// Every field, or the first damage found.
    pub fn try_decode(&self) -> Result<Profile, Malformed> {
        decode::decode(&self.value, &self.dictionary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::sample;
    use crate::profiles::snapshot::ProfileRef;
    use crate::profiles::store::codec::Encoder;

    fn encode(profile: &Profile, dictionary: &mut Dictionary) -> Box<[u8]> {
        let mut out = Vec::new();
        let id = profile.customer_id.as_deref().unwrap_or_default();
        Encoder { names: dictionary }.encode(&ProfileRef::of(id, profile), &mut out);
        out.into()
    }

    /// Every accessor of `stored` reads what `profile` holds.
    fn agrees(stored: &StoredProfile, profile: &Profile) {
        assert_eq!(Some(stored.customer_id()), profile.customer_id.as_deref());
        assert_eq!(stored.consent(), profile.consent);
        assert_eq!(stored.segments(), profile.segments);
        for segment in profile.segments.iter().map(String::as_str).chain(["nope"]) {
            assert_eq!(stored.in_segment(segment), profile.in_segment(segment));
        }
        assert_eq!(stored.traits(), profile.traits);
        for (key, _) in profile
            .traits
            .iter()
            .chain(&[("nope".into(), Value::Boolean(true))])
        {
            assert_eq!(
                stored.trait_value(key).as_ref(),
                profile.trait_value(key),
                "{key}"
            );
        }
        assert_eq!(stored.loyalty(), profile.loyalty);
        for limit in [0, 1, 3, profile.recent_events.len(), usize::MAX] {
            let newest: Vec<_> = profile.recent_events.iter().take(limit).cloned().collect();
            assert_eq!(stored.recent_events(limit), newest, "{limit}");
        }
        assert_eq!(stored.affinities(), profile.affinities);
        for (category, _) in profile.affinities.iter().chain(&[("nope".into(), 0.0)]) {
            assert_eq!(
                stored.affinity(category),
                tailor_types::lookup(&profile.affinities, category).copied()
            );
        }
        assert_eq!(&stored.decode(), profile);
        assert_eq!(stored.try_decode().as_ref(), Ok(profile));
    }

    #[test]
    fn every_field_reads_as_the_whole_decode_has_it() {
        let mut dictionary = Dictionary::default();
        let values: Vec<_> = (0..300)
            .map(|i| {
                (
                    sample::profile(i),
                    encode(&sample::profile(i), &mut dictionary),
                )
            })
            .collect();
        let mut odd = sample::profile(1);
        // A repeated key (the first one is the trait), names too long for the dictionary,
        // texts that need UTF-8, no loyalty, no events.
        odd.traits
            .push(("first_name".into(), Value::Text("second".into())));
        odd.traits.push((
            "x".repeat(100),
            Value::TextList(vec!["é€".into(), String::new()]),
        ));
        odd.segments.push("s".repeat(100));
        odd.loyalty = None;
        odd.recent_events.clear();
        let odd_value = encode(&odd, &mut dictionary);
        let dictionary = Arc::new(dictionary);
        for (profile, value) in values.into_iter().chain([(odd, odd_value)]) {
            let stored = StoredProfile::new(value, dictionary.clone()).unwrap();
            agrees(&stored, &profile);
        }
    }

    #[test]
    fn a_damaged_value_is_refused_when_it_is_read_or_decoded() {
        let mut dictionary = Dictionary::default();
        let value = encode(&sample::profile(7), &mut dictionary);
        let dictionary = Arc::new(dictionary);
        for cut in 0..value.len() {
            let cut_short = value[..cut].to_vec().into_boxed_slice();
            assert!(
                StoredProfile::new(cut_short, dictionary.clone()).is_err(),
                "{cut}"
            );
        }
        let mut longer = value.to_vec();
        longer.push(0);
        assert_eq!(
            StoredProfile::new(longer.into(), dictionary.clone()).err(),
            Some(Malformed("bytes after the profile"))
        );
        // Against another store's (empty) dictionary, its names are unknown: the layout reads,
        // the sections do not, and each reads as absent.
        let foreign = StoredProfile::new(value.clone(), Arc::default()).unwrap();
        assert_eq!(foreign.try_decode(), Err(Malformed("unknown name")));
        assert_eq!(foreign.customer_id(), "cust-000007");
        assert!(foreign.segments().is_empty() && foreign.traits().is_empty());
        assert_eq!(foreign.loyalty(), None);
        // Every byte of every section changed in turn: each is refused by the layout, or by
        // the section it is in, or reads as some other value of the same shape (a digit of a
        // number), never past its section.
        let profile = sample::profile(7);
        for at in 0..value.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = value.to_vec();
                damaged[at] ^= flip;
                let Ok(stored) = StoredProfile::new(damaged.into(), dictionary.clone()) else {
                    continue;
                };
                if let Ok(read) = stored.try_decode() {
                    assert_eq!(
                        read.recent_events.len(),
                        profile.recent_events.len(),
                        "{at}"
                    );
                    assert_eq!(read.segments.len(), profile.segments.len(), "{at}");
                }
                // The accessors never panic, whatever they find.
                let _ = stored.decode();
                let _ = stored.trait_value("first_name");
            }
        }
    }
}
