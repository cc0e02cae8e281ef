//! Running one decision: a fresh store and instance, the call, and what comes back checked.
//!
//! A decision's deadline is CPU time: the epoch ticker (wall clock) only decides when the
//! deadline is checked, and the check ([`on_epoch_deadline`]) stops the decision once the thread
//! has spent the deadline's worth of CPU on it. A decision the OS kept off the CPU is not killed
//! for time it did not use, until it has been on the wall clock for
//! [`WALL_CEILING_FACTOR`](super::state::WALL_CEILING_FACTOR) times its deadline: then it is
//! stopped anyway, so that one starved decision cannot hold its slot indefinitely. The CPU clock
//! is first read at the first check, one to two ticks in (`Started` says how the origin is
//! fixed); a decision that ends before it is charged its wall time.

use super::state::{
    DeadlineHit, DecisionState, PROFILE_HANDLE, ProfileHandle, Started, WALL_CEILING_FACTOR,
};
use super::{DecisionError, Engine, ErrorCode, LoadedPolicy};
use crate::profiles::CustomerProfile;
use std::time::Duration;
use tailor_types::{Candidate, Context, Decision, Reason};
use wasmtime::component::Resource;
use wasmtime::{Store, StoreContextMut, Trap, UpdateDeadline};

/// Epoch ticks before a decision's first deadline check.
const FIRST_CHECK_TICKS: u64 = 2;

/// What one decision cost: instantiation, the call and the output checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// CPU time of the thread that ran it.
    pub cpu: Duration,
    /// Wall-clock time from start to end (includes any time the OS ran something else).
    pub wall: Duration,
}

/// The answer for a slot: the policy's decision, or the fallback and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Set when the policy failed and `decision` is the fallback (with reason `ERROR`).
    pub error: Option<DecisionError>,
    /// What running it cost (zero when it never ran).
    pub cost: Cost,
}

impl Evaluation {
    /// The fallback for a slot whose decision did not run or failed: `fallback` with reason
    /// `ERROR` and the error.
    pub fn failed(fallback: &Decision, error: DecisionError, cost: Cost) -> Evaluation {
        let mut decision = fallback.clone();
        decision.reason = Reason::Error;
        Evaluation {
            decision,
            error: Some(error),
            cost,
        }
    }
}

impl Engine {
    /// Runs one decision in a fresh, sandboxed instance of the policy.
    pub fn decide(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &CustomerProfile,
        candidates: &[Candidate],
    ) -> Result<Decision, DecisionError> {
        self.decide_measured(policy, context, profile, candidates).0
    }

    /// Runs one decision and says what it cost on this thread.
    pub fn decide_measured(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &CustomerProfile,
        candidates: &[Candidate],
    ) -> (Result<Decision, DecisionError>, Cost) {
        self.run(policy, context, profile, candidates, Started::now(), true)
    }

    /// [`Engine::decide_measured`] as a policy's fixture cases run natively: reading no outcome
    /// counts, so what a node has learned never changes a case's expected decision.
    pub fn decide_detached_measured(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &CustomerProfile,
        candidates: &[Candidate],
    ) -> (Result<Decision, DecisionError>, Cost) {
        self.run(policy, context, profile, candidates, Started::now(), false)
    }

