//! Reading the policy version's configuration: the JSON document marketers edit.
//!
//! Values are addressed with RFC 6901 JSON pointers (`/variants/gold/headline`). Inside the host
//! each read is a host call that looks the value up in the already-parsed document, so a decision
//! pays only for the values it reads, not for parsing the whole config.

use crate::PolicyError;
use serde::de::DeserializeOwned;

/// A value read from the config document.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Null,
    Boolean(bool),
    Number(f64),
    Text(String),
    /// An array of this length; read elements as `{pointer}/{index}`.
    Array(u32),
    /// An object with these keys in document order; read members as `{pointer}/{key}`.
    Object(Vec<String>),
}

/// A problem [`Policy::check_config`](crate::Policy::check_config) found in a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where in the document, in `rules[3].when.and[0]` form (object keys joined by `.`, array
    /// indices in brackets); empty for the document as a whole.
    pub path: String,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The configuration of the policy version being run.
#[derive(Debug)]
pub struct Config {
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// The host holds the parsed document.
    #[cfg(target_arch = "wasm32")]
    Host,
    /// A document in this process: native tests and tools.
    #[cfg(not(target_arch = "wasm32"))]
    Document(serde_json::Value),
}

impl Config {
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn host() -> Config {
        Config {
            source: Source::Host,
        }
    }

