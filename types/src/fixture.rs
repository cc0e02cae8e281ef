//! Fixture cases: one folder per case, each an input and the decision (or error) it must give.
//!
//! ```text
//! fixtures/<case>/context.json      the request context (required)
//! fixtures/<case>/profile.json      the profile snapshot (optional: anonymous visitor)
//! fixtures/<case>/candidates.json   the slot's candidates (optional: none)
//! fixtures/<case>/config.json       config override (optional: the policy's own config.json)
//! fixtures/<case>/expected.json     {"decision": {...}} or {"error": {"code": "..."}}
//! ```
//!
//! The same cases run natively against a policy's Rust code (`tailor_guest::testing`) and in the
//! host against the built component, so both must agree with the expected file.

mod diff;

pub use diff::{Difference, diff};

use crate::{Candidate, Context, Decision, PolicyError, Profile};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One fixture case, loaded. Its JSON form (one object with the same fields, `profile`,
/// `candidates` and `config` optional) is how cases travel with a published policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCase {
    pub name: String,
    #[serde(deserialize_with = "crate::object::deserialize")]
    pub context: Context,
    #[serde(default, deserialize_with = "crate::object::deserialize")]
    pub profile: Profile,
    #[serde(default, deserialize_with = "crate::object::list")]
    pub candidates: Vec<Candidate>,
    /// The config override of this case, if it has one.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    pub expected: Expected,
}

/// What a case must produce.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expected {
    #[serde(deserialize_with = "crate::object::deserialize")]
    Decision(Decision),
    /// The policy refuses with this error code (the message is not compared).
    #[serde(deserialize_with = "error_code")]
    Error { code: String },
}

/// `{"code": …}`, never the array form of it.
fn error_code<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Code {
        code: String,
    }
    crate::object::deserialize(deserializer).map(|Code { code }| code)
}

impl Expected {
    /// Compares an outcome with the expectation; `Err` says how they differ, one line per
    /// difference (see [`Mismatch`]).
    pub fn check(&self, outcome: &Result<Decision, PolicyError>) -> Result<(), String> {
        self.compare(outcome).map_err(|m| m.to_string())
    }

    /// Compares an outcome with the expectation, field by field.
    pub fn compare(&self, outcome: &Result<Decision, PolicyError>) -> Result<(), Mismatch> {
        match (self, outcome) {
            (Expected::Decision(want), Ok(got)) if want == got => Ok(()),
            (Expected::Decision(want), Ok(got)) => {
                let (want, got) = (to_json(want), to_json(got));
                let mut differences = diff(&want, &got);
                if differences.is_empty() {
                    // Equal as JSON yet not as decisions (a render key given twice, say).
                    differences.push(Difference::Value {
                        pointer: String::new(),
                        expected: Some(want),
                        actual: Some(got),
                    });
                }
                for difference in &mut differences {
                    let (Difference::Value { pointer, .. } | Difference::KeyOrder { pointer, .. }) =
                        difference;
                    pointer.insert_str(0, "/decision");
                }
                Err(Mismatch::Decision(differences))
            }
            (Expected::Decision(_), Err(error)) => Err(Mismatch::UnexpectedError(error.clone())),
            (Expected::Error { code }, Err(error)) if *code == error.code => Ok(()),
            (Expected::Error { code }, Err(error)) => Err(Mismatch::ErrorCode {
                expected: code.clone(),
                actual: error.clone(),
            }),
            (Expected::Error { code }, Ok(decision)) => Err(Mismatch::UnexpectedDecision {
                expected: code.clone(),
                actual: Box::new(decision.clone()),
            }),
        }
    }
}

fn to_json(decision: &Decision) -> serde_json::Value {
    serde_json::to_value(decision).unwrap_or_else(|e| serde_json::Value::String(e.to_string()))
}

/// How an outcome differs from its case's `expected.json`.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// Both are decisions, differing in these fields (their pointers point into
    /// `expected.json`: `/decision/variant`).
    Decision(Vec<Difference>),
    /// A decision was expected; the policy refused.
    UnexpectedError(PolicyError),
    /// A refusal was expected; the policy decided.
    UnexpectedDecision {
        expected: String,
        actual: Box<Decision>,
    },
    /// The policy refused with another code.
    ErrorCode {
        expected: String,
        actual: PolicyError,
    },
}

