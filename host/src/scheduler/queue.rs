//! What waits in a lane: a job, and how long it may wait.

use std::time::Instant;

/// How a job is told to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run now (on a decision thread).
    Run,
    /// Not run: the slot gets its fallback for this reason.
    Shed(Shed),
}

/// Why a job was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shed {
    /// The version was over its share (CPU cap or concurrency bound) for as long as the job
    /// could wait, or already had as many decisions waiting as a lane may hold.
    OverBudget(String),
    /// Every decision thread was busy for as long as the job could wait.
    Capacity(String),
}

/// Work for a decision thread: called once, with whether to run; returns the CPU time it used
/// (zero when shed), which the scheduler charges to its lane.
pub type Job = Box<dyn FnOnce(Verdict) -> std::time::Duration + Send>;

/// A job in a lane's queue.
pub(super) struct Queued {
    pub(super) job: Job,
    /// When it stops waiting and is shed.
    pub(super) until: Instant,
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}
