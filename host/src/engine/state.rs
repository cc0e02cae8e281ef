//! What a decision's `Store` holds: limits, the config it reads, and what the guest wrote.

use super::{ConfigDocument, Limits};
use crate::profiles::CustomerProfile;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Marks the contract's `customer.profile` resource: the decision's profile snapshot, held in
/// [`DecisionState::profile`].
pub struct ProfileHandle;

/// The handle every decision's profile is lent under.
pub(crate) const PROFILE_HANDLE: u32 = 0;

/// Per-decision store data. Built fresh for every decision and dropped with the instance.
pub(crate) struct DecisionState {
    pub(crate) config: Arc<ConfigDocument>,
    /// The profile snapshot of the customer being decided for.
    pub(crate) profile: CustomerProfile,
    pub(crate) policy: Arc<str>,
    pub(crate) limits: Limits,
    /// Set when the guest tried to grow memory past its cap.
    pub(crate) memory_limit_hit: bool,
    /// Log lines written and dropped so far in this decision.
    pub(crate) log_lines: u32,
    pub(crate) log_dropped: u32,
    /// What the guest wrote to stdout/stderr (Rust panics land here), capped.
    pub(crate) stdio: Vec<u8>,
    /// When the decision began.
    pub(crate) started: Started,
    /// Length of an epoch tick (how often the deadline is checked).
    pub(crate) tick: Duration,
    /// Which deadline stopped the decision, if one did.
    pub(crate) deadline_hit: Option<DeadlineHit>,
    /// The node's outcome counts, which contract 0.2.0's `outcomes` interface reads.
    pub(crate) outcomes: Option<Arc<crate::outcomes::Outcomes>>,
    /// The context's anonymous id: with the profile's customer id, the unit decided for.
    pub(crate) anonymous_id: Option<String>,
}

/// When a decision began, and where its thread's CPU clock stood then once that is known.
///
/// Reading a thread's CPU clock is a system call (`CLOCK_THREAD_CPUTIME_ID` has no vDSO fast
/// path), about half a microsecond on this machine kind: two of them were a tenth of a typical
/// decision. So a decision starts on the wall clock only. Its first deadline check, due one to
/// two epoch ticks in, reads the CPU clock and fixes the origin as that reading minus the wall
/// time so far, but never minus more than the check's window (those ticks): a decision the OS
/// preempted before its first check, however long, is charged at most the window for that
/// stretch, so it is not stopped for time it spent off the CPU. (A decision that really ran on
/// the CPU past the window because the ticker itself was late is undercharged by that delay;
/// every later check measures real CPU time.) A decision that ends before its first check
/// (nearly all of them) is charged its wall time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    pub(crate) wall: Instant,
    /// The thread's CPU clock at the decision's start, once the first check has estimated it.
    pub(crate) cpu_origin: Option<Duration>,
}

impl Started {
    pub(crate) fn now() -> Started {
        Started {
            wall: Instant::now(),
            cpu_origin: None,
        }
    }

    /// CPU time used since the start, reading the thread's CPU clock; the first call fixes the
    /// origin, counting at most `window` of the wall time before it as CPU.
    pub(crate) fn cpu_used(&mut self, window: Duration) -> Duration {
        let now = super::cpu::thread_time();
        let origin = *self
            .cpu_origin
            .get_or_insert_with(|| now.saturating_sub(self.wall.elapsed().min(window)));
        now.saturating_sub(origin)
    }

    /// What the decision cost: CPU time if a check fixed the origin, wall time otherwise.
    pub(crate) fn cost(mut self) -> super::Cost {
        let wall = self.wall.elapsed();
        let cpu = match self.cpu_origin {
            Some(_) => self.cpu_used(Duration::ZERO),
            None => wall,
        };
        super::Cost { cpu, wall }
    }
}

/// Which of a decision's two deadlines it ran past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlineHit {
    /// It used its deadline's worth of CPU time.
    Cpu,
    /// It was on the wall clock for [`WALL_CEILING_FACTOR`] times its deadline without using
    /// that much CPU (the OS kept it off the CPU): it is stopped anyway so it frees its slot.
    Wall,
}

/// The wall-clock ceiling of a decision, in multiples of its (CPU-time) deadline.
pub(crate) const WALL_CEILING_FACTOR: u32 = 4;

