//! Running a cheap decision on the thread that asked for it.
//!
//! Handing a decision to a decision thread and waking the HTTP task with its answer costs two
//! thread wake-ups, several microseconds: as much as the decision itself for a typical policy
//! (docs/benchmarks.md, "Fair shares"). So a lane whose decisions are proven cheap runs them
//! where they were asked for, when that jumps ahead of nobody: nothing of its own waits, it is
//! within its share (concurrency bound and CPU budget), and no other lane that could run now
//! has work waiting. It is charged exactly as on a decision thread, so weights and caps hold.
//!
//! A lane is proven cheap after [`PROOF`] decisions, as long as none of its decisions in the
//! last [`COOLDOWN`] took longer than the scheduler's inline bound. A decision that does
//! sends its lane back to the decision threads: the most an HTTP thread can be held by one is
//! that decision's own deadline, once per cooldown.

use super::lane::LaneState;
use super::{Lane, Scheduler, Shared, lock, lock_lane};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Decisions a lane runs on the decision threads before it may run inline.
pub(super) const PROOF: u64 = 32;

/// How long a decision over the inline bound keeps its lane on the decision threads.
pub(super) const COOLDOWN: Duration = Duration::from_secs(10);

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
        self.shared.finish(&self.lane, self.cost);
    }
}

impl Scheduler {
    /// Leave to run a decision of `lane` on this thread now, if it is cheap and that jumps
    /// ahead of nobody (see the module documentation); `None` means submit it.
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
        if !state.queue.is_empty()
            || state.running >= state.share.max_concurrent
            || !state.within_budget()
            || state.slow_at.is_some_and(|at| now < at + COOLDOWN)
        {
            return None;
        }
        state.running += 1;
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
    if !bound.is_zero() && cost > bound {
        state.slow_at = Some(Instant::now());
    }
}
