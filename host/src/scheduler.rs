//! The decision scheduler: decisions run on threads of their own, never on the threads that
//! accept connections and parse requests, and each policy version takes its share of them.
//!
//! Every policy version has a [`Lane`] with its [`Share`]: a weight, a bound on decisions at
//! once and an optional cap on CPU time per second. A free decision thread takes the next job
//! from the eligible lane (work waiting, under its concurrency bound, within its CPU budget)
//! that has had the least CPU time for its weight (stride scheduling on measured CPU time), so
//! under contention versions get CPU in proportion to their weights, and a capped version never
//! gets more than its cap. A version over its share is the one that waits: its jobs wait at most
//! as long as their deadline allows and are then shed (the slot gets its fallback with
//! `over_budget`); other versions' jobs are not held behind it.
//!
//! A decision is not preempted once it runs (a fresh instance per decision runs to its end or
//! its deadline), so the bound on decisions at once is what keeps a slow policy from occupying
//! every thread: by default a version may use all but one decision thread.

mod inline;
mod lane;
mod queue;
mod share;

pub use inline::Inline;
pub use lane::{Lane, Usage};
pub use queue::{Job, Shed, Verdict};
pub use share::{InvalidShare, MAX_WEIGHT, Share, ShareOverride};

use lane::nanos;
use queue::Queued;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Weight arithmetic is done in units of 1/`WEIGHT_SCALE` ns so small costs still count.
const WEIGHT_SCALE: u128 = 1 << 10;

/// How often idle threads look again while work waits on a budget (refills, expiries).
const RECHECK: Duration = Duration::from_millis(1);

/// Runs decisions on its threads; cheap to clone (clones share the threads). The threads stop
/// when the last clone is dropped, shedding whatever still waits.
#[derive(Debug, Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    work: Condvar,
    threads: u32,
    /// The most jobs one lane may have waiting.
    max_waiting: usize,
    /// Decisions of lanes that never take longer than this may run inline (zero: never).
    inline_under: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    /// Lanes with jobs waiting.
    lanes: Vec<Arc<Lane>>,
    /// Threads waiting for work.
    idle: u32,
    /// The pass of the lane picked last: where a lane that had no work starts again.
    vtime: u128,
    stopping: bool,
}

#[derive(Debug)]
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        lock(&self.0.inner).stopping = true;
        self.0.work.notify_all();
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_lane(lane: &Lane) -> MutexGuard<'_, lane::LaneState> {
    lane.lock()
}

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
#[error("starting decision thread {index}: {source}")]
pub struct SpawnError {
    index: u32,
    #[source]
    source: std::io::Error,
}

impl Scheduler {
    /// Starts `threads` decision threads; a lane may hold at most `max_waiting` waiting jobs,
    /// and a lane whose decisions all take less than `inline_under` may run them on the thread
    /// that asks ([`Scheduler::try_inline`]; zero turns that off).
    pub fn start(
        threads: u32,
        max_waiting: usize,
        inline_under: Duration,
    ) -> Result<Scheduler, SpawnError> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            work: Condvar::new(),
            threads: threads.max(1),
            max_waiting: max_waiting.max(1),
            inline_under,
        });
        let stop = Arc::new(StopOnDrop(shared.clone()));
        for index in 0..shared.threads {
            let worker = shared.clone();
            std::thread::Builder::new()
                .name(format!("tailor-decide-{index}"))
                .spawn(move || worker.run())
                .map_err(|source| SpawnError { index, source })?;
        }
        Ok(Scheduler {
            shared,
            _stop: stop,
        })
    }

    /// Queues `job` on `lane`; it waits at most `wait` for a thread and its share. The job is
    /// called exactly once: on a decision thread with [`Verdict::Run`], or (on this or a
    /// decision thread) with [`Verdict::Shed`].
    pub fn submit(&self, lane: &Arc<Lane>, wait: Duration, job: Job) {
        let reason = {
            let mut inner = lock(&self.shared.inner);
            let mut state = lock_lane(lane);
            if inner.stopping {
                Shed::Capacity("the node is shutting down".into())
            } else if state.queue.len() >= self.shared.max_waiting {
                Shed::OverBudget(format!(
                    "{} of its decisions were already waiting ({})",
                    state.queue.len(),
                    state.share.describe()
                ))
            } else {
                state.queue.push_back(Queued {
                    job,
                    until: Instant::now() + wait,
                });
                lane.counters.waiting.fetch_add(1, Ordering::Relaxed);
                if !state.listed {
                    state.listed = true;
                    if state.running == 0 {
                        // Back from idle: no credit for the time it had nothing to do.
                        state.pass = state.pass.max(inner.vtime);
                    }
                    drop(state);
                    inner.lanes.push(lane.clone());
                }
                if inner.idle > 0 {
                    self.shared.work.notify_one();
                }
                return;
            }
        };
        count_shed(lane, &reason);
        job(Verdict::Shed(reason));
    }
}

