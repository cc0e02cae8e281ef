//! Civil-calendar arithmetic (proleptic Gregorian, days since 1970-01-01) and RFC 3339 times.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil year of a day since 1970-01-01 (the inverse of [`days_from_civil`], year only).
pub(crate) fn year_of(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    year_of_era + era * 400 + i64::from(month_from_march >= 10)
}

/// 0 for Sunday … 6 for Saturday (1970-01-01 was a Thursday).
pub(crate) fn weekday_from_sunday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

pub(crate) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 time with an offset:
/// `2026-12-01T00:00:00Z`, `2026-12-01T09:00:00.250+01:00`.
pub(crate) fn instant(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)? as u32, number(8, 2)? as u32);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let kept = digits.min(3);
        millis = number(i + 1, kept)? * 10_i64.pow(3 - kept as u32);
        i += 1 + digits;
    }
    let offset = match b.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(i + 1, 2)?, number(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            (h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some((seconds - offset) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [-800_000, -1, 0, 59, 10_957, 20_000, 2_000_000] {
            let year = year_of(days);
            assert!(days_from_civil(year, 1, 1) <= days && days < days_from_civil(year + 1, 1, 1));
        }
        assert_eq!(weekday_from_sunday(days_from_civil(2026, 3, 29)), 0);
        assert_eq!(
            (
                days_in_month(2024, 2),
                days_in_month(2100, 2),
                days_in_month(2000, 2)
            ),
            (29, 28, 29)
        );
    }

    #[test]
    fn instants_need_an_offset() {
        assert_eq!(instant("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(instant("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(instant("1969-12-31T19:00:00-05:00"), Some(0));
        assert_eq!(instant("1970-01-01T00:00:00.25Z"), Some(250));
        assert_eq!(instant("1970-01-01t00:00:00.123456z"), Some(123));
        assert_eq!(instant("2026-12-01T00:00:00Z"), Some(1_796_083_200_000));
        for bad in [
            "1970-01-01",
            "1970-01-01T00:00:00",
            "yesterday",
            "1970-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1970-01-01T24:00:00Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00+0100",
            "1970-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(instant(bad), None, "{bad}");
        }
    }
}
