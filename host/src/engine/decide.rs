//! Running one decision: a fresh store and instance, the call, and what comes back checked.

use super::state::{DecisionState, PROFILE_HANDLE, ProfileHandle};
use super::{DecisionError, Engine, ErrorCode, LoadedPolicy};
use std::sync::Arc;
use tailor_types::{Candidate, Context, Decision, Profile, Reason};
use wasmtime::component::Resource;
use wasmtime::{Store, Trap};

/// The answer for a slot: the policy's decision, or the fallback and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Set when the policy failed and `decision` is the fallback (with reason `ERROR`).
    pub error: Option<DecisionError>,
}

impl Engine {
    /// Runs one decision in a fresh, sandboxed instance of the policy.
    pub fn decide(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &Arc<Profile>,
        candidates: &[Candidate],
    ) -> Result<Decision, DecisionError> {
        let state = DecisionState::new(
            policy.name.clone(),
            policy.config.clone(),
            policy.limits,
            profile.clone(),
        );
        let mut store = Store::new(&self.inner.wasmtime, state);
        store.limiter(|state| state);
        store.set_epoch_deadline(policy.limits.deadline_ticks(self.inner.config.epoch_tick));

        let instance = match policy.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) => return Err(instantiate_error(error)),
        };
        let returned = instance.call_decide(
            &mut store,
            context,
            Resource::<ProfileHandle>::new_borrow(PROFILE_HANDLE),
            candidates,
        );
        let state = store.data();
        if state.log_dropped > 0 {
            tracing::warn!(policy = %policy.name, dropped = state.log_dropped, "policy log lines over the per-decision cap were dropped");
        }
        match returned {
            Ok(Ok(decision)) => check_output(decision, policy),
            Ok(Err(error)) => Err(DecisionError::new(
                ErrorCode::PolicyError,
                format!("{}: {}", error.code, error.message),
            )),
            Err(error) => Err(classify(error, state)),
        }
    }

    /// Runs one decision and, if it fails, serves `fallback` with reason `ERROR`, logging the
    /// failure with the policy's name and the guest's message. Never fails.
    pub fn evaluate(
        &self,
        policy: &LoadedPolicy,
        context: &Context,
        profile: &Arc<Profile>,
        candidates: &[Candidate],
        fallback: &Decision,
    ) -> Evaluation {
        match self.decide(policy, context, profile, candidates) {
            Ok(decision) => Evaluation {
                decision,
                error: None,
            },
            Err(error) => {
                tracing::warn!(policy = %policy.name, code = %error.code, message = %error.message, slot = %context.slot, "policy failed; serving the slot's fallback");
                let mut decision = fallback.clone();
                decision.reason = Reason::Error;
                Evaluation {
                    decision,
                    error: Some(error),
                }
            }
        }
    }
}

fn instantiate_error(error: wasmtime::Error) -> DecisionError {
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        DecisionError::new(ErrorCode::Capacity, "every instance slot is in use")
    } else {
        DecisionError::new(ErrorCode::Instantiate, format!("{error:#}"))
    }
}

fn classify(error: wasmtime::Error, state: &DecisionState) -> DecisionError {
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
            format!("ran past its {:?} deadline", state.limits.deadline),
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
fn check_output(decision: Decision, policy: &LoadedPolicy) -> Result<Decision, DecisionError> {
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