fn count_shed(lane: &Lane, reason: &Shed) {
    let counter = match reason {
        Shed::OverBudget(_) => &lane.counters.shed_over_budget,
        Shed::Capacity(_) => &lane.counters.shed_capacity,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What a decision thread does next.
enum Next {
    Run(Arc<Lane>, Job),
    /// Only jobs whose wait ran out (in the list passed to [`Shared::next`]).
    Shed,
    Stop,
}

/// Jobs taken out of their queues unrun, with why.
type Expired = Vec<(Arc<Lane>, Queued, Shed)>;

impl Shared {
    /// A decision thread: takes the next job, runs it, charges its lane; until stopped.
    fn run(&self) {
        let mut expired = Expired::new();
        loop {
            let next = self.next(&mut expired);
            for (lane, queued, reason) in expired.drain(..) {
                count_shed(&lane, &reason);
                (queued.job)(Verdict::Shed(reason));
            }
            let (lane, job) = match next {
                Next::Run(lane, job) => (lane, job),
                Next::Shed => continue,
                Next::Stop => return,
            };
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Verdict::Run)));
            let cost = ran.unwrap_or_else(|_| {
                tracing::error!("a decision job panicked; its slot got no answer");
                Duration::ZERO
            });
            self.charge(&lane, cost, false);
        }
    }

    /// Charges a finished decision to its lane; `inline` ones did not hold a decision thread.
    /// Only the lane is locked, not the scheduler: a pick that reads the lane a moment before
    /// the charge lands is at most one decision stale.
    fn charge(&self, lane: &Arc<Lane>, cost: Duration, inline: bool) {
        {
            let mut state = lock_lane(lane);
            if !inline {
                state.running -= 1;
            }
            state.tokens = state.tokens.saturating_sub(nanos(cost));
            state.pass += cost.as_nanos() * WEIGHT_SCALE / u128::from(state.share.weight.max(1));
            inline::note_cost(&mut state, cost, self.inline_under);
        }
        let counters = &lane.counters;
        counters.running.fetch_sub(1, Ordering::Relaxed);
        counters.decisions.fetch_add(1, Ordering::Relaxed);
        counters.cpu_nanos.fetch_add(
            u64::try_from(cost.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Waits for the next job to run. Jobs whose wait ran out on the way are moved to `expired`,
    /// to be shed outside the lock.
    fn next(&self, expired: &mut Expired) -> Next {
        let mut inner = lock(&self.inner);
        loop {
            let now = Instant::now();
            let stopping = inner.stopping;
            // This thread is not idle: none idle means every other thread is busy.
            let threads_busy = inner.idle == 0;
            inner.lanes.retain(|lane| {
                let mut state = lock_lane(lane);
                state.refill(now);
                while let Some(queued) = state
                    .queue
                    .pop_front_if(|queued| stopping || queued.until <= now)
                {
                    lane.counters.waiting.fetch_sub(1, Ordering::Relaxed);
                    let reason = if stopping {
                        Shed::Capacity("the node is shutting down".into())
                    } else {
                        why_waiting(&state, threads_busy)
                    };
                    expired.push((lane.clone(), queued, reason));
                }
                state.listed = !state.queue.is_empty();
                state.listed
            });
            if stopping {
                return Next::Stop;
            }
            let mut best: Option<(usize, u128)> = None;
            let mut soonest: Option<Instant> = None;
            for (index, lane) in inner.lanes.iter().enumerate() {
                let state = lock_lane(lane);
                if state.eligible() {
                    if best.is_none_or(|(_, pass)| state.pass < pass) {
                        best = Some((index, state.pass));
                    }
                } else if let Some(front) = state.queue.front() {
                    let wake = state
                        .back_in_budget(now)
                        .map_or(front.until, |at| at.min(front.until));
                    soonest = Some(soonest.map_or(wake, |s| s.min(wake)));
                }
            }
            if let Some((index, pass)) = best {
                let lane = inner.lanes[index].clone();
                let mut state = lock_lane(&lane);
                let Some(queued) = state.queue.pop_front() else {
                    continue;
                };
                state.running += 1;
                let empty = state.queue.is_empty();
                state.listed = !empty;
                drop(state);
                if empty {
                    inner.lanes.swap_remove(index);
                }
                inner.vtime = inner.vtime.max(pass);
                lane.counters.waiting.fetch_sub(1, Ordering::Relaxed);
                lane.counters.running.fetch_add(1, Ordering::Relaxed);
                return Next::Run(lane, queued.job);
            }
            if !expired.is_empty() {
                return Next::Shed;
            }
            inner.idle += 1;
            inner = match soonest {
                Some(at) => {
                    let wait = at
                        .saturating_duration_since(now)
                        .clamp(Duration::from_micros(50), RECHECK);
                    self.work
                        .wait_timeout(inner, wait)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0)
                }
                None => self
                    .work
                    .wait(inner)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
            inner.idle -= 1;
        }
    }
}

/// Why a job's wait ran out: its own share, or a node with every thread busy.
fn why_waiting(state: &lane::LaneState, threads_busy: bool) -> Shed {
    let share = &state.share;
    if !state.within_budget() {
        Shed::OverBudget(format!(
            "over its CPU budget ({}) for as long as the slot could wait",
            share.describe()
        ))
    } else if state.running >= share.max_concurrent {
        Shed::OverBudget(format!(
            "at its bound of {} decisions at once for as long as the slot could wait",
            share.max_concurrent
        ))
    } else if threads_busy {
        Shed::Capacity("every decision thread was busy for as long as the slot could wait".into())
    } else {
        Shed::OverBudget(format!(
            "other policies' shares came first for as long as the slot could wait ({})",
            share.describe()
        ))
    }
}

#[cfg(test)]
mod tests;
