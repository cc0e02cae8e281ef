//! A slot's decision handed to the decision scheduler and awaited: the HTTP threads parse and
//! answer, the decision threads run policies.

use super::AppState;
use crate::engine::{Cost, DecisionError, Engine, ErrorCode, Evaluation};
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
    version.cost.record(evaluation.cost);
    metrics.observe(
        metrics::DECISION_CPU_SECONDS,
        &[
            ("policy", version.loaded.name()),
            ("version", version.short_digest()),
        ],
        evaluation.cost.cpu,
    );
    evaluation
}
