//! POSIX TZ rules (`GMT0BST,M3.5.0/1,M10.5.0`): a standard offset and, optionally, a daylight
//! saving offset with the yearly rule for when it starts and ends. The tz database ends every
//! zone with the rule it follows from the last listed transition on.

use crate::schedule::time::{
    days_from_civil, days_in_month, is_leap, weekday_from_sunday, year_of,
};

/// A zone's current rule; offsets are seconds east of UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) standard: i64,
    pub(crate) daylight: Option<Daylight>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Daylight {
    offset: i64,
    start: Change,
    end: Change,
}

/// When in a year a change happens: a date and a local time (which may be negative or past
/// 24:00), on the clock in effect before the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    date: Date,
    seconds: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Date {
    /// `Jn`: day 1 to 365, never counting 29 February.
    Julian(i64),
    /// `n`: day 0 to 365, counting 29 February.
    DayOfYear(i64),
    /// `Mm.w.d`: weekday `d` (0 Sunday) of week `w` (5: the last) of month `m`.
    Month { month: u32, week: i64, weekday: i64 },
}

impl Rule {
    /// Parses a rule; `None` if it is not one.
    pub(crate) fn parse(text: &str) -> Option<Rule> {
        let mut p = Parser {
            rest: text.as_bytes(),
        };
        p.name()?;
        let standard = -p.offset()?;
        if p.rest.is_empty() {
            return Some(Rule {
                standard,
                daylight: None,
            });
        }
        p.name()?;
        let offset = match p.rest.first() {
            Some(b'0'..=b'9' | b'+' | b'-') => -p.offset()?,
            _ => standard + 3600,
        };
        // Without a rule POSIX defaults to the United States' current one.
        let (start, end) = if p.eat(b',') {
            let start = p.change()?;
            p.eat(b',').then_some(())?;
            (start, p.change()?)
        } else {
            let us = |month, week| Change {
                date: Date::Month {
                    month,
                    week,
                    weekday: 0,
                },
                seconds: 7200,
            };
            (us(3, 2), us(11, 1))
        };
        p.rest.is_empty().then_some(Rule {
            standard,
            daylight: Some(Daylight { offset, start, end }),
        })
    }

    /// The offset from UTC in effect at `t` seconds since the Unix epoch.
    pub(crate) fn offset_at(&self, t: i64) -> i64 {
        let Some(daylight) = &self.daylight else {
            return self.standard;
        };
        let year = year_of((t + self.standard).div_euclid(86_400));
        let start = daylight.start.at(year) - self.standard;
        let end = daylight.end.at(year) - daylight.offset;
        let in_daylight = if start < end {
            (start..end).contains(&t)
        } else {
            // Southern hemisphere: daylight saving spans the new year.
            !(end..start).contains(&t)
        };
        if in_daylight {
            daylight.offset
        } else {
            self.standard
        }
    }
}

impl Change {
    /// Local seconds since the epoch of this change in `year`.
    fn at(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        let days = match self.date {
            Date::Julian(n) => jan1 + n - 1 + i64::from(is_leap(year) && n >= 60),
            Date::DayOfYear(n) => jan1 + n,
            Date::Month {
                month,
                week,
                weekday,
            } => {
                let first = days_from_civil(year, month, 1);
                let first_match = (weekday - weekday_from_sunday(first)).rem_euclid(7);
                let mut day = first_match + (week - 1) * 7;
                while day >= i64::from(days_in_month(year, month)) {
                    day -= 7;
                }
                first + day
            }
        };
        days * 86_400 + self.seconds
    }
}

struct Parser<'t> {
    rest: &'t [u8],
}