    fn run(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &CustomerProfile,
        candidates: &[Candidate],
        started: Started,
        outcomes: bool,
    ) -> (Result<Decision, DecisionError>, Cost) {
        let anonymous_id = context.anonymous_id.as_deref();
        let mut store = self.store(policy, profile, anonymous_id, policy.limits, started);
        if !outcomes {
            store.data_mut().outcomes = None;
        }
        let instance = match policy.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) => return (Err(instantiate_error(error)), store.data().started.cost()),
        };
        let returned = instance.call_decide(
            &mut store,
            context,
            Resource::<ProfileHandle>::new_borrow(PROFILE_HANDLE),
            candidates,
        );
        let state = store.data();
        let cost = state.started.cost();
        if state.log_dropped > 0 {
            tracing::warn!(policy = %policy.name, dropped = state.log_dropped, "policy log lines over the per-decision cap were dropped");
        }
        let result = match returned {
            Ok(Ok(decision)) => check_output(decision, policy),
            Ok(Err(error)) => Err(DecisionError::new(
                ErrorCode::PolicyError,
                format!("{}: {}", error.code, error.message),
            )),
            Err(error) => Err(classify(error, state)),
        };
        (result, cost)
    }

    /// A fresh store for a decision (or a page of them) under `limits`, its deadline armed.
    pub(super) fn store(
        &self,
        policy: &LoadedPolicy,
        profile: &CustomerProfile,
        anonymous_id: Option<&str>,
        limits: super::Limits,
        started: Started,
    ) -> Store<DecisionState> {
        let tick = self.inner.config.epoch_tick;
        let mut state = DecisionState::new(
            policy.name.clone(),
            policy.config.clone(),
            limits,
            profile.clone(),
            started,
            tick,
        );
        // Only a component that imports `outcomes` (contract 0.2.0) reads them.
        if policy.pre.reads_outcomes() {
            state.outcomes = self.inner.outcomes.get().cloned();
            state.anonymous_id = anonymous_id.map(str::to_owned);
        }
        let mut store = Store::new(&self.inner.wasmtime, state);
        store.limiter(|state| state);
        // The first check comes after one to two ticks (it fixes the CPU clock's origin, see
        // `Started`), or at the deadline if that is sooner.
        store.set_epoch_deadline(limits.deadline_ticks(tick).min(FIRST_CHECK_TICKS));
        store.epoch_deadline_callback(on_epoch_deadline);
        store
    }

    /// Runs one decision and, if it fails, serves `fallback` with reason `ERROR`, logging the
    /// failure with the policy's name and the guest's message. Never fails.
    pub fn evaluate(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &CustomerProfile,
        candidates: &[Candidate],
        fallback: &Decision,
    ) -> Evaluation {
        match self.decide_measured(policy, context, profile, candidates) {
            (Ok(decision), cost) => Evaluation {
                decision,
                error: None,
                cost,
            },
            (Err(error), cost) => {
                let message =
                    super::redact::mask(profile, context.anonymous_id.as_deref(), &error.message);
                tracing::warn!(policy = %policy.name, code = %error.code, %message, slot = %context.slot, "policy failed; serving the slot's fallback");
                Evaluation::failed(fallback, error, cost)
            }
        }
    }
}

/// Called when a decision reaches its epoch deadline: stops it if it has used its CPU-time
/// deadline (or its wall-clock ceiling), and otherwise checks again once it could have.
fn on_epoch_deadline(
    mut store: StoreContextMut<'_, DecisionState>,
) -> wasmtime::Result<UpdateDeadline> {
    let state = store.data_mut();
    let deadline = state.limits.deadline;
    let window = state.tick.saturating_mul(FIRST_CHECK_TICKS as u32);
    let used = state.started.cpu_used(window);
    if used >= deadline {
        state.deadline_hit = Some(DeadlineHit::Cpu);
        return Ok(UpdateDeadline::Interrupt);
    }
    if state.started.wall.elapsed() >= deadline * WALL_CEILING_FACTOR {
        state.deadline_hit = Some(DeadlineHit::Wall);
        return Ok(UpdateDeadline::Interrupt);
    }
    let remaining = deadline - used;
    let tick = state.tick.as_nanos().max(1);
    Ok(UpdateDeadline::Continue(
        (remaining.as_nanos().div_ceil(tick) as u64).max(1),
    ))
}

pub(super) fn instantiate_error(error: wasmtime::Error) -> DecisionError {
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        DecisionError::new(ErrorCode::Capacity, "every instance slot is in use")
    } else {
        DecisionError::new(ErrorCode::Instantiate, format!("{error:#}"))
    }
}

pub(super) fn classify(error: wasmtime::Error, state: &DecisionState) -> DecisionError {
    if state.memory_limit_hit {
        return DecisionError::new(
            ErrorCode::MemoryLimit,
            format!(
                "linear memory would exceed {} bytes",
                state.limits.max_memory_bytes
            ),
        );
    }
    let guest_said = state.panic_message();
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => DecisionError::new(
            ErrorCode::Timeout,
            match state.deadline_hit {
                Some(DeadlineHit::Wall) => format!(
                    "was on the wall clock for {}x its {:?} deadline (descheduled) and was stopped",
                    WALL_CEILING_FACTOR, state.limits.deadline
                ),
                _ => format!("used its {:?} deadline of CPU time", state.limits.deadline),
            },
        ),
        Some(Trap::StackOverflow) => {
            DecisionError::new(ErrorCode::StackOverflow, "call stack exhausted")
        }
        Some(trap) => DecisionError::new(
            ErrorCode::Trap,
            match guest_said {
                Some(message) => format!("{trap}: {message}"),
                None => trap.to_string(),
            },
        ),
        None => DecisionError::new(ErrorCode::Trap, format!("{error:#}")),
    }
}

