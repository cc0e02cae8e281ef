//! `{"recent_event": {"kind": "add_to_cart", "category": "shoes", "within_hours": 48}}`: whether
//! the customer's recent events hold enough of a kind, optionally of one category or item, at or
//! after `now_ms - within_hours * 3600000`.

use super::data::Data;
use crate::problem::{Problems, field};
use serde_json::Value;

const HOUR_MS: f64 = 3_600_000.0;
const FIELDS: &[&str] = &["kind", "category", "item", "within_hours", "min_count"];

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecentEvent {
    kind: String,
    category: Option<String>,
    item: Option<String>,
    within_ms: Option<i64>,
    min_count: usize,
    /// The `events` slot in [`Data`].
    events: usize,
}

impl RecentEvent {
    /// Reads the operator's argument object, or records what is wrong with it.
    pub(crate) fn parse(
        value: &Value,
        path: &str,
        events: usize,
        problems: &mut Problems,
    ) -> Option<RecentEvent> {
        let object = problems.object(value, path)?;
        problems.deny_unknown(object, path, FIELDS);
        let mut text = |key: &str| {
            let value = object.get(key)?;
            problems.name(value, &field(path, key))
        };
        let kind = text("kind");
        let category = text("category");
        let item = text("item");
        if !object.contains_key("kind") {
            problems.add(&field(path, "kind"), "is required");
        }
        let within_ms = match object.get("within_hours") {
            None => Some(None),
            Some(hours) => match hours.as_f64() {
                Some(hours) if hours >= 0.0 => Some(Some((hours * HOUR_MS).round() as i64)),
                _ => {
                    problems.add(
                        &field(path, "within_hours"),
                        "must be a non-negative number",
                    );
                    None
                }
            },
        };
        let min_count = match object.get("min_count") {
            None => Some(1),
            Some(count) => match count.as_u64() {
                Some(count) if count >= 1 => Some(count as usize),
                _ => {
                    problems.add(&field(path, "min_count"), "must be a positive integer");
                    None
                }
            },
        };
        Some(RecentEvent {
            kind: kind?,
            category,
            item,
            within_ms: within_ms?,
            min_count: min_count?,
            events,
        })
    }

    /// Whether at least `min_count` recent events match.
    pub(crate) fn holds(&self, data: &Data<'_>) -> bool {
        let since = self
            .within_ms
            .map(|within| data.source().now_ms().saturating_sub(within));
        let Some(events) = data.slot(self.events).as_array() else {
            return false;
        };
        let is = |event: &Value, key: &str, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|want| event[key].as_str() == Some(want))
        };
        events
            .iter()
            .filter(|event| {
                event["kind"].as_str() == Some(&self.kind)
                    && is(event, "category", &self.category)
                    && is(event, "item", &self.item)
                    && since
                        .is_none_or(|since| event["at_ms"].as_i64().is_some_and(|at| at >= since))
            })
            .nth(self.min_count - 1)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::logic::test_support::{apply, compile};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn data() -> serde_json::Value {
        json!({"now_ms": NOW, "events": [
            {"kind": "add_to_cart", "item": "sku-1", "category": "shoes", "value": 80, "at_ms": NOW - HOUR},
            {"kind": "add_to_cart", "item": "sku-2", "category": "shoes", "value": 60, "at_ms": NOW - 48 * HOUR},
            {"kind": "purchase", "item": "sku-3", "category": "bags", "value": 90, "at_ms": NOW - 49 * HOUR},
        ]})
    }

    fn holds(spec: serde_json::Value) -> bool {
        apply(json!({"recent_event": spec}), data()) == json!(true)
    }

    #[test]
    fn counts_matching_events_in_the_window() {
        assert!(holds(json!({"kind": "add_to_cart"})));
        assert!(holds(
            json!({"kind": "add_to_cart", "category": "shoes", "min_count": 2})
        ));
        assert!(!holds(json!({"kind": "add_to_cart", "min_count": 3})));
        assert!(holds(json!({"kind": "add_to_cart", "item": "sku-2"})));
        assert!(!holds(json!({"kind": "add_to_cart", "category": "bags"})));
        // The window starts exactly now - 48 h, inclusive.
        assert!(holds(
            json!({"kind": "add_to_cart", "within_hours": 48, "min_count": 2})
        ));
        assert!(!holds(
            json!({"kind": "add_to_cart", "within_hours": 47.99, "min_count": 2})
        ));
        assert!(!holds(json!({"kind": "purchase", "within_hours": 48})));
    }

    #[test]
    fn the_schema_knows_the_fields_the_checks_know() {
        assert_eq!(
            crate::tests::schema_properties("recent_event"),
            super::FIELDS
        );
    }

    #[test]
    fn the_argument_is_checked_field_by_field() {
        let problems = compile(&json!({"recent_event": {
            "category": "", "within_hours": -1, "min_count": 0, "colour": "red"
        }}))
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "when.recent_event: unknown field \"colour\"",
                "when.recent_event.category: must be a non-empty string",
                "when.recent_event.kind: is required",
                "when.recent_event.within_hours: must be a non-negative number",
                "when.recent_event.min_count: must be a positive integer",
            ]
        );
    }
}
