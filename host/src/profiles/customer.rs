//! The profile a decision is made for, as the engine lends it to a policy: a snapshot value
//! read field by field from the store ([`StoredProfile`]), or a decoded [`Profile`] (an
//! anonymous visitor, a snapshot profile with newer events applied, a fixture's profile).

use super::store::StoredProfile;
use std::borrow::Cow;
use std::sync::Arc;
use tailor_types::{Consent, Event, Loyalty, Profile, Value};

/// A customer's profile; cheap to clone (one shared allocation).
#[derive(Debug, Clone)]
pub struct CustomerProfile(Arc<Held>);

#[derive(Debug)]
enum Held {
    Decoded(Profile),
    Stored(StoredProfile),
}

impl From<Profile> for CustomerProfile {
    fn from(profile: Profile) -> CustomerProfile {
        CustomerProfile(Arc::new(Held::Decoded(profile)))
    }
}

impl From<StoredProfile> for CustomerProfile {
    fn from(stored: StoredProfile) -> CustomerProfile {
        CustomerProfile(Arc::new(Held::Stored(stored)))
    }
}

impl CustomerProfile {
    /// Absent for an anonymous visitor.
    pub fn customer_id(&self) -> Option<&str> {
        match &*self.0 {
            Held::Decoded(p) => p.customer_id.as_deref(),
            Held::Stored(s) => Some(s.customer_id()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.customer_id().is_none()
    }

    pub fn consent(&self) -> Consent {
        match &*self.0 {
            Held::Decoded(p) => p.consent,
            Held::Stored(s) => s.consent(),
        }
    }

    pub fn segments(&self) -> Vec<String> {
        match &*self.0 {
            Held::Decoded(p) => p.segments.clone(),
            Held::Stored(s) => s.segments(),
        }
    }

    pub fn in_segment(&self, segment: &str) -> bool {
        match &*self.0 {
            Held::Decoded(p) => p.in_segment(segment),
            Held::Stored(s) => s.in_segment(segment),
        }
    }

    /// The first trait named `key`.
    pub fn trait_value(&self, key: &str) -> Option<Value> {
        match &*self.0 {
            Held::Decoded(p) => p.trait_value(key).cloned(),
            Held::Stored(s) => s.trait_value(key),
        }
    }

    pub fn traits(&self) -> Vec<(String, Value)> {
        match &*self.0 {
            Held::Decoded(p) => p.traits.clone(),
            Held::Stored(s) => s.traits(),
        }
    }

    pub fn loyalty(&self) -> Option<Loyalty> {
        match &*self.0 {
            Held::Decoded(p) => p.loyalty.clone(),
            Held::Stored(s) => s.loyalty(),
        }
    }

    /// The newest `limit` events, newest first.
    pub fn recent_events(&self, limit: usize) -> Vec<Event> {
        match &*self.0 {
            Held::Decoded(p) => p.recent_events.iter().take(limit).cloned().collect(),
            Held::Stored(s) => s.recent_events(limit),
        }
    }

    pub fn affinity(&self, category: &str) -> Option<f64> {
        match &*self.0 {
            Held::Decoded(p) => tailor_types::lookup(&p.affinities, category).copied(),
            Held::Stored(s) => s.affinity(category),
        }
    }

    pub fn affinities(&self) -> Vec<(String, f64)> {
        match &*self.0 {
            Held::Decoded(p) => p.affinities.clone(),
            Held::Stored(s) => s.affinities(),
        }
    }

    /// Every field, decoded (borrowed when it already is).
    pub fn decoded(&self) -> Cow<'_, Profile> {
        match &*self.0 {
            Held::Decoded(p) => Cow::Borrowed(p),
            Held::Stored(s) => Cow::Owned(s.decode()),
        }
    }
}
