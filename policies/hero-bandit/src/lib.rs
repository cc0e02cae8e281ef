//! Homepage hero banner that learns which creative works, by Thompson sampling.
//!
//! Every visitor with a bucketing unit who consents to personalization gets one of the
//! `/experiment/arms` creatives. Until each arm has `/bandit/burn_in` exposed units, units are
//! split by the arms' weights; after that each unit's arm is a Thompson draw from the arms'
//! Beta posteriors over the conversions (the `/experiment/outcomes` event kinds, clicks here)
//! the node attributed to them, seeded by the unit and the minute (policies have no
//! randomness), with `/bandit/floor` of traffic per arm kept exploring. A unit keeps the arm it
//! last saw for `/bandit/sticky_hours`. `"learn": false` keeps the plain weighted split: the
//! fixed test a bandit is measured against. Everyone else sees `/default_variant`.

use tailor_guest::experiment::arms_at;
use tailor_guest::{
    Decision, Experiment, LastExposure, Policy, PolicyError, Reason, Request, Thompson, assign,
    pointer,
};

#[derive(Debug)]
pub struct HeroBandit;

impl Policy for HeroBandit {
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError> {
        let config = &request.config;
        let (variant, reason, experiment) = match choose(request)? {
            Some(experiment) => (experiment.variant.clone(), Reason::Split, Some(experiment)),
            None => (
                config.require_text("/default_variant")?,
                Reason::Default,
                None,
            ),
        };
        let creative = pointer(&["variants", &variant]);
        let fields = config.texts(&creative);
        if fields.is_empty() {
            return Err(PolicyError::new(
                "invalid_config",
                format!("variant {variant:?} has no creative at {creative}"),
            ));
        }
        let mut decision = Decision::new(reason).variant(variant);
        for (field, text) in fields {
            decision = decision.render(field, text);
        }
        if let Some(ttl) = config.number("/ttl_seconds") {
            decision = decision.ttl(ttl as u32);
        }
        if let Some(experiment) = experiment {
            decision = decision.experiment(experiment);
        }
        Ok(decision)
    }
}

/// The unit's arm, or `None` for the default creative.
fn choose(request: &Request<'_>) -> Result<Option<Experiment>, PolicyError> {
    let config = &request.config;
    let (Some(unit), true) = (request.unit_id(), request.may_personalize()) else {
        return Ok(None);
    };
    let key = config.require_text("/experiment/key")?;
    let arms = arms_at(config, "/experiment/arms");
    if config.boolean("/bandit/learn") == Some(false) {
        return Ok(assign(&key, unit, &arms));
    }
    let mut bandit = Thompson::new(&key, &arms);
    if let Some(burn_in) = config.number("/bandit/burn_in") {
        bandit = bandit.burn_in(burn_in.max(0.0) as u64);
    }
    if let Some(floor) = config.number("/bandit/floor") {
        bandit = bandit.floor(floor);
    }
    if let Some(hours) = config.number("/bandit/sticky_hours") {
        bandit = bandit.sticky_ms((hours.max(0.0) * 3_600_000.0) as i64);
    }
    let outcomes = &request.outcomes;
    let last: Option<LastExposure> = outcomes.last_exposure(&key);
    Ok(bandit.choose(
        unit,
        request.context.now_ms,
        &outcomes.experiment(&key),
        last.as_ref(),
    ))
}

tailor_guest::export_policy!(HeroBandit);

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_guest::{
        Channel, Consent, Context, OutcomeData, ProfileData as Profile, Stats, testing,
    };

    fn config() -> serde_json::Value {
        testing::load_config(env!("CARGO_MANIFEST_DIR").as_ref())
    }

    fn visitor(id: &str) -> (Context, Profile) {
        let mut context = Context::new(Channel::Web, "home-hero", 1_800_000_000_000);
        context.anonymous_id = Some(id.into());
        let profile = Profile {
            consent: Consent {
                personalization: true,
                analytics: true,
                ..Consent::default()
            },
            ..Profile::default()
        };
        (context, profile)
    }

    fn arm(outcomes: &OutcomeData, config: serde_json::Value, id: &str) -> Option<String> {
        let (context, profile) = visitor(id);
        let request =
            testing::request_with_outcomes(context, profile, vec![], config, outcomes.clone());
        HeroBandit::decide(&request).unwrap().variant
    }

    fn stats(id: &str, trials: u64, successes: u64) -> Stats {
        Stats {
            id: id.into(),
            trials,
            successes,
            value: 0.0,
        }
    }

    fn learned() -> OutcomeData {
        OutcomeData {
            experiments: vec![(
                "hero-bandit-2026".into(),
                vec![
                    stats("spring-brand", 4_000, 120),
                    stats("spring-lifestyle", 4_000, 140),
                    stats("summer-preview", 4_000, 200),
                ],
            )],
            ..OutcomeData::default()
        }
    }

    fn share(outcomes: &OutcomeData, config: serde_json::Value, variant: &str) -> f64 {
        let hits = (0..2_000)
            .filter(|i| {
                arm(outcomes, config.clone(), &format!("v-{i}")).as_deref() == Some(variant)
            })
            .count();
        hits as f64 / 2_000.0
    }

    #[test]
    fn before_burn_in_units_are_split_evenly() {
        let share = share(&OutcomeData::default(), config(), "summer-preview");
        assert!((share - 1.0 / 3.0).abs() < 0.05, "{share}");
    }

    #[test]
    fn after_burn_in_the_best_creative_takes_most_traffic() {
        let share = share(&learned(), config(), "summer-preview");
        assert!(share > 0.85, "{share}");
    }

    #[test]
    fn without_learning_the_split_stays_fixed() {
        let mut config = config();
        config["bandit"]["learn"] = false.into();
        let share = share(&learned(), config, "summer-preview");
        assert!((share - 1.0 / 3.0).abs() < 0.05, "{share}");
    }

    #[test]
    fn a_returning_unit_keeps_its_arm() {
        let mut outcomes = learned();
        outcomes.last_exposures = vec![(
            "hero-bandit-2026".into(),
            LastExposure {
                variant: "spring-brand".into(),
                at_ms: 1_800_000_000_000 - 3_600_000,
            },
        )];
        for i in 0..50 {
            let variant = arm(&outcomes, config(), &format!("v-{i}"));
            assert_eq!(variant.as_deref(), Some("spring-brand"));
        }
    }

    #[test]
    fn without_a_unit_or_consent_the_default_shows() {
        let (mut context, profile) = visitor("v-1");
        context.anonymous_id = None;
        let d = testing::decide::<HeroBandit>(context, profile, vec![], config()).unwrap();
        assert_eq!(
            (d.variant.as_deref(), d.reason),
            (Some("spring-brand"), Reason::Default)
        );
        assert!(d.experiment.is_none());
        let (context, mut profile) = visitor("v-1");
        profile.consent.personalization = false;
        let d = testing::decide::<HeroBandit>(context, profile, vec![], config()).unwrap();
        assert_eq!(d.reason, Reason::Default);
    }
}
