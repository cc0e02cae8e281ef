//! Typed attribute and trait values.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A typed value: a request attribute or a profile trait.
///
/// In JSON it is the plain value: `true`, `3`, `2.5`, `"gold"` or `["a", "b"]`. An integer that
/// does not fit `i64` is a number. (Deserialized by a visitor of its own rather than serde's
/// untagged enums, which buffer the value and build an error for every variant tried first:
/// a snapshot holds millions of these.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[cfg_attr(
    feature = "wasmtime",
    derive(
        wasmtime::component::ComponentType,
        wasmtime::component::Lift,
        wasmtime::component::Lower
    ),
    component(variant)
)]
pub enum Value {
    #[cfg_attr(feature = "wasmtime", component(name = "boolean"))]
    Boolean(bool),
    #[cfg_attr(feature = "wasmtime", component(name = "integer"))]
    Integer(i64),
    #[cfg_attr(feature = "wasmtime", component(name = "number"))]
    Number(f64),
    #[cfg_attr(feature = "wasmtime", component(name = "text"))]
    Text(String),
    #[cfg_attr(feature = "wasmtime", component(name = "text-list"))]
    TextList(Vec<String>),
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, a number, a text or a list of texts")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Number(v as f64), Value::Integer))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut texts = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(text) = seq.next_element::<String>()? {
            texts.push(text);
        }
        Ok(Value::TextList(texts))
    }
}

impl Value {
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as a number; integers convert.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::TextList(l) => Some(l),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_json_form_reads_as_its_variant_and_others_are_refused() {
        let read = |json: &str| serde_json::from_str::<Value>(json);
        assert_eq!(read("true").unwrap(), Value::Boolean(true));
        assert_eq!(read("-3").unwrap(), Value::Integer(-3));
        assert_eq!(
            read("9223372036854775807").unwrap(),
            Value::Integer(i64::MAX)
        );
        assert_eq!(
            read("18446744073709551615").unwrap(),
            Value::Number(18_446_744_073_709_551_615.0)
        );
        assert_eq!(read("2.5").unwrap(), Value::Number(2.5));
        assert_eq!(read("\"gold\"").unwrap(), Value::Text("gold".into()));
        assert_eq!(read("\"a\\\"b\"").unwrap(), Value::Text("a\"b".into()));
        assert_eq!(
            read("[\"a\", \"b\"]").unwrap(),
            Value::TextList(vec!["a".into(), "b".into()])
        );
        assert_eq!(read("[]").unwrap(), Value::TextList(vec![]));
        for bad in ["null", "{}", "[1]", "[\"a\", null]"] {
            assert!(read(bad).is_err(), "{bad}");
        }
        for value in [
            Value::Boolean(false),
            Value::Integer(7),
            Value::Number(0.5),
            Value::Text("x".into()),
            Value::TextList(vec!["y".into()]),
        ] {
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(read(&json).unwrap(), value, "{json}");
        }
    }
}
