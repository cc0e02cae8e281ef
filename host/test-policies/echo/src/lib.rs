//! Echoes what it was given, so host tests can check every field crosses the contract intact.
use tailor_guest::{ConfigValue, Decision, Policy, PolicyError, RankedItem, Reason, Request, log};

struct Echo;

impl Policy for Echo {
    fn decide(request: &Request) -> Result<Decision, PolicyError> {
        let (context, profile) = (&request.context, &request.profile);
        log::info("echo policy deciding");
        let mut decision = Decision::new(Reason::Static)
            .variant(context.slot.clone())
            .render("channel", context.channel.as_str())
            .render("device", context.device.as_str())
            .render("now_ms", context.now_ms.to_string())
            .render("locale", context.locale.clone().unwrap_or_default())
            .render("store_id", context.store_id.clone().unwrap_or_default())
            .render(
                "anonymous_id",
                context.anonymous_id.clone().unwrap_or_default(),
            )
            .render("page", format!("{:?}", context.page))
            .render("attributes", format!("{:?}", context.attributes))
            .render("customer_id", profile.customer_id().unwrap_or_default())
            .render("segments", profile.segments().join(","))
            .render("traits", format!("{:?}", profile.traits()))
            .render("loyalty", format!("{:?}", profile.loyalty()))
            .render("consent", format!("{:?}", profile.consent()))
            .render("events", format!("{:?}", profile.recent_events(u32::MAX)))
            .render("affinities", format!("{:?}", profile.affinities()))
            .render("unit", request.unit_id().unwrap_or_default());
        for key in request.config.keys("") {
            let value = match request.config.get(&tailor_guest::pointer(&[&key])) {
                Some(ConfigValue::Text(s)) => s,
                other => format!("{other:?}"),
            };
            decision = decision.render(format!("config.{key}"), value);
        }
        let items = request
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| RankedItem {
                id: c.id.clone(),
                score: c.number("score").unwrap_or(i as f64),
            })
            .collect();
        Ok(decision.items(items).ttl(42))
    }
}

tailor_guest::export_policy!(Echo);
