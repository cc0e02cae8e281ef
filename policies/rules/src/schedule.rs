//! When a rule is open: `{"start", "end", "timezone", "days", "hours"}`, all optional.
//!
//! `start` is inclusive and `end` exclusive (RFC 3339 with an offset). `days` and `hours` are
//! read on the wall clock of `timezone` (an IANA name, DST-aware; default `UTC`). An `hours`
//! window whose `to` is before its `from` runs overnight (`22:00`–`02:00`), and its hours after
//! midnight belong to the day it started on: Friday `22:00`–`02:00` is open at 01:00 on Saturday.

mod parse;
mod time;
mod zone;

use zone::Zone;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// Milliseconds since the Unix epoch.
    start: Option<i64>,
    end: Option<i64>,
    zone: Zone,
    /// Bit `n` set: open on weekday `n` (0 Monday … 6 Sunday).
    days: Option<u8>,
    hours: Option<Hours>,
}

/// A daily window in seconds since local midnight: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hours {
    from: u32,
    to: u32,
}

impl Schedule {
    /// Whether the schedule is open at `now_ms`.
    pub(crate) fn is_open(&self, now_ms: i64) -> bool {
        if self.start.is_some_and(|start| now_ms < start)
            || self.end.is_some_and(|end| now_ms >= end)
        {
            return false;
        }
        if self.days.is_none() && self.hours.is_none() {
            return true;
        }
        let local = self.zone.local(now_ms);
        let on = |weekday: u8| self.days.is_none_or(|days| days & (1 << weekday) != 0);
        let yesterday = (local.weekday + 6) % 7;
        let t = local.second_of_day;
        match self.hours {
            None => on(local.weekday),
            Some(Hours { from, to }) if from < to => on(local.weekday) && (from..to).contains(&t),
            Some(Hours { from, to }) => {
                (t >= from && on(local.weekday)) || (t < to && on(yesterday))
            }
        }
    }
}

#[cfg(test)]
mod tests;
