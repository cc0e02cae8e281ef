//! One instance reused across calls: for measuring call overhead only.

use super::bindings::Instantiated;
use super::state::{DecisionState, PROFILE_HANDLE, ProfileHandle};
use super::{DecisionError, Engine, ErrorCode, LoadedPolicy};
use crate::profiles::CustomerProfile;
use tailor_types::{Candidate, Context, Decision};
use wasmtime::Store;
use wasmtime::component::Resource;

/// A single instance of a policy that serves call after call.
///
/// **Not for serving customers**: memory and globals persist between calls, so one decision can
/// see what the previous one left behind. tailor serves every decision from a fresh instance; this
/// exists so benchmarks can measure the cost of a call without instantiation (the floor that
/// per-decision instantiation is compared with).
pub struct PinnedInstance {
    store: Store<DecisionState>,
    bindings: Instantiated,
}

impl std::fmt::Debug for PinnedInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedInstance").finish_non_exhaustive()
    }
}

impl Engine {
    /// Instantiates a policy once for repeated calls (see [`PinnedInstance`]).
    pub fn pinned_instance(&self, policy: &LoadedPolicy) -> Result<PinnedInstance, DecisionError> {
        let state = DecisionState::new(
            policy.name.clone(),
            policy.config.clone(),
            policy.limits,
            tailor_types::Profile::default().into(),
            super::state::Started::now(),
            self.inner.config.epoch_tick,
        );
        let mut store = Store::new(&self.inner.wasmtime, state);
        store.limiter(|state| state);
        store.set_epoch_deadline(u64::MAX / 2);
        let bindings = policy
            .pre
            .instantiate(&mut store)
            .map_err(|e| DecisionError::new(ErrorCode::Instantiate, format!("{e:#}")))?;
        Ok(PinnedInstance { store, bindings })
    }
}

impl PinnedInstance {
    /// Calls the instance's `decide` again.
    pub fn decide(
        &mut self,
        context: &Context,
        profile: &CustomerProfile,
        candidates: &[Candidate],
    ) -> Result<Decision, DecisionError> {
        self.store.data_mut().profile = profile.clone();
        match self.bindings.call_decide(
            &mut self.store,
            context,
            Resource::<ProfileHandle>::new_borrow(PROFILE_HANDLE),
            candidates,
        ) {
            Ok(Ok(decision)) => Ok(decision),
            Ok(Err(e)) => Err(DecisionError::new(
                ErrorCode::PolicyError,
                format!("{}: {}", e.code, e.message),
            )),
            Err(e) => Err(DecisionError::new(ErrorCode::Trap, format!("{e:#}"))),
        }
    }
}
