//! Typed attribute and trait values.

use serde::{Deserialize, Serialize};

/// A typed value: a request attribute or a profile trait.
///
/// In JSON it is the plain value: `true`, `3`, `2.5`, `"gold"` or `["a", "b"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
