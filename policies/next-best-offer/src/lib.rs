//! Next-best-offer for email and app.
//!
//! Scores every candidate offer with a small logistic model — category affinity, recently viewed
//! categories, carted and already-purchased items (event signals decay with a half-life), the
//! offer's discount and margin, and a loyalty-tier boost — whose weights live in the config, so
//! a data scientist retrains and publishes weights without a code change. Offers under
//! `/min_score` are dropped, at most `/max_per_category` per `category:` tag are kept, and the
//! best `/top_k` are returned.
//!
//! Without personalization consent only the non-personal features count (reason `DEFAULT`). On a
//! channel listed in `/marketing_consent_channels` a customer without marketing consent gets no
//! offers at all (reason `DISABLED`).
//!
//! With `/learning` in the config the ranking also learns online: an offer shown at least
//! `/learning/min_trials` times is scored by a Thompson draw of its conversion rate, from a Beta
//! posterior whose prior is the model's score (worth `/learning/prior_weight` impressions) and
//! whose data are the impressions and conversions the node attributed to it (contract 0.2.0's
//! `outcomes`). The draws are seeded by the unit and the minute, so a page's slots agree.
//!
//! The config is read whole into a `#[derive(Deserialize)]` struct (`Settings`) with
//! `request.config.parse()`: the struct documents the config's shape, and a missing weight or a
//! mistyped setting fails the decision with an error naming its JSON pointer.

use serde::Deserialize;
use std::collections::BTreeMap;
use tailor_guest::bandit::{Draws, sample_rate};
use tailor_guest::rank::{diversify, rank, top_k};
use tailor_guest::{Candidate, Decision, Event, Policy, PolicyError, Reason, Request, Stats};

#[derive(Debug)]
pub struct NextBestOffer;

/// Most recent events the model looks at.
const MAX_EVENTS: u32 = 100;

/// The policy's config document (`config.json`), read into one typed value per decision: a
/// missing or mistyped setting is an error naming its JSON pointer (`/model/margin`).
#[derive(Debug, Deserialize)]
struct Settings {
    #[serde(default = "Settings::default_ttl")]
    ttl_seconds: u32,
    /// How many offers to return.
    #[serde(default = "Settings::default_top_k")]
    top_k: usize,
    /// At most this many offers per `category:` tag (no cap when absent).
    #[serde(default = "Settings::no_cap")]
    max_per_category: usize,
    /// Offers scoring below this are dropped.
    #[serde(default)]
    min_score: f64,
    /// Half-life of event signals; a non-positive one means the default.
    #[serde(default = "Settings::default_half_life")]
    half_life_hours: f64,
    /// Channels on which a customer without marketing consent gets no offers.
    #[serde(default)]
    marketing_consent_channels: Vec<String>,
    model: Model,
    /// Online learning on top of the model; off when absent.
    #[serde(default)]
    learning: Option<Learning>,
}

/// `/learning`: how much the model's score counts against what the node observed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Learning {
    /// The model's score counts as this many impressions of evidence.
    #[serde(default = "Learning::default_prior_weight")]
    prior_weight: f64,
    /// Offers shown fewer times than this are scored by the model alone.
    #[serde(default = "Learning::default_min_trials")]
    min_trials: u64,
}

impl Learning {
    fn default_prior_weight() -> f64 {
        50.0
    }
    fn default_min_trials() -> u64 {
        30
    }

    /// The learned score of an offer the model scored `prior`: a draw from its posterior once
    /// it has been shown often enough, the model's score before.
    fn score(&self, draws: &mut Draws, prior: f64, stats: Option<&Stats>) -> f64 {
        match stats {
            Some(stats) if stats.trials >= self.min_trials => {
                sample_rate(draws, prior, self.prior_weight, stats)
            }
            _ => prior,
        }
    }
}

impl Settings {
    fn default_ttl() -> u32 {
        3600
    }
    fn default_top_k() -> usize {
        3
    }
    fn no_cap() -> usize {
        usize::MAX
    }
    fn default_half_life() -> f64 {
        72.0
    }
}

/// The logistic model under `/model`: every weight is required.
#[derive(Debug, Deserialize)]
struct Model {
    /// Recorded in the decision (render key `model`).
    #[serde(default)]
    version: String,
    bias: f64,
    affinity: f64,
    viewed_category: f64,
    carted_item: f64,
    purchased_item: f64,
    discount: f64,
    margin: f64,
    /// Extra log-odds for a personalized customer of a loyalty tier.
    #[serde(default)]
    tier_boost: BTreeMap<String, f64>,
}

