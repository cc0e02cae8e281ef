//! The request as the data a condition sees: each [`Slot`] read from the context or the
//! profile (a host call per read in the component) only when a condition first needs it.

use crate::logic::{Slot, Source};
use serde_json::{Map, Value, json};
use tailor_guest::{Request, Value as Typed};

/// How many recent events `events` and `recent_event` see, newest first.
pub const EVENT_LIMIT: u32 = 50;

/// A decision's request as a condition [`Source`].
#[derive(Debug)]
pub(crate) struct RequestSource<'r, 'a>(pub(crate) &'r Request<'a>);

impl Source for RequestSource<'_, '_> {
    fn fetch(&self, slot: &Slot) -> Value {
        let Request {
            context, profile, ..
        } = self.0;
        match slot {
            Slot::Segments => json!(profile.segments()),
            Slot::Tier => json!(profile.loyalty_tier()),
            Slot::Points => json!(profile.loyalty().map(|l| l.points)),
            Slot::Traits => pairs(profile.traits()),
            Slot::Trait(key) => profile.trait_value(key).map_or(Value::Null, typed),
            Slot::Channel => json!(context.channel.as_str()),
            Slot::Page => context.page.as_ref().map_or(Value::Null, |page| {
                json!({
                    "kind": page.kind,
                    "product_ids": page.product_ids,
                    "category_ids": page.category_ids,
                })
            }),
            Slot::Locale => json!(context.locale),
            Slot::Store => json!(context.store_id),
            Slot::Device => json!(context.device.as_str()),
            Slot::Consent => {
                let consent = profile.consent();
                json!({
                    "personalization": consent.personalization,
                    "marketing": consent.marketing,
                    "analytics": consent.analytics,
                    "third_party_sharing": consent.third_party_sharing,
                })
            }
            Slot::Attributes => pairs(context.attributes.clone()),
            Slot::Attribute(key) => context.attribute(key).cloned().map_or(Value::Null, typed),
            Slot::NowMs => json!(context.now_ms),
            Slot::Placement => json!(context.slot),
            Slot::CustomerId => json!(profile.customer_id()),
            Slot::Events => profile
                .recent_events(EVENT_LIMIT)
                .into_iter()
                .map(|event| {
                    json!({
                        "kind": event.kind,
                        "item": event.item_id,
                        "category": event.category,
                        "value": event.value,
                        "at_ms": event.at_ms,
                    })
                })
                .collect(),
        }
    }

    fn in_segment(&self, name: &str) -> bool {
        self.0.profile.in_segment(name)
    }

    fn now_ms(&self) -> i64 {
        self.0.context.now_ms
    }
}

fn typed(value: Typed) -> Value {
    match value {
        Typed::Boolean(b) => Value::Bool(b),
        Typed::Integer(i) => Value::from(i),
        Typed::Number(n) => json!(n),
        Typed::Text(s) => Value::String(s),
        Typed::TextList(list) => json!(list),
    }
}

fn pairs(pairs: Vec<(String, Typed)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, typed(v)))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_guest::{Channel, Context, DeviceClass, Event, Loyalty, Page, ProfileData, testing};

    #[test]
    fn slots_read_the_request() {
        let mut context = Context::new(Channel::Kiosk, "hero", 7);
        context.device = DeviceClass::KioskScreen;
        context.page = Some(Page {
            kind: "product".into(),
            product_ids: vec!["p1".into()],
            category_ids: vec![],
        });
        context.attributes = vec![("campaign".into(), "spring".into())];
        let profile = ProfileData {
            loyalty: Some(Loyalty {
                tier: "gold".into(),
                points: 1200,
            }),
            traits: vec![
                ("sizes".into(), Typed::TextList(vec!["M".into()])),
                ("vip".into(), true.into()),
            ],
            recent_events: vec![Event {
                kind: "purchase".into(),
                item_id: None,
                category: Some("shoes".into()),
                value: Some(80.0),
                at_ms: 5,
            }],
            ..ProfileData::default()
        };
        let request = testing::request(context, profile, vec![], Value::Null);
        let source = RequestSource(&request);
        let read = |slot: Slot| source.fetch(&slot);
        assert_eq!(read(Slot::Channel), json!("kiosk"));
        assert_eq!(read(Slot::Device), json!("kiosk_screen"));
        assert_eq!(read(Slot::Tier), json!("gold"));
        assert_eq!(read(Slot::Points), json!(1200));
        assert_eq!(read(Slot::Trait("sizes".into())), json!(["M"]));
        assert_eq!(read(Slot::Trait("nope".into())), Value::Null);
        assert_eq!(read(Slot::Traits), json!({"sizes": ["M"], "vip": true}));
        assert_eq!(
            read(Slot::Page),
            json!({"kind": "product", "product_ids": ["p1"], "category_ids": []})
        );
        assert_eq!(read(Slot::Attribute("campaign".into())), json!("spring"));
        assert_eq!(read(Slot::Locale), Value::Null);
        assert_eq!(read(Slot::CustomerId), Value::Null);
        assert_eq!(read(Slot::Consent)["personalization"], json!(false));
        assert_eq!(
            read(Slot::Events),
            json!([{"kind": "purchase", "item": null, "category": "shoes", "value": 80.0, "at_ms": 5}])
        );
    }
}