/// Bytes of guest stdout/stderr kept per decision.
pub(crate) const STDIO_CAP: usize = 4096;

impl DecisionState {
    pub(crate) fn new(
        policy: Arc<str>,
        config: Arc<ConfigDocument>,
        limits: Limits,
        profile: CustomerProfile,
        started: Started,
        tick: Duration,
    ) -> Self {
        DecisionState {
            config,
            profile,
            policy,
            limits,
            memory_limit_hit: false,
            log_lines: 0,
            log_dropped: 0,
            stdio: Vec::new(),
            started,
            tick,
            deadline_hit: None,
            outcomes: None,
            anonymous_id: None,
        }
    }

    /// The unit the decision is for: the profile's customer id, else the anonymous id.
    pub(crate) fn unit(&self) -> Option<&str> {
        self.profile.customer_id().or(self.anonymous_id.as_deref())
    }

    /// Counts a log line against the per-decision cap and cuts it to the line-length cap;
    /// `None` when the decision is over its cap of lines and the line is dropped.
    pub(crate) fn admit_log_line(&mut self, mut message: String) -> Option<String> {
        if self.log_lines >= self.limits.max_log_lines {
            self.log_dropped += 1;
            return None;
        }
        self.log_lines += 1;
        if message.len() > self.limits.max_log_line_bytes {
            let mut cut = self.limits.max_log_line_bytes;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Some(message)
    }

    /// Keeps guest output up to the cap.
    pub(crate) fn capture_stdio(&mut self, bytes: &[u8]) {
        let room = STDIO_CAP.saturating_sub(self.stdio.len());
        self.stdio
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What the guest wrote before it trapped, as one line: for a Rust panic, from
    /// `panicked at` on (the thread preamble and the backtrace hint are dropped).
    pub(crate) fn panic_message(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.stdio);
        let text = text
            .find("panicked at")
            .map_or(&*text, |start| &text[start..]);
        let line = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join(" ");
        (!line.is_empty()).then_some(line)
    }
}

impl wasmtime::ResourceLimiter for DecisionState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.max_memory_bytes {
            self.memory_limit_hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory would grow to {desired} bytes, over the {}-byte cap",
                self.limits.max_memory_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        super::limits::CORE_INSTANCES_PER_DECISION as usize
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        super::limits::CORE_INSTANCES_PER_DECISION as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(stdio: &str) -> DecisionState {
        let mut state = DecisionState::new(
            "p".into(),
            Arc::new(ConfigDocument::empty()),
            Limits::default(),
            tailor_types::Profile::default().into(),
            Started::now(),
            Duration::from_millis(1),
        );
        state.capture_stdio(stdio.as_bytes());
        state
    }

    #[test]
    fn panic_message_keeps_location_and_text() {
        let state = state_with(
            "\nthread '<unnamed>' (1) panicked at src/lib.rs:9:9:\nno creative for cust-1\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
        );
        assert_eq!(
            state.panic_message().as_deref(),
            Some("panicked at src/lib.rs:9:9: no creative for cust-1")
        );
        assert_eq!(state_with("").panic_message(), None);
        assert_eq!(
            state_with("plain words").panic_message().as_deref(),
            Some("plain words")
        );
    }

    #[test]
    fn time_off_the_cpu_before_the_first_check_counts_at_most_its_window() {
        // A decision that started 50 ms ago and was (as far as this thread's CPU clock knows)
        // off the CPU all along: at most the 2 ms window is taken as CPU.
        let mut started = Started {
            wall: Instant::now()
                .checked_sub(Duration::from_millis(50))
                .unwrap_or_else(Instant::now),
            cpu_origin: None,
        };
        let used = started.cpu_used(Duration::from_millis(2));
        assert!(used < Duration::from_millis(3), "{used:?}");
        // From then on the origin is fixed: only CPU spent since counts.
        let mut x = 1u64;
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let later = started.cpu_used(Duration::from_millis(2));
        assert!(
            later > used + Duration::from_millis(5),
            "{used:?} then {later:?}"
        );
        assert!(started.cost().wall >= Duration::from_millis(70));
    }

    #[test]
    fn captured_output_is_capped() {
        let state = state_with(&"x".repeat(STDIO_CAP * 3));
        assert_eq!(state.stdio.len(), STDIO_CAP);
    }
}
