//! IANA time zones (DST-aware) and the local weekday and time of day of an instant in one.
//!
//! A zone is looked up in `zones.tsv`, the zone names of the tz database with each zone's
//! current POSIX rule (regenerated from tzdata by `zones/update.sh`). The rule is what a zone
//! follows now and in future years; the database's one-off future transitions (Morocco's
//! Ramadan changes) are not in it. 17 KB of text instead of the whole database keeps the
//! component small.

mod posix;

use posix::Rule;

const ZONES: &str = include_str!("zones.tsv");

/// A time zone from the IANA database (`Europe/London`).
#[derive(Debug, Clone)]
pub(crate) struct Zone(Rule);

/// A local wall-clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Local {
    /// 0 for Monday … 6 for Sunday.
    pub(crate) weekday: u8,
    /// Seconds since local midnight.
    pub(crate) second_of_day: u32,
}

impl Zone {
    pub(crate) fn utc() -> Zone {
        Zone(Rule {
            standard: 0,
            daylight: None,
        })
    }

    /// The zone called `name`, if the database knows it.
    pub(crate) fn named(name: &str) -> Option<Zone> {
        ZONES
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('\t'))
            .and_then(Rule::parse)
            .map(Zone)
    }

    /// The local weekday and time of day at `ms` since the Unix epoch.
    pub(crate) fn local(&self, ms: i64) -> Local {
        let t = ms.div_euclid(1000);
        let local = t + self.0.offset_at(t);
        let days = local.div_euclid(86_400);
        Local {
            weekday: (days + 3).rem_euclid(7) as u8,
            second_of_day: local.rem_euclid(86_400) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::time::instant;

    #[test]
    fn local_time_follows_daylight_saving() {
        let london = Zone::named("Europe/London").unwrap();
        // 2026-03-29 is the spring change: 01:00 UTC becomes 02:00 BST.
        let before = instant("2026-03-29T00:59:59Z").unwrap();
        let after = instant("2026-03-29T01:00:00Z").unwrap();
        assert_eq!(london.local(before).second_of_day, 59 * 60 + 59);
        assert_eq!(london.local(after).second_of_day, 2 * 3600);
        assert_eq!(london.local(after).weekday, 6);
        assert_eq!(
            Zone::utc().local(0),
            Local {
                weekday: 3,
                second_of_day: 0
            }
        );
        assert_eq!(Zone::utc().local(-1).second_of_day, 86_399);
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        assert_eq!(
            tokyo.local(instant("2026-06-05T15:00:00Z").unwrap()),
            Local {
                weekday: 5,
                second_of_day: 0
            }
        );
    }

    #[test]
    fn every_zone_in_the_table_has_a_rule() {
        let zones: Vec<&str> = ZONES.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(zones.len() > 400, "{} zones", zones.len());
        for line in zones {
            let (name, rule) = line.split_once('\t').unwrap();
            assert!(Rule::parse(rule).is_some(), "{name}: {rule:?}");
            assert!(Zone::named(name).is_some(), "{name}");
        }
        for unknown in [
            "Mars/Olympus",
            "Europe",
            "europe/london",
            "",
            "Europe/London\t",
        ] {
            assert!(Zone::named(unknown).is_none(), "{unknown:?}");
        }
    }
}
