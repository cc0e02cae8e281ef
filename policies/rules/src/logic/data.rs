//! The data a condition sees: request variables read on first use and kept for the decision.

use super::vars::{self, Slot};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// Where request variables come from (the request in a decision, plain JSON in tests).
pub trait Source {
    /// The value of one slot; null when the request has none.
    fn fetch(&self, slot: &Slot) -> Value;
    /// Whether the customer is in a segment, without reading every segment.
    fn in_segment(&self, name: &str) -> bool;
    /// The decision time, milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The variables of one decision: the slots the compiled rules reference, each fetched from the
/// [`Source`] the first time a condition reads it.
pub struct Data<'s> {
    source: &'s dyn Source,
    slots: &'s [Slot],
    values: Vec<OnceCell<Value>>,
}

impl std::fmt::Debug for Data<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Data")
            .field("slots", &self.slots)
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}

impl<'s> Data<'s> {
    /// A view reading `slots` (what the compiled rules reference) from `source`.
    pub fn new(source: &'s dyn Source, slots: &'s [Slot]) -> Self {
        Data {
            source,
            slots,
            values: slots.iter().map(|_| OnceCell::new()).collect(),
        }
    }

    pub(crate) fn source(&self) -> &'s dyn Source {
        self.source
    }

    /// The value of slot `index` of the compiled rules.
    pub(crate) fn slot(&self, index: usize) -> &Value {
        self.values[index].get_or_init(|| self.source.fetch(&self.slots[index]))
    }

    /// The value at a dotted path computed at run time; null if it names no variable.
    pub(crate) fn lookup(&self, path: &str) -> Cow<'_, Value> {
        let Some((slot, rest)) = vars::resolve(path) else {
            return Cow::Owned(Value::Null);
        };
        match self.slots.iter().position(|known| *known == slot) {
            Some(index) => Cow::Borrowed(walk(self.slot(index), &rest).unwrap_or(&Value::Null)),
            None => {
                let value = self.source.fetch(&slot);
                Cow::Owned(walk(&value, &rest).cloned().unwrap_or(Value::Null))
            }
        }
    }
}

/// The value at `path` inside `value`: object members by name, array elements by index.
pub(crate) fn walk<'v, S: AsRef<str>>(value: &'v Value, path: &[S]) -> Option<&'v Value> {
    path.iter().try_fold(value, |value, part| {
        let part = part.as_ref();
        match value {
            Value::Object(object) => object.get(part),
            Value::Array(array) => array.get(part.parse::<usize>().ok()?),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::test_support::JsonSource;
    use serde_json::json;

    #[test]
    fn a_slot_is_fetched_once_and_only_when_read() {
        let source = JsonSource {
            data: json!({"tier": "gold", "traits": {"a": 1, "b": 2}}),
            fetched: Default::default(),
        };
        let slots = [Slot::Tier, Slot::Trait("a".into()), Slot::Trait("b".into())];
        let data = Data::new(&source, &slots);
        assert_eq!(data.slot(1), &json!(1));
        assert_eq!(data.slot(1), &json!(1));
        assert_eq!(*data.lookup("traits.a"), json!(1));
        assert_eq!(*source.fetched.borrow(), [Slot::Trait("a".into())]);
        assert_eq!(*data.lookup("traits.c"), Value::Null);
        assert_eq!(*data.lookup("nonsense"), Value::Null);
    }

    #[test]
    fn a_condition_reads_only_what_it_evaluates() {
        let (expr, slots) = crate::logic::test_support::compile(&json!({"or": [
            {"==": [{"var": "channel"}, "web"]},
            {">": [{"var": "traits.lifetime_orders"}, 10]},
            {"in": ["vip", {"var": "segments"}]},
        ]}))
        .unwrap();
        assert_eq!(slots.len(), 3);
        let source = JsonSource {
            data: json!({"channel": "web", "traits": {"lifetime_orders": 12}}),
            fetched: Default::default(),
        };
        let data = Data::new(&source, &slots);
        assert!(expr.holds(&data));
        assert_eq!(*source.fetched.borrow(), [Slot::Channel]);
    }

    #[test]
    fn walking_reads_members_and_indexes() {
        let value = json!({"a": [{"b": 3}]});
        assert_eq!(walk(&value, &["a", "0", "b"]), Some(&json!(3)));
        assert_eq!(walk(&value, &["a", "x"]), None);
        assert_eq!(walk::<&str>(&value, &[]), Some(&value));
    }
}
