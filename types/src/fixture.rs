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
    pub context: Context,
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
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
    Decision(Decision),
    /// The policy refuses with this error code (the message is not compared).
    Error {
        code: String,
    },
}

impl Expected {
    /// Compares an outcome with the expectation; `Err` says how they differ.
    pub fn check(&self, outcome: &Result<Decision, PolicyError>) -> Result<(), String> {
        match (self, outcome) {
            (Expected::Decision(want), Ok(got)) if want == got => Ok(()),
            (Expected::Error { code }, Err(err)) if *code == err.code => Ok(()),
            (want, got) => Err(format!("expected {want:?}\n     got {got:?}")),
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
