//! Serde support for integer fields that also take a JSON number without a fraction (`3.0`
//! as well as `3`): JSON does not tell them apart, nor does the JSON Schema of the HTTP API
//! (`docs/openapi.json`), and some encoders write every number with a point. A fraction, a
//! value outside the field's range, or a number with a point past 2^53 (where `f64` has lost
//! digits) is still refused.
//!
//! `#[serde(deserialize_with = "integer::deserialize")]` on an integer field,
//! `#[serde(default, deserialize_with = "integer::option")]` on an optional one.

use serde::de::{Deserializer, Error, Unexpected, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// An integer of type `T` from a JSON integer or an integral JSON number.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    deserializer.deserialize_any(Whole(PhantomData))
}

/// An optional integer: `null` or absent is `None`.
pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    Ok(Option::<Integer<T>>::deserialize(deserializer)?.map(|Integer(value)| value))
}

/// An integer read as [`deserialize`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Integer<T>(pub T);

impl<'de, T: TryFrom<i128>> Deserialize<'de> for Integer<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Integer)
    }
}

/// The largest integer every `f64` up to it represents exactly: 2^53.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<i128>> Whole<T> {
    fn fit<E: Error>(&self, value: i128, unexpected: Unexpected<'_>) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(unexpected, self))
    }
}

impl<T: TryFrom<i128>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "an integer that fits {}",
            std::any::type_name::<T>().rsplit("::").next().unwrap_or("")
        )
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<T, E> {
        self.fit(value.into(), Unexpected::Signed(value))
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<T, E> {
        self.fit(value.into(), Unexpected::Unsigned(value))
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<T, E> {
        // Past 2^53 a JSON number has lost digits on its way to `f64` (an integer literal out of
        // `i64` and `u64` range comes here too): refused rather than rounded.
        if value.fract() != 0.0 || value.abs() > MAX_EXACT {
            return Err(E::invalid_type(Unexpected::Float(value), &self));
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "an integral value within ±2^53 converts exactly"
        )]
        let whole = value as i128;
        self.fit(whole, Unexpected::Float(value))
    }
}

#[cfg(test)]
mod tests {
    use super::Integer;

    fn read<T: TryFrom<i128>>(json: &str) -> Result<T, String> {
        serde_json::from_str::<Integer<T>>(json)
            .map(|Integer(v)| v)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_integral_number_is_an_integer_and_a_fraction_is_refused() {
        assert_eq!(read::<i64>("3"), Ok(3));
        assert_eq!(read::<i64>("3.0"), Ok(3));
        assert_eq!(read::<i64>("-1764547200000.0"), Ok(-1_764_547_200_000));
        assert_eq!(read::<u32>("1e3"), Ok(1000));
        assert!(read::<i64>("3.5").is_err());
        assert!(read::<i64>("\"3\"").is_err());
        assert!(read::<i64>("1e300").is_err());
        // Parsed as a float by then, rounded to -2^63: refused, not read as i64::MIN.
        assert!(read::<i64>("-9223372036854775809").is_err());
        assert!(read::<i64>("9007199254740993.0").is_err());
    }

    #[test]
    fn a_value_outside_the_range_is_refused_naming_it() {
        let error = read::<u32>("-1").unwrap_err();
        assert!(error.contains("-1") && error.contains("u32"), "{error}");
        assert!(read::<u32>("4294967296").is_err());
        assert!(read::<i64>("9223372036854775808").is_err());
        assert_eq!(read::<i64>("9223372036854775807"), Ok(i64::MAX));
    }

    #[test]
    fn an_optional_integer_is_null_absent_or_integral() {
        #[derive(serde::Deserialize)]
        struct Ttl {
            #[serde(default, deserialize_with = "super::option")]
            ttl: Option<u32>,
        }
        let ttl = |json: &str| serde_json::from_str::<Ttl>(json).map(|t| t.ttl).ok();
        assert_eq!(ttl("{}"), Some(None));
        assert_eq!(ttl(r#"{"ttl": null}"#), Some(None));
        assert_eq!(ttl(r#"{"ttl": 60.0}"#), Some(Some(60)));
        assert_eq!(ttl(r#"{"ttl": 0.5}"#), None);
    }
}