    /// A config backed by a JSON document, for native tests (`null` when a policy has none).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_json(document: serde_json::Value) -> Config {
        Config {
            source: Source::Document(document),
        }
    }

    /// The value at a JSON pointer, if present.
    pub fn get(&self, pointer: &str) -> Option<ConfigValue> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host => {
                use crate::__private::tailor::policy::host::{self, ConfigValue as W};
                host::config_get(pointer).map(|v| match v {
                    W::Null => ConfigValue::Null,
                    W::Boolean(b) => ConfigValue::Boolean(b),
                    W::Number(n) => ConfigValue::Number(n),
                    W::Text(s) => ConfigValue::Text(s),
                    W::Array(n) => ConfigValue::Array(n),
                    W::Object(keys) => ConfigValue::Object(keys),
                })
            }
            #[cfg(not(target_arch = "wasm32"))]
            Source::Document(doc) => doc.pointer(pointer).map(|v| match v {
                serde_json::Value::Null => ConfigValue::Null,
                serde_json::Value::Bool(b) => ConfigValue::Boolean(*b),
                serde_json::Value::Number(n) => ConfigValue::Number(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::String(s) => ConfigValue::Text(s.clone()),
                serde_json::Value::Array(a) => ConfigValue::Array(a.len() as u32),
                serde_json::Value::Object(o) => ConfigValue::Object(o.keys().cloned().collect()),
            }),
        }
    }

    /// The text at a pointer; `None` if absent or not a string.
    pub fn text(&self, pointer: &str) -> Option<String> {
        match self.get(pointer)? {
            ConfigValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number at a pointer; `None` if absent or not a number.
    pub fn number(&self, pointer: &str) -> Option<f64> {
        match self.get(pointer)? {
            ConfigValue::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The boolean at a pointer; `None` if absent or not a boolean.
    pub fn boolean(&self, pointer: &str) -> Option<bool> {
        match self.get(pointer)? {
            ConfigValue::Boolean(b) => Some(b),
            _ => None,
        }
    }

    /// The text members of the object at a pointer, in document order, in one host call (a
    /// whole creative at once); members that are not text are left out. Empty if absent or not
    /// an object.
    pub fn texts(&self, pointer: &str) -> Vec<(String, String)> {
        match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host => {
                crate::__private::tailor::policy::host::config_texts(pointer).unwrap_or_default()
            }
            #[cfg(not(target_arch = "wasm32"))]
            Source::Document(doc) => match doc.pointer(pointer) {
                Some(serde_json::Value::Object(object)) => object
                    .iter()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }

    /// The keys of the object at a pointer (empty if absent or not an object).
    pub fn keys(&self, pointer: &str) -> Vec<String> {
        match self.get(pointer) {
            Some(ConfigValue::Object(keys)) => keys,
            _ => Vec::new(),
        }
    }

    /// The length of the array at a pointer (0 if absent or not an array).
    pub fn len(&self, pointer: &str) -> usize {
        match self.get(pointer) {
            Some(ConfigValue::Array(n)) => n as usize,
            _ => 0,
        }
    }

    /// A required text value: a missing or mistyped one is a `missing_config` error naming it.
    pub fn require_text(&self, pointer: &str) -> Result<String, PolicyError> {
        self.text(pointer)
            .ok_or_else(|| missing(pointer, "a string"))
    }

    /// A required number: a missing or mistyped one is a `missing_config` error naming it.
    pub fn require_number(&self, pointer: &str) -> Result<f64, PolicyError> {
        self.number(pointer)
            .ok_or_else(|| missing(pointer, "a number"))
    }

    /// The whole document deserialized into `T`, typically a `#[derive(Deserialize)]` struct
    /// of the policy's settings (see [`Config::json`] for the errors).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, PolicyError> {
        self.json("")
    }

    /// The subtree at a pointer deserialized into `T`, typically a `#[derive(Deserialize)]`
    /// struct: `let model: Model = request.config.json("/model")?;`.
    ///
    /// Errors name the JSON pointer of the field that failed: a missing subtree or a missing
    /// field is `missing_config` (`config "/model/margin" must be present`), a value of the
    /// wrong shape is `invalid_config` (`config "/model/bias": invalid type: …`).
    pub fn json<T: DeserializeOwned>(&self, pointer: &str) -> Result<T, PolicyError> {
        // The plain deserializer first: tracking the path costs about as much again, so it only
        // runs, on the same input, to name the field once deserializing has failed.
        let failed = match &self.source {
            #[cfg(target_arch = "wasm32")]
            Source::Host => {
                let text = crate::__private::tailor::policy::host::config_json(pointer)
                    .ok_or_else(|| missing(pointer, "present"))?;
                match serde_json::from_str(&text) {
                    Ok(parsed) => return Ok(parsed),
                    Err(_) => serde_path_to_error::deserialize::<_, T>(
                        &mut serde_json::Deserializer::from_str(&text),
                    ),
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            Source::Document(doc) => {
                let value = doc
                    .pointer(pointer)
                    .ok_or_else(|| missing(pointer, "present"))?;
                match T::deserialize(value) {
                    Ok(parsed) => return Ok(parsed),
                    Err(_) => serde_path_to_error::deserialize::<_, T>(value),
                }
            }
        };
        Err(match failed {
            Err(error) => field_error(pointer, &error),
            // Cannot happen (the same input failed a moment ago); say so rather than panic.
            Ok(_) => PolicyError::new("invalid_config", format!("config {pointer:?} is invalid")),
        })
    }
}

/// A deserialization error as a `PolicyError` naming the pointer of the field that failed.
fn field_error(base: &str, error: &serde_path_to_error::Error<serde_json::Error>) -> PolicyError {
    use serde_path_to_error::Segment;
    let mut at = base.to_owned();
    for segment in error.path().iter() {
        match segment {
            Segment::Seq { index } => at.push_str(&pointer(&[&index.to_string()])),
            Segment::Map { key } => at.push_str(&pointer(&[key])),
            Segment::Enum { variant } => at.push_str(&pointer(&[variant])),
            Segment::Unknown => {}
        }
    }
    let inner = error.inner();
    let message = inner.to_string();
    // The host hands the subtree over as text; its line and column say nothing to the author.
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    let message = message.strip_suffix(&position).unwrap_or(&message);
    // serde reports a missing field at the object that lacks it, as "missing field `name`".
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return missing(&format!("{at}{}", pointer(&[field])), "present");
    }
    PolicyError::new("invalid_config", format!("config {at:?}: {message}"))
}

/// Builds a JSON pointer from path segments, escaping `~` and `/` inside them
/// (`pointer(&["segments", "a/b"])` is `/segments/a~1b`).
pub fn pointer(segments: &[&str]) -> String {
    let mut out = String::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
    for segment in segments {
        out.push('/');
        for c in segment.chars() {
            match c {
                '~' => out.push_str("~0"),
                '/' => out.push_str("~1"),
                c => out.push(c),
            }
        }
    }
    out
}

fn missing(pointer: &str, what: &str) -> PolicyError {
    PolicyError::new(
        "missing_config",
        format!("config {pointer:?} must be {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_escape_segments() {
        assert_eq!(pointer(&[]), "");
        assert_eq!(pointer(&["variants", "gold"]), "/variants/gold");
        assert_eq!(pointer(&["a/b", "c~d"]), "/a~1b/c~0d");
    }

    #[test]
    fn typed_reads_and_errors_name_the_pointer() {
        let config = Config::from_json(json!({
            "headline": "Spring", "weight": 2, "on": true,
            "arms": {"a": 1, "b": 2}, "list": [1, 2, 3]
        }));
        assert_eq!(config.text("/headline").as_deref(), Some("Spring"));
        assert_eq!(config.number("/weight"), Some(2.0));
        assert_eq!(config.boolean("/on"), Some(true));
        assert_eq!(config.keys("/arms"), ["a", "b"]);
        assert_eq!(config.len("/list"), 3);
        assert_eq!(config.text("/weight"), None);
        let err = config.require_text("/missing").unwrap_err();
        assert_eq!(err.code, "missing_config");
        assert!(err.message.contains("/missing"), "{}", err.message);
        let arms: std::collections::BTreeMap<String, u32> = config.json("/arms").unwrap();
        assert_eq!(arms.len(), 2);
        let err = config.json::<Vec<String>>("/arms").unwrap_err();
        assert_eq!(err.code, "invalid_config");
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Settings {
        headline: String,
        weights: Vec<f64>,
        #[serde(default)]
        arms: std::collections::BTreeMap<String, u32>,
    }

    #[test]
    fn parse_reads_the_whole_document_into_a_struct() {
        let config = Config::from_json(json!({"headline": "Spring", "weights": [1, 2.5]}));
        let settings: Settings = config.parse().unwrap();
        assert_eq!(settings.weights, [1.0, 2.5]);
        assert!(settings.arms.is_empty());
    }

    #[test]
    fn typed_errors_name_the_pointer_of_the_failing_field() {
        let missing = Config::from_json(json!({"nested": {"weights": []}}));
        let err = missing.json::<Settings>("/nested").unwrap_err();
        assert_eq!(err.code, "missing_config");
        assert_eq!(err.message, r#"config "/nested/headline" must be present"#);

        let mistyped = Config::from_json(json!({"headline": "x", "weights": [1, "two"]}));
        let err = mistyped.parse::<Settings>().unwrap_err();
        assert_eq!(err.code, "invalid_config");
        assert!(
            err.message
                .starts_with(r#"config "/weights/1": invalid type: string "two""#),
            "{}",
            err.message
        );

        let odd_key =
            Config::from_json(json!({"headline": "x", "weights": [], "arms": {"a/b": -1}}));
        let err = odd_key.parse::<Settings>().unwrap_err();
        assert!(
            err.message.starts_with(r#"config "/arms/a~1b": "#),
            "{}",
            err.message
        );

        let absent = Config::from_json(json!({}));
        assert_eq!(
            absent.json::<Settings>("/nope").unwrap_err().code,
            "missing_config"
        );
    }
}
