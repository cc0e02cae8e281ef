//! Several slots of one page for one customer: in one instance where the contract allows it.
//!
//! A request often asks one policy for more than one slot (two hero placements, two offer
//! shelves). A `tailor:policy@0.2.0` component decides them all in one fresh instance through
//! `decide-page`: one instantiation instead of one per slot, and the policy sees the whole page
//! (it may keep an item off one slot that it put on another). The slots share the instance and
//! nothing else: it is the same customer's same request, and the instance is thrown away after
//! the call like any other. A 0.1.0 component has no `decide-page`; each of its slots gets a
//! fresh instance as before.

use super::bindings::{Contract, PageSlot};
use super::decide::{check_output, classify, instantiate_error};
use super::state::{PROFILE_HANDLE, ProfileHandle, Started};
use super::{Cost, DecisionError, Engine, ErrorCode, Evaluation, LoadedPolicy};
use crate::profiles::CustomerProfile;
use tailor_types::{Candidate, Context, Decision};
use wasmtime::component::Resource;

/// One slot of a page to decide: what `decide` would get, and what it shows if that fails.
#[derive(Debug, Clone)]
pub struct SlotInput {
    pub context: Context,
    pub candidates: Vec<Candidate>,
    pub fallback: Decision,
}

impl Engine {
    /// Decides every slot of a page for one customer, answering in order; never fails (a slot
    /// that fails gets its fallback with reason `ERROR`, logged). A 0.2.0 policy decides them in
    /// one fresh instance, under a deadline of its per-decision deadline times the slots; each
    /// evaluation carries an equal share of that instance's cost. A 0.1.0 policy, or a page of
    /// one slot, gets a fresh instance per slot.
    pub fn evaluate_page(
        &self,
        policy: &LoadedPolicy,
        profile: &CustomerProfile,
        slots: Vec<SlotInput>,
    ) -> Vec<Evaluation> {
        if slots.len() < 2 || policy.pre.contract() == Contract::V0_1 {
            return slots
                .into_iter()
                .map(|slot| {
                    self.evaluate(
                        policy,
                        &slot.context,
                        profile,
                        &slot.candidates,
                        &slot.fallback,
                    )
                })
                .collect();
        }
        let count = slots.len();
        let mut fallbacks = Vec::with_capacity(count);
        let page: Vec<PageSlot> = slots
            .into_iter()
            .map(|slot| {
                fallbacks.push(slot.fallback);
                PageSlot {
                    context: slot.context,
                    candidates: slot.candidates,
                }
            })
            .collect();
        let (results, cost) = self.run_page(policy, profile, &page);
        let share = u32::try_from(count).unwrap_or(u32::MAX);
        let cost = Cost {
            cpu: cost.cpu / share,
            wall: cost.wall / share,
        };
        results
            .into_iter()
            .zip(page.iter().zip(&fallbacks))
            .map(|(result, (slot, fallback))| match result {
                Ok(decision) => Evaluation {
                    decision,
                    error: None,
                    cost,
                },
                Err(error) => {
                    let message = super::redact::mask(profile, slot.context.anonymous_id.as_deref(), &error.message);
                    tracing::warn!(policy = %policy.name, code = %error.code, %message, slot = %slot.context.slot, "policy failed; serving the slot's fallback");
                    Evaluation::failed(fallback, error, cost)
                }
            })
            .collect()
    }

    /// One `decide-page` call in a fresh instance: a result per slot, and what it all cost.
    fn run_page(
        &self,
        policy: &LoadedPolicy,
        profile: &CustomerProfile,
        page: &[PageSlot],
    ) -> (Vec<Result<Decision, DecisionError>>, Cost) {
        let count = page.len();
        let every = |error: DecisionError| vec![Err(error); count];
        let mut limits = policy.limits;
        let slots = u32::try_from(count).unwrap_or(u32::MAX);
        limits.deadline = limits.deadline.saturating_mul(slots);
        limits.max_log_lines = limits.max_log_lines.saturating_mul(slots);
        let anonymous_id = page.first().and_then(|s| s.context.anonymous_id.as_deref());
        let mut store = self.store(policy, profile, anonymous_id, limits, Started::now());
        let instance = match policy.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) => {
                return (every(instantiate_error(error)), store.data().started.cost());
            }
        };
        let returned = instance.call_decide_page(
            &mut store,
            page,
            Resource::<ProfileHandle>::new_borrow(PROFILE_HANDLE),
        );
        let state = store.data();
        let cost = state.started.cost();
        if state.log_dropped > 0 {
            tracing::warn!(policy = %policy.name, dropped = state.log_dropped, "policy log lines over the per-decision cap were dropped");
        }
        let results = match returned {
            None => every(DecisionError::new(
                ErrorCode::Instantiate,
                "the component has no decide-page",
            )),
            Some(Ok(results)) if results.len() == count => results
                .into_iter()
                .map(|result| match result {
                    Ok(decision) => check_output(decision, policy),
                    Err(error) => Err(DecisionError::new(
                        ErrorCode::PolicyError,
                        format!("{}: {}", error.code, error.message),
                    )),
                })
                .collect(),
            Some(Ok(results)) => every(DecisionError::new(
                ErrorCode::InvalidOutput,
                format!(
                    "decide-page returned {} results for {count} slots",
                    results.len()
                ),
            )),
            Some(Err(error)) => every(classify(error, state)),
        };
        (results, cost)
    }
}
