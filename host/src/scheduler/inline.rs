//! Running a cheap decision on the thread that asked for it.
//!
//! Handing a decision to a decision thread and waking the HTTP task with its answer costs two
//! thread wake-ups, several microseconds: as much as the decision itself for a typical policy
//! (docs/benchmarks.md, "Speed"). So a lane whose decisions are proven cheap runs them where
//! they were asked for, when that jumps ahead of no other policy: it is within its CPU budget
//! and no other lane that could run now has work waiting. It is charged exactly as on a
//! decision thread, so weights and caps hold. Inline decisions do not count against the lane's
//! bound on decisions at once: that bound keeps a slow policy from occupying every decision
//! thread, and an inline decision occupies none.
//!
//! A lane is proven cheap after [`PROOF`] decisions, as long as few of its recent decisions
//! took longer than the scheduler's inline bound: it keeps a decaying share of decisions over
//! the bound (each decision weighs 1/[`SLOW_SHARE_WINDOW`]), goes to the decision threads when
//! that share passes [`SLOW_SHARE_OFF`] and comes back when it falls below [`SLOW_SHARE_ON`].
//! A single decision over the bound does not demote a lane: short decisions are charged their
//! wall time (see `engine::state::Started`), so an otherwise cheap one the OS preempted looks
//! slow now and then; a policy that is slow for a tenth of its customers is demoted after a
//! handful of them, and one that is always slow never runs inline.

use super::lane::LaneState;
use super::{Lane, Scheduler, Shared, lock, lock_lane};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Decisions a lane runs on the decision threads before it may run inline.
pub(super) const PROOF: u64 = 32;

/// Decisions the slow share is averaged over (the weight of the newest is one over this).
pub(super) const SLOW_SHARE_WINDOW: f32 = 32.0;

/// Share of recent decisions over the bound above which a lane stops running inline.
pub(super) const SLOW_SHARE_OFF: f32 = 0.10;

/// Share below which a lane that stopped may run inline again.
pub(super) const SLOW_SHARE_ON: f32 = 0.05;

/// Leave to run one decision on the calling thread; charged to its lane when finished (with
/// zero if dropped unfinished, for example by a panic).
#[derive(Debug)]
pub struct Inline {
    shared: Arc<Shared>,
    lane: Arc<Lane>,
    cost: Duration,
}

impl Inline {
    /// Charges the decision's CPU time to its lane.
    pub fn finish(mut self, cost: Duration) {
        self.cost = cost;
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        self.lane.counters.inline.fetch_add(1, Ordering::Relaxed);
        self.shared.charge(&self.lane, self.cost, true);
    }
}

impl Scheduler {
    /// Leave to run a decision of `lane` on this thread now, if it is cheap and that jumps
    /// ahead of no other policy (see the module documentation); `None` means submit it.
    pub fn try_inline(&self, lane: &Arc<Lane>) -> Option<Inline> {
        let bound = self.shared.inline_under;
        if bound.is_zero() || lane.counters.decisions.load(Ordering::Relaxed) < PROOF {
            return None;
        }
        let now = Instant::now();
        let inner = lock(&self.shared.inner);
        if inner.stopping
            || inner
                .lanes
                .iter()
                .any(|other| !Arc::ptr_eq(other, lane) && lock_lane(other).eligible())
        {
            return None;
        }
        let mut state = lock_lane(lane);
        state.refill(now);
        if !state.within_budget() || !state.inline_ok {
            return None;
        }
        drop(state);
        drop(inner);
        lane.counters.running.fetch_add(1, Ordering::Relaxed);
        Some(Inline {
            shared: self.shared.clone(),
            lane: lane.clone(),
            cost: Duration::ZERO,
        })
    }
}

/// Notes a finished decision's cost against the inline bound.
pub(super) fn note_cost(state: &mut LaneState, cost: Duration, bound: Duration) {
    if bound.is_zero() {
        return;
    }
    let slow = if cost > bound { 1.0 } else { 0.0 };
    state.slow_share += (slow - state.slow_share) / SLOW_SHARE_WINDOW;
    if state.inline_ok && state.slow_share > SLOW_SHARE_OFF {
        state.inline_ok = false;
    } else if !state.inline_ok && state.slow_share < SLOW_SHARE_ON {
        state.inline_ok = true;
    }
}
