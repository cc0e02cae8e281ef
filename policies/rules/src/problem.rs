//! What is wrong with a campaign document, each problem named by the field it is in.
//!
//! Paths read like the document: `rules[3].when.and[1]`, `default.render.headline`. Checking
//! goes on past a problem so that an editor can show them all at once.

use serde_json::{Map, Value};

/// One thing wrong with a campaign document: `path` says where
/// (`rules[0].then.experiment.arms[1].weight`, empty for the document itself), `message` what.
pub use tailor_guest::ConfigProblem as Problem;

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(Problem::new(path, message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.0
    }

    /// The object at `path`, or a problem saying it must be one.
    pub(crate) fn object<'a>(
        &mut self,
        value: &'a Value,
        path: &str,
    ) -> Option<&'a Map<String, Value>> {
        let object = value.as_object();
        if object.is_none() {
            self.add(path, "must be an object");
        }
        object
    }

    /// A problem for every member of `object` not in `known`.
    pub(crate) fn deny_unknown(&mut self, object: &Map<String, Value>, path: &str, known: &[&str]) {
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            self.add(path, format!("unknown field {key:?}"));
        }
    }

    /// A required member, or a problem naming it.
    pub(crate) fn required<'a>(
        &mut self,
        object: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a Value> {
        let value = object.get(key);
        if value.is_none() {
            self.add(&field(path, key), "is required");
        }
        value
    }

    /// A non-empty string at `path`, or a problem.
    pub(crate) fn name(&mut self, value: &Value, path: &str) -> Option<String> {
        match value.as_str() {
            Some(text) if !text.is_empty() => Some(text.to_owned()),
            _ => {
                self.add(path, "must be a non-empty string");
                None
            }
        }
    }
}

/// The path of member `key` under `base`.
pub(crate) fn field(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// The path of element `index` of the array at `base`.
pub(crate) fn index(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_like_the_document() {
        assert_eq!(field("", "rules"), "rules");
        assert_eq!(
            index(&field("rules[3].when", "and"), 1),
            "rules[3].when.and[1]"
        );
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let mut problems = Problems::default();
        let value = json!({"whenn": 1});
        let object = problems.object(&value, "rules[0]").unwrap();
        problems.deny_unknown(object, "rules[0]", &["when", "then"]);
        assert!(problems.required(object, "rules[0]", "then").is_none());
        let shown: Vec<String> = problems.into_vec().iter().map(Problem::to_string).collect();
        assert_eq!(
            shown,
            [
                "rules[0]: unknown field \"whenn\"",
                "rules[0].then: is required"
            ]
        );
    }
}
