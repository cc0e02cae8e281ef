//! [`Lane`]: one policy version's place in the scheduler, its queue and what it has used.

use super::Share;
use super::queue::Queued;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One policy version's queue and accounts. Shared by the version (which submits to it) and the
/// scheduler (which runs from it); dropped with the version.
#[derive(Debug)]
pub struct Lane {
    /// Locked under the scheduler's own lock (so hardly ever contended), except to charge a
    /// finished decision, which locks only the lane.
    pub(super) state: Mutex<LaneState>,
    pub(super) counters: Counters,
}

/// What the scheduler keeps per lane.
#[derive(Debug)]
pub(super) struct LaneState {
    pub(super) share: Share,
    pub(super) queue: VecDeque<Queued>,
    pub(super) running: u32,
    /// CPU budget left, in nanoseconds (negative: in debt). Unused without a CPU cap.
    pub(super) tokens: i64,
    pub(super) refilled: Instant,
    /// Virtual time: CPU used divided by weight. The lane furthest behind runs first.
    pub(super) pass: u128,
    /// Whether the scheduler's list of lanes with work holds it.
    pub(super) listed: bool,
    /// Decaying share of recent decisions over the inline bound, and whether the lane may run
    /// inline now (see `inline.rs`).
    pub(super) slow_share: f32,
    pub(super) inline_ok: bool,
}

/// Running totals, readable without the scheduler's lock.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) decisions: AtomicU64,
    pub(super) cpu_nanos: AtomicU64,
    pub(super) shed_over_budget: AtomicU64,
    pub(super) shed_capacity: AtomicU64,
    pub(super) waiting: AtomicU64,
    pub(super) running: AtomicU64,
    pub(super) inline: AtomicU64,
}

/// How long a capped lane may bank unused CPU time: its cap over this window.
const BURST_WINDOW: Duration = Duration::from_millis(100);

/// What [`Lane::usage`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Decisions run from the lane; the slots of one page a 0.2.0 policy decides together
    /// (one instance, one job) count once.
    pub decisions: u64,
    /// CPU time those decisions used, in nanoseconds.
    pub cpu_nanos: u64,
    /// Slots answered with their fallback because the version was over its share.
    pub shed_over_budget: u64,
    /// Slots answered with their fallback because every decision thread was busy too long.
    pub shed_capacity: u64,
    /// Decisions waiting and running now.
    pub waiting: u64,
    pub running: u64,
    /// Of `decisions`, those run on the thread that asked for them (see `Scheduler::try_inline`).
    pub inline: u64,
}

impl Lane {
    pub fn new(share: Share) -> Lane {
        Lane {
            state: Mutex::new(LaneState {
                share,
                queue: VecDeque::new(),
                running: 0,
                tokens: burst(&share),
                refilled: Instant::now(),
                pass: 0,
                listed: false,
                slow_share: 0.0,
                inline_ok: true,
            }),
            counters: Counters::default(),
        }
    }

    /// The share it is scheduled with now.
    pub fn share(&self) -> Share {
        self.lock().share
    }

    /// Schedules it with another share from now on (a budget banked under the old cap is kept
    /// up to the new one's burst).
    pub fn set_share(&self, share: Share) {
        let mut state = self.lock();
        state.share = share;
        state.tokens = state.tokens.min(burst(&share));
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, LaneState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Totals so far.
    pub fn usage(&self) -> Usage {
        let c = &self.counters;
        Usage {
            decisions: c.decisions.load(Ordering::Relaxed),
            cpu_nanos: c.cpu_nanos.load(Ordering::Relaxed),
            shed_over_budget: c.shed_over_budget.load(Ordering::Relaxed),
            shed_capacity: c.shed_capacity.load(Ordering::Relaxed),
            waiting: c.waiting.load(Ordering::Relaxed),
            running: c.running.load(Ordering::Relaxed),
            inline: c.inline.load(Ordering::Relaxed),
        }
    }
}

/// The CPU a capped lane may bank, in nanoseconds.
fn burst(share: &Share) -> i64 {
    share
        .cpu_per_second
        .map_or(0, |cpu| nanos(cpu.mul_f64(BURST_WINDOW.as_secs_f64())))
}

pub(super) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl LaneState {
    /// Adds the budget earned since the last refill (up to the burst).
    pub(super) fn refill(&mut self, now: Instant) {
        let share = self.share;
        let Some(cpu) = share.cpu_per_second else {
            return;
        };
        let elapsed = now.saturating_duration_since(self.refilled);
        self.refilled = now;
        let earned = nanos(cpu.mul_f64(elapsed.as_secs_f64()));
        self.tokens = self.tokens.saturating_add(earned).min(burst(&share));
    }

    /// Whether the CPU cap lets it start a decision now.
    pub(super) fn within_budget(&self) -> bool {
        self.share.cpu_per_second.is_none() || self.tokens >= 0
    }

    /// Whether it may start a decision now.
    pub(super) fn eligible(&self) -> bool {
        !self.queue.is_empty() && self.running < self.share.max_concurrent && self.within_budget()
    }

    /// When a lane in debt will be back within budget.
    pub(super) fn back_in_budget(&self, now: Instant) -> Option<Instant> {
        let cpu = self.share.cpu_per_second?;
        if self.tokens >= 0 || cpu.is_zero() {
            return None;
        }
        let debt = Duration::from_nanos(self.tokens.unsigned_abs());
        Some(now + debt.div_f64(cpu.as_secs_f64()))
    }
}
