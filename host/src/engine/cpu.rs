//! The calling thread's CPU time: what a decision is charged and judged by.
//!
//! `CLOCK_THREAD_CPUTIME_ID` counts the time the thread actually ran (user and kernel), so a
//! decision the OS descheduled is not charged for the time it waited. It is a system call (not
//! in the vDSO), about half a microsecond on this machine kind, so a decision reads it only from
//! its first deadline check on (one to two epoch ticks in; see `engine::state::Started`): the
//! short decisions that make up nearly all traffic never read it.

use std::time::Duration;

/// CPU time the calling thread has used since it started.
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "clock_gettime writes into the timespec it is given and has no other effect"
)]
pub fn thread_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant Linux supports
    // for every thread.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Elsewhere there is no per-thread clock: CPU time falls back to zero and deadlines stay
/// wall-clock only.
#[cfg(not(target_os = "linux"))]
pub fn thread_time() -> Duration {
    Duration::ZERO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_work_not_sleep() {
        let start = thread_time();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_time() - start;
        let start = thread_time();
        let mut x = 1u64;
        let until = std::time::Instant::now() + Duration::from_millis(30);
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let worked = thread_time() - start;
        assert!(worked > slept, "busy {worked:?} vs asleep {slept:?}");
        assert!(worked > Duration::from_millis(5), "{worked:?}");
    }
}