/// Refuses decisions a channel could not use or that exceed the policy's output cap.
pub(super) fn check_output(
    decision: Decision,
    policy: &LoadedPolicy,
) -> Result<Decision, DecisionError> {
    let limits = &policy.limits;
    let invalid = |message: String| Err(DecisionError::new(ErrorCode::InvalidOutput, message));
    let size = decision.payload_bytes();
    if size > limits.max_output_bytes {
        return Err(DecisionError::new(
            ErrorCode::OutputTooLarge,
            format!(
                "decision is {size} bytes, over the {}-byte cap",
                limits.max_output_bytes
            ),
        ));
    }
    if decision.items.len() > limits.max_items {
        return invalid(format!(
            "{} ranked items, over the cap of {}",
            decision.items.len(),
            limits.max_items
        ));
    }
    if decision.reason == Reason::Error {
        return invalid("a policy may not return reason ERROR; return an error instead".into());
    }
    if decision.variant.as_deref() == Some("") {
        return invalid("variant is empty".into());
    }
    for (index, item) in decision.items.iter().enumerate() {
        if item.id.is_empty() {
            return invalid(format!("items[{index}].id is empty"));
        }
        if !item.score.is_finite() {
            return invalid(format!("items[{index}].score is {}", item.score));
        }
        if decision.items[..index]
            .iter()
            .any(|earlier| earlier.id == item.id)
        {
            return invalid(format!("items[{index}].id {:?} is ranked twice", item.id));
        }
    }
    if let Some((index, _)) = decision
        .render
        .iter()
        .enumerate()
        .find(|(_, (key, _))| key.is_empty())
    {
        return invalid(format!("render[{index}] has an empty key"));
    }
    Ok(decision)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::engine::{EngineConfig, Limits, PolicySource};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Pins the calling thread to one CPU.
    #[expect(
        unsafe_code,
        reason = "sched_setaffinity on a zeroed, then filled, cpu_set_t"
    )]
    fn pin_to(cpu: usize) {
        // SAFETY: the set is plain data, zeroed then filled by the libc helpers; pid 0 is the
        // calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
                0,
                "sched_setaffinity"
            );
        }
    }

    /// A CPU this process may run on.
    #[expect(unsafe_code, reason = "sched_getaffinity into a zeroed cpu_set_t")]
    fn some_cpu() -> usize {
        // SAFETY: as above; the kernel fills the set.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .find(|cpu| libc::CPU_ISSET(*cpu, &set))
                .unwrap_or(0)
        }
    }

    #[test]
    fn a_decision_kept_off_the_cpu_is_judged_by_the_cpu_it_used() {
        let deadline = Duration::from_millis(40);
        let engine = Engine::new(EngineConfig {
            max_concurrent_decisions: 4,
            ..EngineConfig::default()
        })
        .unwrap();
        // About 15 ms of CPU (the burn loop runs ~466k rounds per ms on this machine kind).
        let policy = engine
            .load(PolicySource {
                name: "burn",
                component: tailor_test_policies::BURN,
                config: Some(r#"{"iterations": 7000000}"#),
                limits: Some(Limits {
                    deadline,
                    ..Limits::default()
                }),
            })
            .unwrap();
        let context = Context::new(tailor_types::Channel::Web, "s", 0);
        let profile = tailor_types::Profile::default().into();
        // Warm the slot so the measured run is the policy's work.
        engine.decide(&policy, &context, &profile, &[]).unwrap();

        let cpu = some_cpu();
        let stop = AtomicBool::new(false);
        let (result, cost) = std::thread::scope(|scope| {
            // Two spinners share the decision's CPU: it gets about a third of the wall clock.
            for _ in 0..2 {
                scope.spawn(|| {
                    pin_to(cpu);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                });
            }
            let decided = scope
                .spawn(|| {
                    pin_to(cpu);
                    engine.decide_measured(&policy, &context, &profile, &[])
                })
                .join()
                .unwrap();
            stop.store(true, Ordering::Relaxed);
            decided
        });
        assert!(
            cost.wall > deadline,
            "the decision was not kept off the CPU past its deadline ({cost:?}): the test proves nothing"
        );
        assert!(cost.cpu < deadline, "{cost:?}");
        assert!(
            result.is_ok(),
            "killed for time it did not use ({cost:?}): {result:?}"
        );
    }
}
