//! A slot's decision handed to the decision scheduler and awaited: the HTTP threads parse and
//! answer, the decision threads run policies.

use super::AppState;
use crate::engine::{Cost, DecisionError, ErrorCode, Evaluation};
use crate::metrics;
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

/// Runs the slot's decision on a decision thread within its version's share; a slot the share
/// or a busy node does not let run in time gets its fallback (`over_budget` or `capacity`).
/// The version's cost histograms and the CPU metric are updated on the decision thread.
pub(super) async fn evaluate(state: &AppState, work: SlotWork) -> Evaluation {
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
            let SlotWork {
                version,
                context,
                profile,
                candidates,
                fallback,
            } = work;
            let evaluation = match verdict {
                Verdict::Run => {
                    let evaluation = engine.evaluate(
                        &version.loaded,
                        &context,
                        &profile,
                        &candidates,
                        &fallback,
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
                Verdict::Shed(shed) => {
                    let (code, message) = match shed {
                        Shed::OverBudget(why) => (ErrorCode::OverBudget, why),
                        Shed::Capacity(why) => (ErrorCode::Capacity, why),
                    };
                    tracing::debug!(policy = %version.loaded.name(), %code, %message, "slot not run; serving its fallback");
                    Evaluation::failed(
                        &fallback,
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