/// One line per difference.
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Decision(differences) => {
                for (i, difference) in differences.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{difference}")?;
                }
                Ok(())
            }
            Mismatch::UnexpectedError(error) => {
                write!(f, "expected a decision, got error {error}")
            }
            Mismatch::UnexpectedDecision { expected, actual } => write!(
                f,
                "expected error {expected:?}, got decision {}",
                to_json(actual)
            ),
            Mismatch::ErrorCode { expected, actual } => write!(
                f,
                "/error/code: expected {expected:?}, got {:?} ({})",
                actual.code, actual.message
            ),
        }
    }
}

/// A fixture that could not be read, naming the file and what is wrong with it.
#[derive(Debug)]
pub struct FixtureError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for FixtureError {}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, FixtureError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(FixtureError {
                path: path.into(),
                message: e.to_string(),
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| FixtureError {
            path: path.into(),
            message: e.to_string(),
        })
}

/// Loads one case folder.
pub fn load_case(dir: &Path) -> Result<FixtureCase, FixtureError> {
    let required = |file: &str| FixtureError {
        path: dir.join(file),
        message: "file is required".into(),
    };
    Ok(FixtureCase {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        context: read_json(&dir.join("context.json"))?.ok_or_else(|| required("context.json"))?,
        profile: read_json(&dir.join("profile.json"))?.unwrap_or_default(),
        candidates: read_json(&dir.join("candidates.json"))?.unwrap_or_default(),
        config: read_json(&dir.join("config.json"))?,
        expected: read_json(&dir.join("expected.json"))?
            .ok_or_else(|| required("expected.json"))?,
    })
}

/// Loads every case folder under `dir`, sorted by name.
pub fn load_cases(dir: &Path) -> Result<Vec<FixtureCase>, FixtureError> {
    let entries = std::fs::read_dir(dir).map_err(|e| FixtureError {
        path: dir.into(),
        message: e.to_string(),
    })?;
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FixtureError {
            path: dir.into(),
            message: e.to_string(),
        })?;
        if entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    dirs.iter().map(|d| load_case(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;

    #[test]
    fn an_expected_outcome_is_an_object_never_the_array_form_of_one() {
        let read = |json: &str| serde_json::from_str::<Expected>(json).map_err(|e| e.to_string());
        assert_eq!(
            read(r#"{"error": {"code": "no_candidates"}}"#),
            Ok(Expected::Error {
                code: "no_candidates".into()
            })
        );
        assert!(read(r#"{"decision": {"reason": "STATIC"}}"#).is_ok());
        for json in [
            r#"{"error": ["no_candidates"]}"#,
            r#"{"decision": ["a", [], "STATIC"]}"#,
        ] {
            let error = read(json).unwrap_err();
            assert!(error.contains("expected a JSON object"), "{json}: {error}");
        }
    }

    #[test]
    fn a_differing_decision_names_each_field_by_its_pointer_in_expected_json() {
        let decision = Decision::new(Reason::Static).variant("a").ttl(60);
        let want = Expected::Decision(decision.clone());
        assert_eq!(want.check(&Ok(decision)), Ok(()));
        let got = Decision::new(Reason::Static)
            .variant("b")
            .render("headline", "Hi");
        assert_eq!(
            want.check(&Ok(got)).unwrap_err(),
            "/decision/variant: expected \"a\", got \"b\"\n\
             /decision/ttl_seconds: expected 60, got (absent)\n\
             /decision/render: expected (absent), got {\"headline\":\"Hi\"}"
        );
    }

    #[test]
    fn errors_compare_on_their_code() {
        let want = Expected::Error {
            code: "missing_config".into(),
        };
        let refused = |code: &str| Err(PolicyError::new(code, "config \"/x\" must be present"));
        assert_eq!(want.check(&refused("missing_config")), Ok(()));
        assert_eq!(
            want.check(&refused("invalid_config")).unwrap_err(),
            "/error/code: expected \"missing_config\", got \"invalid_config\" \
             (config \"/x\" must be present)"
        );
        assert_eq!(
            want.check(&Ok(Decision::new(Reason::Default))).unwrap_err(),
            "expected error \"missing_config\", got decision {\"reason\":\"DEFAULT\"}"
        );
        let want = Expected::Decision(Decision::new(Reason::Default));
        assert_eq!(
            want.check(&refused("trap")).unwrap_err(),
            "expected a decision, got error trap: config \"/x\" must be present"
        );
    }
}
