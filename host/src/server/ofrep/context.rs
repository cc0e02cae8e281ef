//! An OFREP evaluation context turned into the `/v1/decide` request it stands for.
//!
//! `targetingKey` is the unit: it is sent as both the customer id and the anonymous id, so a
//! customer the profile snapshot knows is decided on their profile, and one it does not know
//! is an anonymous visitor bucketed on that same key (one answer per key either way, and an
//! experiment arm that does not move when the customer first appears in a snapshot). The keys
//! `channel` (`web` when absent), `page`, `locale`, `store_id`, `device`, `now_ms` and
//! `consent` (an anonymous visitor's, as in `/v1/decide`) are the request context; every other
//! key is an attribute, typed as `/v1/decide` types them (boolean, integer, number, text, list
//! of texts).

use super::OfrepError;
use crate::server::decide::{DecideRequest, RequestContext, SlotRequest, Unit};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use tailor_types::{Channel, Consent, DeviceClass, Page, Value};

/// The keys of the context that are not attributes.
const RESERVED: [&str; 9] = [
    "targetingKey",
    "channel",
    "page",
    "locale",
    "store_id",
    "device",
    "now_ms",
    "consent",
    // Not part of the context the SDKs send, but an attribute by that name would be confusing.
    "attributes",
];

/// The body of both OFREP routes: `{"context": {...}}`.
pub(super) fn parse_body(body: &[u8]) -> Result<Map<String, Json>, OfrepError> {
    let mut parsed: Json =
        serde_json::from_slice(body).map_err(|e| OfrepError::Parse(e.to_string()))?;
    let Some(object) = parsed.as_object_mut() else {
        return Err(OfrepError::Parse("the body must be a JSON object".into()));
    };
    match object.remove("context") {
        Some(Json::Object(context)) => Ok(context),
        Some(_) => Err(OfrepError::Parse("`context` must be an object".into())),
        None => Err(OfrepError::Parse("the body has no `context`".into())),
    }
}

/// The decide request for `flags` (policy names), each its own slot named after the flag.
pub(super) fn decide_request(
    context: &Map<String, Json>,
    flags: &[&str],
) -> Result<DecideRequest, OfrepError> {
    let unit = match context.get("targetingKey") {
        None | Some(Json::Null) => return Err(OfrepError::TargetingKeyMissing),
        Some(Json::String(key)) if key.is_empty() => return Err(OfrepError::TargetingKeyMissing),
        Some(Json::String(key)) => key.clone(),
        Some(_) => {
            return Err(OfrepError::InvalidContext(
                "`targetingKey` must be a string".into(),
            ));
        }
    };
    let mut attributes = Vec::new();
    for (key, value) in context {
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        let value: Value = serde_json::from_value(value.clone()).map_err(|_| {
            OfrepError::InvalidContext(format!(
                "`{key}` must be a boolean, a number, a string or a list of strings"
            ))
        })?;
        attributes.push((key.clone(), value));
    }
    Ok(DecideRequest {
        request_id: None,
        channel: field::<Channel>(context, "channel")?.unwrap_or(Channel::Web),
        unit: Unit {
            customer_id: Some(unit.clone()),
            anonymous_id: Some(unit),
        },
        context: RequestContext {
            page: field::<Page>(context, "page")?,
            locale: field(context, "locale")?,
            store_id: field(context, "store_id")?,
            device: field::<DeviceClass>(context, "device")?.unwrap_or_default(),
            now_ms: field(context, "now_ms")?,
            attributes,
        },
        consent: field::<Consent>(context, "consent")?,
        slots: flags
            .iter()
            .map(|flag| SlotRequest {
                id: (*flag).to_owned(),
                policy: (*flag).to_owned(),
                candidates: Vec::new(),
                default: None,
                dedupe: false,
            })
            .collect(),
    })
}

/// A context key read as `T`; absent and `null` are `None`, a wrong type is `INVALID_CONTEXT`
/// naming the key.
fn field<T: DeserializeOwned>(
    context: &Map<String, Json>,
    key: &str,
) -> Result<Option<T>, OfrepError> {
    match context.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| OfrepError::InvalidContext(format!("`{key}`: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_targeting_key_is_the_customer_and_the_anonymous_id() {
        let request = decide_request(&context(json!({"targetingKey": "cust-1"})), &["hero"]);
        let request = request.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.unit.customer_id.as_deref(), Some("cust-1"));
        assert_eq!(request.unit.anonymous_id.as_deref(), Some("cust-1"));
        assert_eq!(request.channel, Channel::Web);
        assert_eq!(request.slots[0].policy, "hero");
    }

    #[test]
    fn known_keys_are_the_context_and_the_rest_typed_attributes() {
        let request = decide_request(
            &context(json!({
                "targetingKey": "k", "channel": "app", "locale": "en-GB", "device": "mobile",
                "page": {"kind": "product", "product_ids": ["p1"]}, "now_ms": 1_774_000_000_000_i64,
                "plan": "gold", "visits": 3, "beta": true, "tags": ["a", "b"],
            })),
            &["hero"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.channel, Channel::App);
        assert_eq!(request.context.device, DeviceClass::Mobile);
        assert_eq!(request.context.now_ms, Some(1_774_000_000_000));
        let page = request.context.page.unwrap_or_else(|| panic!("no page"));
        assert_eq!(page.product_ids, ["p1"]);
        let attribute = |name: &str| {
            request
                .context
                .attributes
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(attribute("plan"), Some(Value::Text("gold".into())));
        assert_eq!(attribute("visits"), Some(Value::Integer(3)));
        assert_eq!(attribute("beta"), Some(Value::Boolean(true)));
        assert_eq!(attribute("locale"), None);
    }

    #[test]
    fn a_missing_key_and_a_wrong_type_are_told_apart() {
        let missing = decide_request(&context(json!({"plan": "gold"})), &["hero"]);
        assert!(matches!(missing, Err(OfrepError::TargetingKeyMissing)));
        let empty = decide_request(&context(json!({"targetingKey": ""})), &["hero"]);
        assert!(matches!(empty, Err(OfrepError::TargetingKeyMissing)));
        for bad in [
            json!({"targetingKey": 7}),
            json!({"targetingKey": "k", "page": "home"}),
            json!({"targetingKey": "k", "nested": {"a": 1}}),
            json!({"targetingKey": "k", "now_ms": "soon"}),
        ] {
            let refused = decide_request(&context(bad.clone()), &["hero"]);
            assert!(
                matches!(refused, Err(OfrepError::InvalidContext(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_body_without_a_context_object_is_a_parse_error() {
        for body in [&b"{"[..], b"[]", b"{}", b"{\"context\": 3}"] {
            assert!(matches!(parse_body(body), Err(OfrepError::Parse(_))));
        }
    }
}
