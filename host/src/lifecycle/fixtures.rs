//! Running a version's fixture cases before it goes live, exactly as the guest SDK runs them
//! natively: same inputs, same expected decision or error code.

use super::PublishError;
use crate::engine::{Cost, Engine, ErrorCode, LoadedPolicy};
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
    check_case_measured(engine, policy, case).0
}

/// Runs one case and says what it cost.
fn check_case_measured(
    engine: &Engine,
    policy: &LoadedPolicy,
    case: &FixtureCase,
) -> (Result<(), String>, Cost) {
    let mut policy = match &case.config {
        Some(config) => match policy.with_config(Some(&config.to_string())) {
            Ok(policy) => policy,
            Err(e) => return (Err(e.to_string()), Cost::default()),
        },
        None => policy.clone(),
    };
    policy.limits.deadline = policy.limits.deadline.max(FIXTURE_DEADLINE);
    let (outcome, cost) = engine.decide_detached_measured(
        &policy,
        &case.context,
        &case.profile.clone().into(),
        &case.candidates,
    );
    let outcome = outcome.map_err(|e| match e.code {
        // The guest's own error code leads the message: compare on it as the native run does.
        ErrorCode::PolicyError => {
            let code = e.message.split(':').next().unwrap_or_default().to_owned();
            tailor_types::PolicyError::new(code, e.message)
        }
        other => tailor_types::PolicyError::new(other.as_str(), e.message),
    });
    (case.expected.check(&outcome), cost)
}

/// Times a case over the CPU budget is run again before the version is refused: the least of
/// the runs counts, so a first run's one-off costs (page faults of a fresh slot) do not.
const BUDGET_RUNS: usize = 3;

/// Runs every case; the first failure refuses the version, and so does a case whose CPU time
/// passes `cpu_budget` (the cost guardrail) in every one of its runs.
pub(super) fn run(
    engine: &Engine,
    policy: &LoadedPolicy,
    cases: &[FixtureCase],
    cpu_budget: Option<Duration>,
) -> Result<usize, PublishError> {
    for case in cases {
        let (outcome, mut cost) = check_case_measured(engine, policy, case);
        outcome.map_err(|detail| PublishError::Fixture {
            case: case.name.clone(),
            // One line per differing field: one line in an API answer.
            detail: detail.lines().collect::<Vec<_>>().join("; "),
        })?;
        let Some(budget) = cpu_budget else { continue };
        for _ in 1..BUDGET_RUNS {
            if cost.cpu <= budget {
                break;
            }
            cost.cpu = cost
                .cpu
                .min(check_case_measured(engine, policy, case).1.cpu);
        }
        if cost.cpu > budget {
            return Err(PublishError::OverBudget {
                case: case.name.clone(),
                cpu_ms: cost.cpu.as_secs_f64() * 1000.0,
                budget_ms: budget.as_secs_f64() * 1000.0,
            });
        }
    }
    Ok(cases.len())
}
