//! Choosing what a request is served: the first rule that is open and whose condition holds,
//! else the default creative.

use crate::data::RequestSource;
use crate::document::{Assignment, Campaign, Creative, Then};
use crate::logic::Data;
use tailor_guest::{Decision, Experiment, Reason, Request};

/// The decision for `request` under `campaign`.
pub(crate) fn decide(campaign: &Campaign, request: &Request<'_>) -> Decision {
    let (creative, reason, experiment) = choose(campaign, request);
    let mut decision = Decision::new(reason).variant(creative.variant.clone());
    for (field, text) in &creative.render {
        decision = decision.render(field.clone(), text.clone());
    }
    if let Some(ttl) = campaign.ttl_seconds {
        decision = decision.ttl(ttl);
    }
    if let Some(experiment) = experiment {
        decision = decision.experiment(experiment);
    }
    decision
}

fn choose<'c>(
    campaign: &'c Campaign,
    request: &Request<'_>,
) -> (&'c Creative, Reason, Option<Experiment>) {
    let default = (&campaign.default, Reason::Default, None);
    if !request.may_personalize() {
        return default;
    }
    let source = RequestSource(request);
    let data = Data::new(&source, &campaign.slots);
    let now_ms = request.context.now_ms;
    let rule = campaign.rules.iter().find(|rule| {
        // The schedule first: it costs no read of the profile.
        rule.schedule.as_ref().is_none_or(|s| s.is_open(now_ms))
            && rule.when.as_ref().is_none_or(|when| when.holds(&data))
    });
    let Some(rule) = rule else {
        return default;
    };
    tailor_guest::log::debug(&format!("rule {:?} applies", rule.name));
    match &rule.then {
        Then::Creative(creative) => (creative, Reason::TargetingMatch, None),
        Then::Experiment(experiment) => {
            match request.unit_id().and_then(|u| experiment.assign(u)) {
                Some(Assignment::Arm(creative, arm)) => (creative, Reason::Split, Some(arm)),
                Some(Assignment::Holdout(holdout)) => {
                    (&campaign.default, Reason::Split, Some(holdout))
                }
                None => default,
            }
        }
    }
}