impl Model {
    /// The boost for a customer of this tier (`None`: no tier, or not personalized).
    fn tier_boost(&self, tier: Option<&str>) -> f64 {
        tier.and_then(|tier| self.tier_boost.get(tier).copied())
            .unwrap_or(0.0)
    }
}

/// What the customer's recent events say about one candidate.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Signals {
    viewed_category: f64,
    carted: f64,
    purchased: f64,
}

fn category(candidate: &Candidate) -> Option<&str> {
    candidate
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("category:"))
}

/// Event signals for a candidate, each event weighted by `0.5^(age / half-life)`; the category
/// view signal saturates at 3.
fn signals(events: &[Event], candidate: &Candidate, now_ms: i64, half_life_hours: f64) -> Signals {
    let category = category(candidate);
    let mut s = Signals::default();
    for event in events {
        let age_hours = ((now_ms - event.at_ms).max(0) as f64) / 3_600_000.0;
        let weight = 0.5f64.powf(age_hours / half_life_hours);
        let same_item = event.item_id.as_deref() == Some(candidate.id.as_str());
        match event.kind.as_str() {
            "product_view" | "page_view"
                if category.is_some() && event.category.as_deref() == category =>
            {
                s.viewed_category += weight;
            }
            "add_to_cart" if same_item => s.carted += weight,
            "purchase" if same_item => s.purchased += weight,
            _ => {}
        }
    }
    s.viewed_category = s.viewed_category.min(3.0);
    s
}

/// The model's score for a candidate; `personal` is the customer's affinity for the
/// candidate's category and its event signals, and only then does the tier boost count.
fn score(
    w: &Model,
    tier_boost: f64,
    candidate: &Candidate,
    personal: Option<(f64, Signals)>,
) -> f64 {
    let mut z = w.bias
        + w.discount * candidate.number("discount").unwrap_or(0.0)
        + w.margin * candidate.number("margin").unwrap_or(0.0);
    if let Some((affinity, s)) = personal {
        z += w.affinity * affinity
            + w.viewed_category * s.viewed_category
            + w.carted_item * s.carted
            + w.purchased_item * s.purchased
            + tier_boost;
    }
    1.0 / (1.0 + (-z).exp())
}

impl Policy for NextBestOffer {
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError> {
        let settings: Settings = request.config.parse()?;
        let (profile, context) = (&request.profile, &request.context);
        let ttl = settings.ttl_seconds;
        let model = settings.model.version.clone();

        let needs_marketing = settings
            .marketing_consent_channels
            .iter()
            .any(|channel| channel == context.channel.as_str());
        if needs_marketing && !profile.consent().marketing {
            return Ok(Decision::new(Reason::Disabled)
                .ttl(ttl)
                .render("model", model));
        }

        let personal = request.may_personalize() && !profile.is_anonymous();
        let tier = if personal {
            profile.loyalty_tier()
        } else {
            None
        };
        let tier_boost = settings.model.tier_boost(tier.as_deref());
        let half_life = Some(settings.half_life_hours)
            .filter(|h| *h > 0.0)
            .unwrap_or_else(Settings::default_half_life);
        let min_score = settings.min_score;
        // Read once for all candidates; older events than this window barely count anyway.
        let events = if personal {
            profile.recent_events(MAX_EVENTS)
        } else {
            Vec::new()
        };
        // What the node observed of each offer, in one host call, and the seeded draws.
        let observed: BTreeMap<String, Stats> = match &settings.learning {
            Some(_) => {
                let ids: Vec<String> = request.candidates.iter().map(|c| c.id.clone()).collect();
                request
                    .outcomes
                    .items(&ids)
                    .into_iter()
                    .map(|s| (s.id.clone(), s))
                    .collect()
            }
            None => BTreeMap::new(),
        };
        // Seeded only when learning is on: a decision without it draws nothing.
        let mut draws = settings.learning.as_ref().map(|_| {
            let minute = context.now_ms.div_euclid(60_000) as u64;
            Draws::new(
                &["next-best-offer", request.unit_id().unwrap_or("")],
                minute,
            )
        });
        let ranked = rank(&request.candidates, |candidate| {
            let features = personal.then(|| {
                let affinity = category(candidate).map_or(0.0, |c| profile.affinity(c));
                (
                    affinity,
                    signals(&events, candidate, context.now_ms, half_life),
                )
            });
            let prior = score(&settings.model, tier_boost, candidate, features);
            let learned = match (&settings.learning, &mut draws) {
                (Some(learning), Some(draws)) => {
                    learning.score(draws, prior, observed.get(&candidate.id))
                }
                _ => prior,
            };
            Some(learned).filter(|s| *s >= min_score)
        });
        let diverse = diversify(ranked, "category:", settings.max_per_category);
        let items = top_k(&diverse, settings.top_k);
        let reason = if personal {
            Reason::TargetingMatch
        } else {
            Reason::Default
        };
        Ok(Decision::new(reason)
            .items(items)
            .ttl(ttl)
            .render("model", model))
    }
}

