//! The customer profile a decision is made for.
//!
//! In the host the snapshot stays on the host side and every accessor is a host call, so a
//! policy pays only for what it reads. Natively (unit tests) the same API reads a local
//! [`tailor_types::Profile`]. Customer id and consent, which most policies check more than once,
//! are fetched once per decision.

use crate::{Consent, Event, Loyalty, Value};
use std::cell::OnceCell;

/// The profile snapshot of the customer being decided for.
#[derive(Debug)]
pub struct Profile<'a> {
    source: Source<'a>,
    customer_id: OnceCell<Option<String>>,
    consent: OnceCell<Consent>,
}

#[derive(Debug)]
enum Source<'a> {
    #[cfg(target_arch = "wasm32")]
    Host(&'a crate::__private::tailor::policy::customer::Profile),
    #[cfg(not(target_arch = "wasm32"))]
    Local(tailor_types::Profile, std::marker::PhantomData<&'a ()>),
}

impl<'a> Profile<'a> {
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn host(handle: &'a crate::__private::tailor::policy::customer::Profile) -> Self {
        Profile::from_source(Source::Host(handle))
    }

    /// A profile read from local data, for native tests.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn local(profile: tailor_types::Profile) -> Self {
        Profile::from_source(Source::Local(profile, std::marker::PhantomData))
    }

    fn from_source(source: Source<'a>) -> Self {
        Profile {
            source,
            customer_id: OnceCell::new(),
            consent: OnceCell::new(),
        }
    }

    /// The customer id; `None` for an anonymous visitor.
    pub fn customer_id(&self) -> Option<&str> {
        self.customer_id
            .get_or_init(|| match &self.source {
                #[cfg(target_arch = "wasm32")]
                Source::Host(h) => h.customer_id(),
                #[cfg(not(target_arch = "wasm32"))]
                Source::Local(p, _) => p.customer_id.clone(),
            })
            .as_deref()
    }

    pub fn is_anonymous(&self) -> bool {
        self.customer_id().is_none()
    }

    /// Consent by purpose (all `false` unless granted).
    pub fn consent(&self) -> Consent {
        *self.consent.get_or_init(|| match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => {
                let c = h.consent();
                Consent {
                    personalization: c.personalization,
                    marketing: c.marketing,
                    analytics: c.analytics,
                    third_party_sharing: c.third_party_sharing,
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.consent,
        })
    }

    pub fn in_segment(&self, segment: &str) -> bool {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h.in_segment(segment),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.in_segment(segment),
        }
    }

    pub fn segments(&self) -> Vec<String> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h.segments(),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.segments.clone(),
        }
    }

    /// A typed trait such as `first_name`.
    pub fn trait_value(&self, key: &str) -> Option<Value> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h.get_trait(key).map(crate::__private::value_from),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.trait_value(key).cloned(),
        }
    }

    pub fn traits(&self) -> Vec<(String, Value)> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => crate::__private::pairs_from(h.traits()),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.traits.clone(),
        }
    }

    pub fn loyalty(&self) -> Option<Loyalty> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h.loyalty().map(|l| Loyalty {
                tier: l.tier,
                points: l.points,
            }),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.loyalty.clone(),
        }
    }

    /// The loyalty tier name, if the customer is a member.
    pub fn loyalty_tier(&self) -> Option<String> {
        self.loyalty().map(|l| l.tier)
    }

    /// The most recent events, newest first, at most `limit`.
    pub fn recent_events(&self, limit: u32) -> Vec<Event> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h
                .recent_events(limit)
                .into_iter()
                .map(crate::__private::event_from)
                .collect(),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p
                .recent_events
                .iter()
                .take(limit as usize)
                .cloned()
                .collect(),
        }
    }

    /// Affinity score of a category (0.0 when unknown).
    pub fn affinity(&self, category: &str) -> f64 {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h.affinity(category).unwrap_or(0.0),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.affinity(category),
        }
    }

    pub fn affinities(&self) -> Vec<(String, f64)> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host(h) => h.affinities(),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Local(p, _) => p.affinities.clone(),
        }
    }
}
