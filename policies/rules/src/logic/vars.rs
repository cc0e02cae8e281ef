//! The variables a condition may read (`{"var": "traits.vip_score"}`) and what each is read from.
//!
//! A dotted path starts with a root; the root, and for `traits` and `attributes` the key after
//! it, is a [`Slot`]: one read of the request, made the first time a condition needs it.

/// One piece of request data a condition reads, fetched at most once per decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// `segments`: the customer's segment names.
    Segments,
    /// `tier`: the loyalty tier, or null.
    Tier,
    /// `points`: loyalty points, or null.
    Points,
    /// `traits`: every trait as an object.
    Traits,
    /// `traits.<key>`: one typed trait, or null.
    Trait(String),
    /// `channel`: `web`, `app`, `kiosk`, `email`, `pos` or another name.
    Channel,
    /// `page`: `{kind, product_ids, category_ids}`, or null.
    Page,
    Locale,
    /// `store`: the store or region id.
    Store,
    /// `device`: `desktop`, `mobile`, `tablet`, `kiosk_screen`, `unknown` or another name.
    Device,
    /// `consent`: `{personalization, marketing, analytics, third_party_sharing}`.
    Consent,
    /// `attributes`: every request attribute as an object.
    Attributes,
    /// `attributes.<key>`: one request attribute, or null.
    Attribute(String),
    NowMs,
    /// `slot`: the placement being decided.
    Placement,
    CustomerId,
    /// `events`: the newest recent events, `{kind, item, category, value, at_ms}`.
    Events,
}

impl Slot {
    /// The root of the paths that read this slot.
    #[cfg(test)]
    pub fn root(&self) -> &'static str {
        match self {
            Slot::Segments => "segments",
            Slot::Tier => "tier",
            Slot::Points => "points",
            Slot::Traits | Slot::Trait(_) => "traits",
            Slot::Channel => "channel",
            Slot::Page => "page",
            Slot::Locale => "locale",
            Slot::Store => "store",
            Slot::Device => "device",
            Slot::Consent => "consent",
            Slot::Attributes | Slot::Attribute(_) => "attributes",
            Slot::NowMs => "now_ms",
            Slot::Placement => "slot",
            Slot::CustomerId => "customer_id",
            Slot::Events => "events",
        }
    }
}

/// The roots a path may start with (the schema lists them).
#[cfg(test)]
pub(crate) const ROOTS: &[&str] = &[
    "segments",
    "tier",
    "points",
    "traits",
    "channel",
    "page",
    "locale",
    "store",
    "device",
    "consent",
    "attributes",
    "now_ms",
    "slot",
    "customer_id",
    "events",
];

const PAGE_FIELDS: &[&str] = &["kind", "product_ids", "category_ids"];
const CONSENT_FIELDS: &[&str] = &[
    "personalization",
    "marketing",
    "analytics",
    "third_party_sharing",
];
const EVENT_FIELDS: &[&str] = &["kind", "item", "category", "value", "at_ms"];

/// The slot a dotted path reads and the rest of the path within it; `None` if the path names
/// no known variable.
pub(crate) fn resolve(path: &str) -> Option<(Slot, Vec<String>)> {
    let mut parts = path.split('.');
    let root = parts.next()?;
    let rest: Vec<String> = parts.map(str::to_owned).collect();
    let scalar = |slot: Slot| rest.is_empty().then_some(slot);
    let (slot, rest) = match root {
        "tier" => (scalar(Slot::Tier)?, rest),
        "points" => (scalar(Slot::Points)?, rest),
        "channel" => (scalar(Slot::Channel)?, rest),
        "locale" => (scalar(Slot::Locale)?, rest),
        "store" => (scalar(Slot::Store)?, rest),
        "device" => (scalar(Slot::Device)?, rest),
        "now_ms" => (scalar(Slot::NowMs)?, rest),
        "slot" => (scalar(Slot::Placement)?, rest),
        "customer_id" => (scalar(Slot::CustomerId)?, rest),
        "segments" => (Slot::Segments, list(rest, &[])?),
        "events" => (Slot::Events, list(rest, EVENT_FIELDS)?),
        "page" => (Slot::Page, record(rest, PAGE_FIELDS)?),
        "consent" => (Slot::Consent, record(rest, CONSENT_FIELDS)?),
        "traits" | "attributes" => match rest.split_first() {
            None if root == "traits" => (Slot::Traits, rest),
            None => (Slot::Attributes, rest),
            Some((key, _)) if key.is_empty() => return None,
            Some((key, tail)) => {
                let slot = if root == "traits" {
                    Slot::Trait(key.clone())
                } else {
                    Slot::Attribute(key.clone())
                };
                (slot, tail.to_vec())
            }
        },
        _ => return None,
    };
    Some((slot, rest))
}

/// A path into a record: a known field, then (for the id lists) an index.
fn record(rest: Vec<String>, fields: &[&str]) -> Option<Vec<String>> {
    match rest.split_first() {
        None => Some(rest),
        Some((field, tail)) if fields.contains(&field.as_str()) && tail.len() <= 1 => {
            tail.iter().all(|i| is_index(i)).then_some(rest)
        }
        Some(_) => None,
    }
}

/// A path into a list: an index, then a field of the element if elements are records.
fn list(rest: Vec<String>, fields: &[&str]) -> Option<Vec<String>> {
    match rest.as_slice() {
        [] => Some(rest),
        [i] if is_index(i) => Some(rest),
        [i, field] if is_index(i) && fields.contains(&field.as_str()) => Some(rest),
        _ => None,
    }
}

fn is_index(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_their_slot() {
        assert_eq!(resolve("tier"), Some((Slot::Tier, vec![])));
        assert_eq!(
            resolve("traits.vip_score"),
            Some((Slot::Trait("vip_score".into()), vec![]))
        );
        assert_eq!(resolve("traits"), Some((Slot::Traits, vec![])));
        assert_eq!(
            resolve("attributes.campaign.source"),
            Some((Slot::Attribute("campaign".into()), vec!["source".into()]))
        );
        assert_eq!(
            resolve("page.kind"),
            Some((Slot::Page, vec!["kind".into()]))
        );
        assert_eq!(
            resolve("page.product_ids.0").map(|(s, r)| (s, r.len())),
            Some((Slot::Page, 2))
        );
        assert_eq!(resolve("events.0.kind").map(|(s, _)| s), Some(Slot::Events));
        assert_eq!(
            resolve("consent.marketing").map(|(s, _)| s),
            Some(Slot::Consent)
        );
    }

    #[test]
    fn unknown_paths_resolve_to_nothing() {
        for path in [
            "segmnts",
            "",
            "tier.name",
            "page.knd",
            "consent.email",
            "events.kind",
            "traits.",
            "segments.first",
            "events.0.colour",
        ] {
            assert_eq!(resolve(path), None, "{path:?}");
        }
    }
}
