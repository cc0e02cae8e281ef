//! A stored profile read field by field: the value's bytes, checked whole once when they are
//! read from the store (without building a string), then decoded only where a decision asks
//! (a policy reading a tier and one trait decodes those two, whatever else the customer holds).

use super::codec::{Dictionary, Malformed};
use super::decode::Decoder;
use std::sync::Arc;
use tailor_types::{Consent, Event, Loyalty, Profile, Value};

/// One customer's stored value, with where each of its fields starts.
#[derive(Debug)]
pub struct StoredProfile {
    value: Box<[u8]>,
    /// The store's names the value refers to.
    dictionary: Arc<Dictionary>,
    id: (usize, usize),
    segments: usize,
    traits: usize,
    loyalty: usize,
    consent: Consent,
    events: usize,
    affinities: usize,
}

impl StoredProfile {
    /// Checks a value whole (every length, name and UTF-8 text) and notes where its fields
    /// start.
    pub(super) fn new(
        value: Box<[u8]>,
        dictionary: Arc<Dictionary>,
    ) -> Result<StoredProfile, Malformed> {
        let len = value.len();
        let mut d = Decoder::new(&value, &dictionary);
        let at = |d: &Decoder<'_>| len - d.remaining();
        let id_len = d.inline_str()?.len();
        let segments = at(&d);
        let id = (segments - id_len, segments);
        d.skip_strings()?;
        let traits = at(&d);
        for _ in 0..d.count()? {
            d.str()?;
            d.skip_value()?;
        }
        let loyalty = at(&d);
        d.loyalty_ref()?;
        let consent = d.consent()?;
        let events = at(&d);
        for _ in 0..d.count()? {
            d.skip_event()?;
        }
        let affinities = at(&d);
        for _ in 0..d.count()? {
            d.affinity()?;
        }
        d.end()?;
        Ok(StoredProfile {
            value,
            dictionary,
            id,
            segments,
            traits,
            loyalty,
            consent,
            events,
            affinities,
        })
    }

    /// What `read` finds from `offset` on. The value was checked whole when this view was made,
    /// so a read cannot fail; if one did (a bug), it logs and gives `T::default()`.
    fn read<'s, T: Default>(
        &'s self,
        offset: usize,
        read: impl FnOnce(&mut Decoder<'s>) -> Result<T, Malformed>,
    ) -> T {
        let mut decoder = Decoder::new(
            self.value.get(offset..).unwrap_or_default(),
            &self.dictionary,
        );
        read(&mut decoder).unwrap_or_else(|malformed| {
            tracing::error!(%malformed, "a stored profile checked when it was read failed to decode");
            T::default()
        })
    }

    pub fn customer_id(&self) -> &str {
        let (start, end) = self.id;
        std::str::from_utf8(self.value.get(start..end).unwrap_or_default()).unwrap_or_default()
    }

    pub fn consent(&self) -> Consent {
        self.consent
    }

    pub fn segments(&self) -> Vec<String> {
        self.read(self.segments, Decoder::strings)
    }

    pub fn in_segment(&self, segment: &str) -> bool {
        self.read(self.segments, |d| {
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
        self.read(self.traits, |d| {
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
        self.read(self.traits, |d| {
            let n = d.count()?;
            let mut traits = Vec::with_capacity(n);
            for _ in 0..n {
                let key = d.str()?.to_owned();
                traits.push((key, d.value()?));
            }
            Ok(traits)
        })
    }

    pub fn loyalty(&self) -> Option<Loyalty> {
        self.read(self.loyalty, Decoder::loyalty)
    }

    /// The newest `limit` events (only those are decoded).
    pub fn recent_events(&self, limit: usize) -> Vec<Event> {
        self.read(self.events, |d| {
            let n = d.count()?.min(limit);
            let mut events = Vec::with_capacity(n);
            let mut last_at = 0;
            for _ in 0..n {
                events.push(d.event(&mut last_at)?);
            }
            Ok(events)
        })
    }

    pub fn affinity(&self, category: &str) -> Option<f64> {
        self.read(self.affinities, |d| {
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
        self.read(self.affinities, |d| {
            let n = d.count()?;
            let mut affinities = Vec::with_capacity(n);
            for _ in 0..n {
                let (name, score) = d.affinity()?;
                affinities.push((name.to_owned(), score));
            }
            Ok(affinities)
        })
    }

    /// Every field.
    pub fn decode(&self) -> Profile {
        self.read(0, Decoder::decode)
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
    fn a_damaged_value_is_refused_when_it_is_read_from_the_store() {
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
        // Against another store's (empty) dictionary, its names are unknown.
        assert_eq!(
            StoredProfile::new(value, Arc::default()).err(),
            Some(Malformed("unknown name"))
        );
    }
}
