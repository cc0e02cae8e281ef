//! Schedule edges: start and end, days and hours in a zone, overnight windows, DST days.

use super::Schedule;
use super::time::instant;
use crate::problem::Problems;
use serde_json::{Value, json};

fn schedule(value: Value) -> Schedule {
    let mut problems = Problems::default();
    let parsed = Schedule::parse(&value, "schedule", &mut problems);
    assert!(problems.is_empty(), "{:?}", problems.into_vec());
    parsed.unwrap()
}

fn problems(value: Value) -> Vec<String> {
    let mut problems = Problems::default();
    let parsed = Schedule::parse(&value, "schedule", &mut problems);
    assert!(parsed.is_none());
    problems
        .into_vec()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn at(text: &str) -> i64 {
    instant(text).unwrap()
}

#[test]
fn start_is_inclusive_and_end_exclusive() {
    let s = schedule(json!({"start": "2026-12-01T00:00:00Z", "end": "2026-12-24T00:00:00+01:00"}));
    assert!(!s.is_open(at("2026-12-01T00:00:00Z") - 1));
    assert!(s.is_open(at("2026-12-01T00:00:00Z")));
    assert!(s.is_open(at("2026-12-23T22:59:59.999Z")));
    assert!(!s.is_open(at("2026-12-23T23:00:00Z")));
    assert!(schedule(json!({})).is_open(0));
}

#[test]
fn hours_are_read_in_the_zone_across_daylight_saving() {
    let s =
        schedule(json!({"timezone": "Europe/London", "hours": {"from": "09:00", "to": "17:30"}}));
    // Winter: London is UTC.
    assert!(!s.is_open(at("2026-03-28T08:59:59Z")));
    assert!(s.is_open(at("2026-03-28T09:00:00Z")));
    assert!(!s.is_open(at("2026-03-28T17:30:00Z")));
    // 29 March 2026, clocks go forward: 09:00 BST is 08:00 UTC.
    assert!(s.is_open(at("2026-03-29T08:00:00Z")));
    assert!(!s.is_open(at("2026-03-29T07:59:59Z")));
    assert!(!s.is_open(at("2026-03-29T16:30:00Z")));
    // 25 October 2026, clocks go back: 09:00 is UTC again.
    assert!(!s.is_open(at("2026-10-25T08:30:00Z")));
    assert!(s.is_open(at("2026-10-25T09:00:00Z")));
    assert!(s.is_open(at("2026-10-24T08:30:00Z")));
}

#[test]
fn days_are_local_days() {
    let s = schedule(json!({"timezone": "America/New_York", "days": ["sat", "sun"]}));
    // Friday 23:30 in New York is already Saturday in UTC.
    assert!(!s.is_open(at("2026-06-06T03:30:00Z")));
    assert!(s.is_open(at("2026-06-06T04:00:00Z")));
    // Local midnight between Sunday and Monday.
    assert!(s.is_open(at("2026-06-08T03:59:59.999Z")));
    assert!(!s.is_open(at("2026-06-08T04:00:00Z")));
}

#[test]
fn overnight_windows_belong_to_the_day_they_start() {
    let s = schedule(json!({"days": ["fri"], "hours": {"from": "22:00", "to": "02:00"}}));
    // 2026-06-05 is a Friday.
    assert!(!s.is_open(at("2026-06-05T21:59:59Z")));
    assert!(s.is_open(at("2026-06-05T22:00:00Z")));
    assert!(s.is_open(at("2026-06-06T00:00:00Z")));
    assert!(s.is_open(at("2026-06-06T01:59:59Z")));
    assert!(!s.is_open(at("2026-06-06T02:00:00Z")));
    // Friday's small hours belong to Thursday's window, which is closed.
    assert!(!s.is_open(at("2026-06-05T01:00:00Z")));
    let every_night = schedule(json!({"hours": {"from": "22:00", "to": "02:00"}}));
    assert!(every_night.is_open(at("2026-06-05T01:00:00Z")));
    let to_midnight = schedule(json!({"hours": {"from": "18:00", "to": "24:00"}}));
    assert!(to_midnight.is_open(at("2026-06-05T23:59:59Z")));
    assert!(!to_midnight.is_open(at("2026-06-06T00:00:00Z")));
}

#[test]
fn problems_name_the_field() {
    assert_eq!(
        problems(json!({
            "start": "2026-12-24T00:00:00Z", "end": "2026-12-01T00:00:00Z",
            "timezone": "Mars/Olympus", "days": ["mon", "funday"],
            "hours": {"from": "9am", "to": "24:00", "until": 1}, "every": "day"
        })),
        [
            "schedule: unknown field \"every\"",
            "schedule.end: end must be after start",
            "schedule.timezone: unknown timezone \"Mars/Olympus\"",
            "schedule.days[1]: unknown day \"funday\"; use mon, tue, wed, thu, fri, sat or sun",
            "schedule.hours: unknown field \"until\"",
            "schedule.hours.from: must be a time of day \"HH:MM\" from 00:00 to 23:59",
        ]
    );
    assert_eq!(
        problems(
            json!({"start": "2026-12-01", "days": [], "hours": {"from": "10:00", "to": "10:00"}})
        ),
        [
            "schedule.start: must be an RFC 3339 time with an offset, like \"2026-12-01T00:00:00Z\"",
            "schedule.days: must be a non-empty list of days: mon, tue, wed, thu, fri, sat, sun",
            "schedule.hours.to: must differ from from; leave hours out to be open all day",
        ]
    );
}

#[test]
fn the_schema_knows_the_fields_the_checks_know() {
    assert_eq!(
        crate::tests::schema_properties("schedule"),
        super::parse::FIELDS
    );
}
