//! Homepage hero banner for web and app.
//!
//! In order: a customer without personalization consent sees the default creative; a loyalty
//! tier with its own creative wins next (`/tier_variants`); then the first segment in
//! `/segment_variants` (document order is priority order) the customer belongs to; everyone else
//! with a bucketing unit enters the `/experiment` A/B test; what is left gets `/default_variant`.
//! The creative of the chosen variant (`/variants/{name}`) is rendered as key/values.

use tailor_guest::{
    Decision, Experiment, Policy, PolicyError, Reason, Request, assign, experiment::arms_at,
    pointer,
};

#[derive(Debug)]
pub struct HeroBanner;

impl Policy for HeroBanner {
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError> {
        let (variant, reason, experiment) = choose(request)?;
        let config = &request.config;
        let creative = pointer(&["variants", &variant]);
        // The whole creative in one read.
        let fields = config.texts(&creative);
        if fields.is_empty() {
            return Err(PolicyError::new(
                "invalid_config",
                format!("variant {variant:?} has no creative at {creative}"),
            ));
        }
        let mut decision = Decision::new(reason);
        for (field, text) in fields {
            decision = decision.render(field, text);
        }
        if let Some(ttl) = config.number("/ttl_seconds") {
            decision = decision.ttl(ttl as u32);
        }
        if let Some(experiment) = experiment {
            decision = decision.experiment(experiment);
        }
        Ok(decision.variant(variant))
    }
}

fn choose(request: &Request<'_>) -> Result<(String, Reason, Option<Experiment>), PolicyError> {
    let config = &request.config;
    let default = || config.require_text("/default_variant");
    if !request.may_personalize() {
        return Ok((default()?, Reason::Default, None));
    }
    let profile = &request.profile;
    if let Some(variant) = profile
        .loyalty_tier()
        .and_then(|tier| config.text(&pointer(&["tier_variants", &tier])))
    {
        return Ok((variant, Reason::TargetingMatch, None));
    }
    for segment in config.keys("/segment_variants") {
        if profile.in_segment(&segment) {
            let variant = config.require_text(&pointer(&["segment_variants", &segment]))?;
            return Ok((variant, Reason::TargetingMatch, None));
        }
    }
    if let (Some(key), Some(unit)) = (config.text("/experiment/key"), request.unit_id()) {
        let arms = arms_at(config, "/experiment/arms");
        if let Some(assignment) = assign(&key, unit, &arms) {
            return Ok((assignment.variant.clone(), Reason::Split, Some(assignment)));
        }
    }
    Ok((default()?, Reason::Default, None))
}

tailor_guest::export_policy!(HeroBanner);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tailor_guest::{Channel, Consent, Context, Loyalty, ProfileData as Profile, testing};

    fn member(tier: &str, segments: &[&str]) -> Profile {
        Profile {
            customer_id: Some("cust-1".into()),
            segments: segments.iter().map(|s| (*s).into()).collect(),
            loyalty: Some(Loyalty {
                tier: tier.into(),
                points: 100,
            }),
            consent: Consent {
                personalization: true,
                ..Consent::default()
            },
            ..Profile::default()
        }
    }

    fn config() -> serde_json::Value {
        testing::load_config(env!("CARGO_MANIFEST_DIR").as_ref())
    }

    fn decide(profile: Profile) -> Result<Decision, PolicyError> {
        testing::decide::<HeroBanner>(
            Context::new(Channel::Web, "home-hero", 0),
            profile,
            vec![],
            config(),
        )
    }

    #[test]
    fn tier_beats_segment() {
        let d = decide(member("platinum", &["cart_abandoner"])).unwrap();
        assert_eq!(d.variant.as_deref(), Some("vip-early-access"));
        assert_eq!(d.reason, Reason::TargetingMatch);
    }

    #[test]
    fn segment_priority_is_document_order() {
        let d = decide(member("bronze", &["new_customer", "cart_abandoner"])).unwrap();
        assert_eq!(d.variant.as_deref(), Some("cart-reminder"));
    }

    #[test]
    fn experiment_splits_everyone_else_by_unit() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let mut p = member("bronze", &[]);
            p.customer_id = Some(format!("cust-{i}"));
            let d = decide(p).unwrap();
            assert_eq!(d.reason, Reason::Split);
            let exp = d.experiment.unwrap();
            assert_eq!(exp.key, "hero-spring-2026");
            assert_eq!(Some(exp.variant), d.variant);
            seen.insert(d.variant.unwrap());
        }
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn no_consent_means_default_creative() {
        let mut p = member("platinum", &[]);
        p.consent.personalization = false;
        let d = decide(p).unwrap();
        assert_eq!(
            (d.variant.as_deref(), d.reason),
            (Some("spring-brand"), Reason::Default)
        );
        assert!(
            d.render
                .iter()
                .any(|(k, v)| k == "headline" && v == "Spring is here")
        );
    }

    #[test]
    fn a_variant_without_creative_is_a_config_error() {
        let mut cfg = config();
        cfg["tier_variants"]["gold"] = json!("does-not-exist");
        let err = testing::decide::<HeroBanner>(
            Context::new(Channel::App, "home-hero", 0),
            member("gold", &[]),
            vec![],
            cfg,
        )
        .unwrap_err();
        assert_eq!(err.code, "invalid_config");
        assert!(err.message.contains("does-not-exist"));
    }

    #[test]
    fn missing_default_is_named() {
        let err = testing::decide::<HeroBanner>(
            Context::new(Channel::Web, "home-hero", 0),
            Profile::default(),
            vec![],
            json!({}),
        )
        .unwrap_err();
        assert_eq!(err.code, "missing_config");
        assert!(err.message.contains("/default_variant"));
    }
}
