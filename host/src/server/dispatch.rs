//! A slot's decision handed to the decision scheduler and awaited: the HTTP threads parse and
//! answer, the decision threads run policies.

use super::AppState;
use crate::engine::{Cost, DecisionError, Engine, ErrorCode, Evaluation, SlotInput};
use crate::metrics::{self, Metrics};
use crate::registry::PolicyVersion;
use crate::scheduler::{Shed, Verdict};
use std::sync::Arc;
use tailor_types::{Candidate, Context, Decision, Profile};
use tokio::sync::oneshot;

/// What one slot's decision needs.
#[derive(Debug)]
pub(super) struct SlotWork {
    pub version: Arc<PolicyVersion>,
    pub context: Context,
    pub profile: Arc<Profile>,
    pub candidates: Vec<Candidate>,
    pub fallback: Decision,
}

/// Runs the slot's decision within its version's share: inline on this thread when the
/// scheduler allows it (a cheap version, nothing waiting ahead of it), otherwise on a decision
/// thread; a slot the share or a busy node does not let run in time gets its fallback
/// (`over_budget` or `capacity`). The version's cost histograms and the CPU metric are updated
/// where the decision ran.
pub(super) async fn evaluate(state: &AppState, work: SlotWork) -> Evaluation {
    if let Some(inline) = state.scheduler.try_inline(&work.version.lane) {
        let evaluation = run(&state.engine, &state.metrics, &work);
        inline.finish(evaluation.cost.cpu);
        return evaluation;
    }
    let (answer, answered) = oneshot::channel();
    let engine = state.engine.clone();
    let metrics = state.metrics.clone();
    let lane = work.version.lane.clone();
    // As long as the decision itself may take: a slot waits at most twice its deadline in all.
    let wait = work.version.loaded.limits().deadline;
    let fallback = work.fallback.clone();
    state.scheduler.submit(
        &lane,
        wait,
        Box::new(move |verdict| {
            let evaluation = match verdict {
                Verdict::Run => run(&engine, &metrics, &work),
                Verdict::Shed(shed) => {
                    let (code, message) = match shed {
                        Shed::OverBudget(why) => (ErrorCode::OverBudget, why),
                        Shed::Capacity(why) => (ErrorCode::Capacity, why),
                    };
                    tracing::debug!(policy = %work.version.loaded.name(), %code, %message, "slot not run; serving its fallback");
                    Evaluation::failed(
                        &work.fallback,
                        DecisionError::new(code, message),
                        Cost::default(),
                    )
                }
            };
            let cpu = evaluation.cost.cpu;
            let _ = answer.send(evaluation);
            cpu
        }),
    );
    answered.await.unwrap_or_else(|_| {
        Evaluation::failed(
            &fallback,
            DecisionError::new(
                ErrorCode::Capacity,
                "the decision thread ended without an answer",
            ),
            Cost::default(),
        )
    })
}

/// Runs several slots of one version together (see `Engine::evaluate_page`): one job, inline or
/// on a decision thread, within the version's share like a single slot; answers in order.
pub(super) async fn evaluate_page(state: &AppState, works: Vec<SlotWork>) -> Vec<Evaluation> {
    let Some(first) = works.first() else {
        return Vec::new();
    };
    let version = first.version.clone();
    if let Some(inline) = state.scheduler.try_inline(&version.lane) {
        let evaluations = run_page(&state.engine, &state.metrics, works);
        inline.finish(evaluations.iter().map(|e| e.cost.cpu).sum());
        return evaluations;
    }
    let (answer, answered) = oneshot::channel();
    let engine = state.engine.clone();
    let metrics = state.metrics.clone();
    let fallbacks: Vec<Decision> = works.iter().map(|work| work.fallback.clone()).collect();
    let unanswered = fallbacks.clone();
    let lane = version.lane.clone();
    let wait = version.loaded.limits().deadline;
    state.scheduler.submit(
        &lane,
        wait,
        Box::new(move |verdict| {
            let evaluations = match verdict {
                Verdict::Run => run_page(&engine, &metrics, works),
                Verdict::Shed(shed) => {
                    let (code, message) = match shed {
                        Shed::OverBudget(why) => (ErrorCode::OverBudget, why),
                        Shed::Capacity(why) => (ErrorCode::Capacity, why),
                    };
                    tracing::debug!(policy = %version.loaded.name(), %code, %message, slots = fallbacks.len(), "page not run; serving its slots' fallbacks");
                    let error = DecisionError::new(code, message);
                    fallbacks
                        .iter()
                        .map(|fallback| Evaluation::failed(fallback, error.clone(), Cost::default()))
                        .collect()
                }
            };
            let cpu = evaluations.iter().map(|e: &Evaluation| e.cost.cpu).sum();
            let _ = answer.send(evaluations);
            cpu
        }),
    );
    answered.await.unwrap_or_else(|_| {
        let error = DecisionError::new(
            ErrorCode::Capacity,
            "the decision thread ended without an answer",
        );
        unanswered
            .iter()
            .map(|fallback| Evaluation::failed(fallback, error.clone(), Cost::default()))
            .collect()
    })
}

/// Runs a page of one version's slots and records what each cost.
fn run_page(engine: &Engine, metrics: &Metrics, works: Vec<SlotWork>) -> Vec<Evaluation> {
    let Some(version) = works.first().map(|work| work.version.clone()) else {
        return Vec::new();
    };
    let profile = works[0].profile.clone();
    let slots = works
        .into_iter()
        .map(|work| SlotInput {
            context: work.context,
            candidates: work.candidates,
            fallback: work.fallback,
        })
        .collect();
    let evaluations = engine.evaluate_page(&version.loaded, &profile, slots);
    for evaluation in &evaluations {
        record(metrics, &version, evaluation);
    }
    evaluations
}

/// Records a slot's cost with its version and in the CPU metric.
fn record(metrics: &Metrics, version: &PolicyVersion, evaluation: &Evaluation) {
    version.cost.record(evaluation.cost);
    metrics.observe(
        metrics::DECISION_CPU_SECONDS,
        &[
            ("policy", version.loaded.name()),
            ("version", version.short_digest()),
        ],
        evaluation.cost.cpu,
    );
}

/// Runs the decision and records what it cost.
fn run(engine: &Engine, metrics: &Metrics, work: &SlotWork) -> Evaluation {
    let version = &work.version;
    let evaluation = engine.evaluate(
        &version.loaded,
        &work.context,
        &work.profile,
        &work.candidates,
        &work.fallback,
    );
    record(metrics, version, &evaluation);
    evaluation
}