tailor_guest::export_policy!(NextBestOffer);

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_guest::{ProfileData as Profile, testing};

    fn candidate(id: &str, category: &str, discount: f64) -> Candidate {
        Candidate {
            id: id.into(),
            tags: vec![format!("category:{category}")],
            numbers: vec![("discount".into(), discount), ("margin".into(), 0.3)],
        }
    }

    fn event(kind: &str, item: Option<&str>, category: &str, at_ms: i64) -> Event {
        Event {
            kind: kind.into(),
            item_id: item.map(Into::into),
            category: Some(category.into()),
            value: None,
            at_ms,
        }
    }

    #[test]
    fn event_signals_decay_with_age() {
        let c = candidate("sku-1", "shoes", 0.0);
        let profile = Profile {
            recent_events: vec![
                event("product_view", None, "shoes", 0),
                event("add_to_cart", Some("sku-1"), "shoes", 0),
                event("purchase", Some("sku-2"), "shoes", 0),
            ],
            ..Profile::default()
        };
        let now = signals(&profile.recent_events, &c, 0, 72.0);
        assert_eq!(
            now,
            Signals {
                viewed_category: 1.0,
                carted: 1.0,
                purchased: 0.0
            }
        );
        let later = signals(&profile.recent_events, &c, 72 * 3_600_000, 72.0);
        assert!((later.carted - 0.5).abs() < 1e-12);
    }

    #[test]
    fn views_saturate() {
        let c = candidate("sku-1", "shoes", 0.0);
        let profile = Profile {
            recent_events: (0..10)
                .map(|_| event("product_view", None, "shoes", 0))
                .collect(),
            ..Profile::default()
        };
        assert_eq!(
            signals(&profile.recent_events, &c, 0, 72.0).viewed_category,
            3.0
        );
    }

    #[test]
    fn weights_come_from_config_and_missing_ones_are_named() {
        let mut config = testing::load_config(env!("CARGO_MANIFEST_DIR").as_ref());
        config["model"].as_object_mut().unwrap().remove("margin");
        let err = testing::decide::<NextBestOffer>(
            tailor_guest::Context::new(tailor_guest::Channel::App, "nbo", 0),
            Profile::default(),
            vec![candidate("a", "bags", 0.1)],
            config,
        )
        .unwrap_err();
        assert_eq!(err.code, "missing_config");
        assert!(err.message.contains("/model/margin"), "{}", err.message);
    }

    #[test]
    fn offers_that_convert_rise_once_shown_often_enough() {
        let config = testing::load_config(env!("CARGO_MANIFEST_DIR").as_ref());
        let candidates = vec![candidate("a", "bags", 0.3), candidate("b", "shoes", 0.2)];
        let stats = |id: &str, trials, successes| Stats {
            id: id.into(),
            trials,
            successes,
            value: 0.0,
        };
        let first = |outcomes: tailor_guest::OutcomeData| {
            let request = testing::request_with_outcomes(
                tailor_guest::Context::new(tailor_guest::Channel::App, "nbo", 0),
                Profile::default(),
                candidates.clone(),
                config.clone(),
                outcomes,
            );
            NextBestOffer::decide(&request).unwrap().items[0].id.clone()
        };
        // The model prefers the bigger discount.
        assert_eq!(first(Default::default()), "a");
        // "b" converts far better than the model thought, over many impressions.
        let learned = tailor_guest::OutcomeData {
            items: vec![stats("a", 2_000, 20), stats("b", 2_000, 900)],
            ..Default::default()
        };
        assert_eq!(first(learned), "b");
        // Too few impressions: the model alone decides.
        let early = tailor_guest::OutcomeData {
            items: vec![stats("a", 5, 0), stats("b", 5, 5)],
            ..Default::default()
        };
        assert_eq!(first(early), "a");
    }

    #[test]
    fn purchased_items_sink() {
        let w = Model {
            version: String::new(),
            bias: 0.0,
            affinity: 0.0,
            viewed_category: 0.0,
            carted_item: 0.0,
            purchased_item: -4.0,
            discount: 0.0,
            margin: 0.0,
            tier_boost: BTreeMap::new(),
        };
        let c = candidate("sku-1", "shoes", 0.0);
        let bought = score(
            &w,
            0.0,
            &c,
            Some((
                0.0,
                Signals {
                    purchased: 1.0,
                    ..Signals::default()
                },
            )),
        );
        let fresh = score(&w, 0.0, &c, Some((0.0, Signals::default())));
        assert!(bought < fresh);
    }
}
