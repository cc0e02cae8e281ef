//! In-store kiosk greeting and offer.
//!
//! A loyalty member who consented to personalization is greeted by first name (trait
//! `first_name`), told they are recognised if they already visited this store within
//! `/returning_within_hours`, and shown their tier's offer — the store's own tier offer
//! (`/stores/{store}/tier_offers/{tier}`) before the chain-wide one (`/tier_offers/{tier}`).
//! A known customer who is not a member is invited to join (`/join_offer`). Everyone else — and
//! any member without personalization consent — gets the store's generic greeting and offer.

use tailor_guest::{Decision, Event, Policy, PolicyError, Reason, Request, pointer};

#[derive(Debug)]
pub struct KioskGreeting;

/// Recent events searched for an earlier visit today.
const RECENT_EVENTS: u32 = 20;

fn visited_recently(events: &[Event], store: &str, now_ms: i64, within_hours: f64) -> bool {
    events.iter().any(|e| {
        e.kind == "store_visit"
            && e.item_id.as_deref() == Some(store)
            && ((now_ms - e.at_ms) as f64) < within_hours * 3_600_000.0
            && e.at_ms <= now_ms
    })
}

impl Policy for KioskGreeting {
    fn decide(request: &Request<'_>) -> Result<Decision, PolicyError> {
        let config = &request.config;
        let (profile, context) = (&request.profile, &request.context);
        let store_id = context.store_id.as_deref().unwrap_or("");
        let store_name = config
            .text(&pointer(&["stores", store_id, "name"]))
            .or_else(|| config.text("/default_store_name"))
            .unwrap_or_else(|| "our store".into());
        let store_offer = config.text(&pointer(&["stores", store_id, "offer"]));
        let ttl = config.number("/ttl_seconds").unwrap_or(60.0) as u32;
        let base = |reason| {
            Decision::new(reason)
                .ttl(ttl)
                .render("store_name", store_name.clone())
        };

        let member = profile.loyalty().filter(|_| request.may_personalize());
        let Some(loyalty) = member else {
            if request.may_personalize() && !profile.is_anonymous() {
                let offer = config.require_text("/join_offer")?;
                let greeting = config
                    .require_text("/greetings/guest")?
                    .replace("{store}", &store_name);
                return Ok(base(Reason::TargetingMatch)
                    .variant("join-loyalty")
                    .render("greeting", greeting)
                    .render("offer", offer));
            }
            let greeting = config
                .require_text("/greetings/guest")?
                .replace("{store}", &store_name);
            let mut decision = base(Reason::Default)
                .variant("guest")
                .render("greeting", greeting);
            if let Some(offer) = store_offer {
                decision = decision.render("offer", offer);
            }
            return Ok(decision);
        };

        let name = profile
            .trait_value("first_name")
            .and_then(|v| v.as_str().map(str::to_owned));
        let name = name.as_deref();
        let within = config.number("/returning_within_hours").unwrap_or(12.0);
        let template = match (
            name,
            visited_recently(
                &profile.recent_events(RECENT_EVENTS),
                store_id,
                context.now_ms,
                within,
            ),
        ) {
            (Some(_), true) => "/greetings/member_returning",
            (Some(_), false) => "/greetings/member_named",
            (None, _) => "/greetings/member",
        };
        let greeting = config
            .require_text(template)?
            .replace("{name}", name.unwrap_or_default());
        let tier = loyalty.tier.as_str();
        let offer = config
            .text(&pointer(&["stores", store_id, "tier_offers", tier]))
            .or_else(|| config.text(&pointer(&["tier_offers", tier])))
            .or(store_offer);
        let mut decision = base(Reason::TargetingMatch)
            .variant(format!("member-{tier}"))
            .render("greeting", greeting)
            .render("points", loyalty.points.to_string());
        if let Some(offer) = offer {
            decision = decision.render("offer", offer);
        }
        Ok(decision)
    }
}

tailor_guest::export_policy!(KioskGreeting);

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_guest::ProfileData as Profile;

    #[test]
    fn recent_visit_counts_only_at_this_store_and_in_window() {
        let visit = |store: &str, at_ms| Event {
            kind: "store_visit".into(),
            item_id: Some(store.into()),
            category: None,
            value: None,
            at_ms,
        };
        let hour = 3_600_000;
        let profile = Profile {
            recent_events: vec![visit("store-1", 0)],
            ..Profile::default()
        };
        let events = &profile.recent_events;
        assert!(visited_recently(events, "store-1", 2 * hour, 12.0));
        assert!(!visited_recently(events, "store-2", 2 * hour, 12.0));
        assert!(!visited_recently(events, "store-1", 13 * hour, 12.0));
        let future = Profile {
            recent_events: vec![visit("store-1", 5 * hour)],
            ..Profile::default()
        };
        assert!(!visited_recently(
            &future.recent_events,
            "store-1",
            hour,
            12.0
        ));
    }
}
