//! A slot's decision (or a page of one version's slots) run within its version's share: inline
//! when the scheduler allows it, otherwise handed to a decision thread and awaited.

use super::AppState;
use crate::engine::{Cost, DecisionError, Engine, ErrorCode, Evaluation, SlotInput};
use crate::profiles::CustomerProfile;
use crate::registry::PolicyVersion;
use crate::scheduler::{Shed, Verdict};
use std::sync::Arc;
use std::time::Duration;
use tailor_types::{Candidate, Context, Decision};
use tokio::sync::oneshot;

/// What one slot's decision needs.
#[derive(Debug)]
pub(super) struct SlotWork {
    pub version: Arc<PolicyVersion>,
    pub context: Context,
    pub profile: CustomerProfile,
    pub candidates: Vec<Candidate>,
    pub fallback: Decision,
}

/// What the scheduler runs for a request: one slot, or a page of one version's slots.
trait Work: Send + Sized + 'static {
    type Answer: Send + 'static;
    /// What is kept, when the work is handed to a decision thread, to answer with if it never
    /// runs there.
    type Kept;
    fn version(&self) -> &Arc<PolicyVersion>;
    fn run(self, engine: &Engine) -> Self::Answer;
    /// The CPU time the answer cost, charged to the version's lane.
    fn cpu(answer: &Self::Answer) -> Duration;
    fn keep(&self) -> Self::Kept;
    /// The fallback answer for work that did not run, and why.
    fn not_run(kept: Self::Kept, error: DecisionError) -> Self::Answer;
}

impl Work for SlotWork {
    type Answer = Evaluation;
    type Kept = Decision;

    fn version(&self) -> &Arc<PolicyVersion> {
        &self.version
    }

    fn run(self, engine: &Engine) -> Evaluation {
        let evaluation = engine.evaluate(
            &self.version.loaded,
            &self.context,
            &self.profile,
            &self.candidates,
            &self.fallback,
        );
        record(&self.version, &evaluation);
        evaluation
    }

    fn cpu(answer: &Evaluation) -> Duration {
        answer.cost.cpu
    }

    fn keep(&self) -> Decision {
        self.fallback.clone()
    }

    fn not_run(fallback: Decision, error: DecisionError) -> Evaluation {
        Evaluation::failed(&fallback, error, Cost::default())
    }
}

/// The slots of one request for one 0.2.0 version, decided together (`Engine::evaluate_page`).
struct PageWork {
    version: Arc<PolicyVersion>,
    profile: CustomerProfile,
    slots: Vec<SlotInput>,
}

impl Work for PageWork {
    type Answer = Vec<Evaluation>;
    type Kept = Vec<Decision>;

    fn version(&self) -> &Arc<PolicyVersion> {
        &self.version
    }

    fn run(self, engine: &Engine) -> Vec<Evaluation> {
        let evaluations = engine.evaluate_page(&self.version.loaded, &self.profile, self.slots);
        for evaluation in &evaluations {
            record(&self.version, evaluation);
        }
        evaluations
    }

    fn cpu(answer: &Vec<Evaluation>) -> Duration {
        answer.iter().map(|evaluation| evaluation.cost.cpu).sum()
    }

    fn keep(&self) -> Vec<Decision> {
        self.slots
            .iter()
            .map(|slot| slot.fallback.clone())
            .collect()
    }

    fn not_run(fallbacks: Vec<Decision>, error: DecisionError) -> Vec<Evaluation> {
        fallbacks
            .iter()
            .map(|fallback| Evaluation::failed(fallback, error.clone(), Cost::default()))
            .collect()
    }
}

/// Runs the slot's decision within its version's share (see [`schedule`]).
pub(super) async fn evaluate(state: &AppState, work: SlotWork) -> Evaluation {
    schedule(state, work).await
}

/// Runs several slots of one version together (see `Engine::evaluate_page`): one job within
/// the version's share like a single slot (see [`schedule`]); answers in order.
pub(super) async fn evaluate_page(state: &AppState, works: Vec<SlotWork>) -> Vec<Evaluation> {
    let Some(first) = works.first() else {
        return Vec::new();
    };
    let page = PageWork {
        version: first.version.clone(),
        profile: first.profile.clone(),
        slots: works
            .into_iter()
            .map(|work| SlotInput {
                context: work.context,
                candidates: work.candidates,
                fallback: work.fallback,
            })
            .collect(),
    };
    schedule(state, page).await
}

/// Runs `work` within its version's share: inline on this thread when the scheduler allows it
/// (a cheap version, nothing waiting ahead of it), otherwise on a decision thread. Work the
/// share or a busy node does not let run in time gets its fallback (`over_budget` or
/// `capacity`). The version's cost histograms and the CPU metric are updated where it ran.
async fn schedule<W: Work>(state: &AppState, work: W) -> W::Answer {
    let version = work.version().clone();
    if let Some(inline) = state.scheduler.try_inline(&version.lane) {
        let answer = work.run(&state.engine);
        inline.finish(W::cpu(&answer));
        return answer;
    }
    let kept = work.keep();
    let (answer, answered) = oneshot::channel();
    let engine = state.engine.clone();
    // As long as the decision itself may take: a slot waits at most twice its deadline in all.
    let wait = version.loaded.limits().deadline;
    state.scheduler.submit(
        &version.lane,
        wait,
        Box::new(move |verdict| match verdict {
            Verdict::Run => {
                let ran = work.run(&engine);
                let cpu = W::cpu(&ran);
                let _ = answer.send(Ok(ran));
                cpu
            }
            Verdict::Shed(shed) => {
                let _ = answer.send(Err(shed));
                Duration::ZERO
            }
        }),
    );
    let error = match answered.await {
        Ok(Ok(ran)) => return ran,
        Ok(Err(shed)) => {
            let (code, message) = match shed {
                Shed::OverBudget(why) => (ErrorCode::OverBudget, why),
                Shed::Capacity(why) => (ErrorCode::Capacity, why),
            };
            tracing::debug!(policy = %version.loaded.name(), %code, %message, "not run; serving the fallback");
            DecisionError::new(code, message)
        }
        Err(_) => DecisionError::new(
            ErrorCode::Capacity,
            "the decision thread ended without an answer",
        ),
    };
    W::not_run(kept, error)
}

/// Records a slot's cost with its version and in the CPU metric.
fn record(version: &PolicyVersion, evaluation: &Evaluation) {
    version.cost.record(evaluation.cost);
    version.metrics(|m| m.cpu(evaluation.cost.cpu));
}
