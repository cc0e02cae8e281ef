//! Running a version's fixture cases before it goes live, exactly as the guest SDK runs them
//! natively: same inputs, same expected decision or error code.

use super::PublishError;
use crate::engine::{Engine, ErrorCode, LoadedPolicy};
use std::sync::Arc;
use std::time::Duration;
use tailor_types::fixture::FixtureCase;

/// Fixtures check what a policy decides, not how fast: they run with at least this deadline so
/// a busy node does not refuse a correct version.
const FIXTURE_DEADLINE: Duration = Duration::from_secs(2);

/// Runs one case; `Err` says how the outcome differs from the expected one.
pub fn check_case(
    engine: &Engine,
    policy: &LoadedPolicy,
    case: &FixtureCase,
) -> Result<(), String> {
    let mut policy = match &case.config {
        Some(config) => policy
            .with_config(Some(&config.to_string()))
            .map_err(|e| e.to_string())?,
        None => policy.clone(),
    };
    policy.limits.deadline = policy.limits.deadline.max(FIXTURE_DEADLINE);
    let outcome = engine
        .decide(
            &policy,
            &case.context,
            &Arc::new(case.profile.clone()),
            &case.candidates,
        )
        .map_err(|e| match e.code {
            // The guest's own error code leads the message: compare on it as the native run does.
            ErrorCode::PolicyError => {
                let code = e.message.split(':').next().unwrap_or_default().to_owned();
                tailor_types::PolicyError::new(code, e.message)
            }
            other => tailor_types::PolicyError::new(other.as_str(), e.message),
        });
    case.expected.check(&outcome)
}

/// Runs every case; the first failure refuses the version.
pub(super) fn run(
    engine: &Engine,
    policy: &LoadedPolicy,
    cases: &[FixtureCase],
) -> Result<usize, PublishError> {
    for case in cases {
        check_case(engine, policy, case).map_err(|detail| PublishError::Fixture {
            case: case.name.clone(),
            // One line per differing field: one line in an API answer.
            detail: detail.lines().collect::<Vec<_>>().join("; "),
        })?;
    }
    Ok(cases.len())
}
