//! Reading a schedule from the document, naming each field that is wrong.

use super::time::instant;
use super::zone::Zone;
use super::{Hours, Schedule};
use crate::problem::{Problems, field, index};
use serde_json::Value;

pub(crate) const FIELDS: &[&str] = &["start", "end", "timezone", "days", "hours"];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Schedule {
    /// The schedule at `path`, or `None` with its problems recorded.
    pub(crate) fn parse(value: &Value, path: &str, problems: &mut Problems) -> Option<Schedule> {
        let object = problems.object(value, path)?;
        problems.deny_unknown(object, path, FIELDS);
        let before = problems.len();
        let mut edge = |key: &str| {
            let value = object.get(key)?;
            let ms = value.as_str().and_then(instant);
            if ms.is_none() {
                problems.add(
                    &field(path, key),
                    "must be an RFC 3339 time with an offset, like \"2026-12-01T00:00:00Z\"",
                );
            }
            ms
        };
        let (start, end) = (edge("start"), edge("end"));
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            problems.add(&field(path, "end"), "end must be after start");
        }
        let zone = match object.get("timezone") {
            None => Some(Zone::utc()),
            Some(Value::String(name)) => Zone::named(name).or_else(|| {
                problems.add(
                    &field(path, "timezone"),
                    format!("unknown timezone {name:?}"),
                );
                None
            }),
            Some(_) => {
                problems.add(&field(path, "timezone"), "must be an IANA time zone name");
                None
            }
        };
        let days = object
            .get("days")
            .map(|days| parse_days(days, &field(path, "days"), problems));
        let hours = object
            .get("hours")
            .map(|hours| parse_hours(hours, &field(path, "hours"), problems));
        if problems.len() > before {
            return None;
        }
        Some(Schedule {
            start,
            end,
            zone: zone?,
            days: days.flatten(),
            hours: hours.flatten(),
        })
    }
}

fn parse_days(value: &Value, path: &str, problems: &mut Problems) -> Option<u8> {
    let Some(items) = value.as_array().filter(|items| !items.is_empty()) else {
        problems.add(
            path,
            "must be a non-empty list of days: mon, tue, wed, thu, fri, sat, sun",
        );
        return None;
    };
    let mut days = 0u8;
    for (i, item) in items.iter().enumerate() {
        match item
            .as_str()
            .and_then(|d| DAYS.iter().position(|known| *known == d))
        {
            Some(day) => days |= 1 << day,
            None => problems.add(
                &index(path, i),
                format!("unknown day {item}; use mon, tue, wed, thu, fri, sat or sun"),
            ),
        }
    }
    Some(days)
}

fn parse_hours(value: &Value, path: &str, problems: &mut Problems) -> Option<Hours> {
    let object = problems.object(value, path)?;
    problems.deny_unknown(object, path, &["from", "to"]);
    let mut time = |key: &str, latest: &str| {
        let latest_seconds = clock(latest).unwrap_or_default();
        let value = problems.required(object, path, key)?;
        let seconds = value
            .as_str()
            .and_then(clock)
            .filter(|s| *s <= latest_seconds);
        if seconds.is_none() {
            problems.add(
                &field(path, key),
                format!("must be a time of day \"HH:MM\" from 00:00 to {latest}"),
            );
        }
        seconds
    };
    let from = time("from", "23:59");
    // "24:00" ends a window at midnight.
    let to = time("to", "24:00");
    let (from, to) = (from?, to?);
    if from == to || (from == 0 && to == 24 * 3600) {
        problems.add(
            &field(path, "to"),
            "must differ from from; leave hours out to be open all day",
        );
        return None;
    }
    Some(Hours { from, to })
}

/// Seconds since midnight of `"HH:MM"`.
fn clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60).then_some((h * 60 + m) * 60)
}