impl Parser<'_> {
    fn eat(&mut self, c: u8) -> bool {
        let ate = self.rest.first() == Some(&c);
        if ate {
            self.rest = &self.rest[1..];
        }
        ate
    }

    fn number(&mut self) -> Option<i64> {
        let len = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (digits, rest) = self.rest.split_at(len);
        self.rest = rest;
        (len > 0).then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    }

    /// `EST` or `<+0330>`.
    fn name(&mut self) -> Option<()> {
        let len = if self.eat(b'<') {
            let len = self.rest.iter().position(|&b| b == b'>')?;
            self.rest = &self.rest[len + 1..];
            return (len >= 1).then_some(());
        } else {
            self.rest
                .iter()
                .take_while(|b| b.is_ascii_alphabetic())
                .count()
        };
        self.rest = &self.rest[len..];
        (len >= 3).then_some(())
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, as written (POSIX: positive is west of Greenwich).
    fn offset(&mut self) -> Option<i64> {
        let sign = if self.eat(b'-') {
            -1
        } else {
            self.eat(b'+');
            1
        };
        let mut seconds = self.number()? * 3600;
        for unit in [60, 1] {
            if !self.eat(b':') {
                break;
            }
            seconds += self.number()? * unit;
        }
        Some(sign * seconds)
    }

    /// `Jn`, `n` or `Mm.w.d`, then an optional `/time` (default 02:00).
    fn change(&mut self) -> Option<Change> {
        let date = if self.eat(b'J') {
            Date::Julian(self.number().filter(|n| (1..=365).contains(n))?)
        } else if self.eat(b'M') {
            let month = self.number().filter(|m| (1..=12).contains(m))? as u32;
            self.eat(b'.').then_some(())?;
            let week = self.number().filter(|w| (1..=5).contains(w))?;
            self.eat(b'.').then_some(())?;
            let weekday = self.number().filter(|d| (0..=6).contains(d))?;
            Date::Month {
                month,
                week,
                weekday,
            }
        } else {
            Date::DayOfYear(self.number().filter(|n| (0..=365).contains(n))?)
        };
        let seconds = if self.eat(b'/') { self.offset()? } else { 7200 };
        Some(Change { date, seconds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::time::instant;

    fn offset(rule: &str, at: &str) -> i64 {
        Rule::parse(rule)
            .unwrap()
            .offset_at(instant(at).unwrap() / 1000)
            / 60
    }

    #[test]
    fn european_summer_time_changes_at_one_utc() {
        let london = "GMT0BST,M3.5.0/1,M10.5.0";
        assert_eq!(offset(london, "2026-03-29T00:59:59Z"), 0);
        assert_eq!(offset(london, "2026-03-29T01:00:00Z"), 60);
        assert_eq!(offset(london, "2026-10-25T00:59:59Z"), 60);
        assert_eq!(offset(london, "2026-10-25T01:00:00Z"), 0);
        let berlin = "CET-1CEST,M3.5.0,M10.5.0/3";
        assert_eq!(offset(berlin, "2026-03-29T00:59:59Z"), 60);
        assert_eq!(offset(berlin, "2026-03-29T01:00:00Z"), 120);
    }

    #[test]
    fn other_rules() {
        let new_york = "EST5EDT,M3.2.0,M11.1.0";
        assert_eq!(offset(new_york, "2026-03-08T06:59:59Z"), -300);
        assert_eq!(offset(new_york, "2026-03-08T07:00:00Z"), -240);
        assert_eq!(offset(new_york, "2026-11-01T05:59:59Z"), -240);
        assert_eq!(offset(new_york, "2026-11-01T06:00:00Z"), -300);
        // Southern hemisphere, a half-hour daylight shift, and a change at 24:00.
        assert_eq!(
            offset(
                "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
                "2026-01-15T00:00:00Z"
            ),
            660
        );
        assert_eq!(
            offset(
                "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
                "2026-06-15T00:00:00Z"
            ),
            630
        );
        let santiago = "<-04>4<-03>,M9.1.6/24,M4.1.6/24";
        assert_eq!(offset(santiago, "2026-01-15T00:00:00Z"), -180);
        assert_eq!(offset(santiago, "2026-07-15T00:00:00Z"), -240);
        assert_eq!(offset("<+0330>-3:30", "2026-07-15T00:00:00Z"), 210);
        assert_eq!(offset("EST5EDT", "2026-07-15T00:00:00Z"), -240);
        assert_eq!(offset("XXX0YYY,J1/0,J365/25", "2026-07-15T00:00:00Z"), 60);
        for bad in [
            "",
            "GMT",
            "GMT0BST,M13.1.0,M10.5.0",
            "<+01",
            "GMT0BST,M3.5.0",
            "A1",
        ] {
            assert_eq!(Rule::parse(bad), None, "{bad:?}");
        }
    }
}
