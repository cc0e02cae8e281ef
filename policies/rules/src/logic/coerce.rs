//! JavaScript's conversions, as JSON Logic inherits them: truthiness, numbers, strings, loose
//! and strict equality, and ordering.

use serde_json::Value;
use std::cmp::Ordering;

/// JSON Logic truthiness: `0`, `""`, `null`, `false` and `[]` are false; everything else true.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// A number as a JSON value: an integer when it is one, null for `NaN` and the infinities.
pub(crate) fn number(n: f64) -> Value {
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() < SAFE {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// JavaScript's `Number(value)`.
pub(crate) fn to_number(value: &Value) -> f64 {
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                0.0
            } else {
                s.parse().ok().filter(|_| is_decimal(s)).unwrap_or(f64::NAN)
            }
        }
        Value::Array(_) => to_number(&Value::String(to_text(value))),
        Value::Object(_) => f64::NAN,
    }
}

/// JavaScript's `parseFloat(value)`: the longest number at the start of the text.
pub(crate) fn parse_float(value: &Value) -> f64 {
    if let Value::Number(n) = value {
        return n.as_f64().unwrap_or(f64::NAN);
    }
    let text = to_text(value);
    let text = text.trim_start().as_bytes();
    let digits = |from: usize| {
        from + text[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let sign = usize::from(matches!(text.first(), Some(b'+' | b'-')));
    let whole = digits(sign);
    let mut end = whole;
    if text.get(end) == Some(&b'.') {
        end = digits(end + 1);
    }
    let mantissa_digits = (whole - sign) + (end - whole).saturating_sub(1);
    if mantissa_digits == 0 {
        return f64::NAN;
    }
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let exponent_sign = usize::from(matches!(text.get(end + 1), Some(b'+' | b'-')));
        let exponent = digits(end + 1 + exponent_sign);
        if exponent > end + 1 + exponent_sign {
            end = exponent;
        }
    }
    std::str::from_utf8(&text[..end])
        .ok()
        .and_then(|prefix| prefix.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Decimal notation only: Rust also parses `inf` and `nan`, JavaScript does not.
fn is_decimal(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit())
}

/// JavaScript's `String(value)`.
pub(crate) fn to_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                if item.is_null() {
                    String::new()
                } else {
                    to_text(item)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// JavaScript's `==`.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    use Value::{Array, Bool, Null, Number, Object, String};
    match (a, b) {
        (Null, Null) => true,
        (Null, _) | (_, Null) => false,
        (Bool(_), _) => loose_eq(&number(to_number(a)), b),
        (_, Bool(_)) => loose_eq(a, &number(to_number(b))),
        (Array(_) | Object(_), Array(_) | Object(_)) => false,
        (Array(_) | Object(_), _) => loose_eq(&String(to_text(a)), b),
        (_, Array(_) | Object(_)) => loose_eq(a, &String(to_text(b))),
        (String(x), String(y)) => x == y,
        (Number(_), _) | (_, Number(_)) => to_number(a) == to_number(b),
    }
}

/// JavaScript's `===`.
pub(crate) fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(_) | Value::Object(_), _) => false,
        _ => a == b,
    }
}

/// JavaScript's ordering for `<` and friends: strings by code point when both are strings (or
/// arrays, which become strings), otherwise as numbers; `None` when a number is `NaN`.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    let primitive = |v: &Value| match v {
        Value::Array(_) | Value::Object(_) => Value::String(to_text(v)),
        other => other.clone(),
    };
    match (primitive(a), primitive(b)) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(&y)),
        (x, y) => to_number(&x).partial_cmp(&to_number(&y)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_is_json_logic_s() {
        for falsy in [
            json!(0),
            json!(""),
            json!(null),
            json!(false),
            json!([]),
            json!(0.0),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for truthy_value in [
            json!(1),
            json!("0"),
            json!(" "),
            json!(true),
            json!([0]),
            json!({}),
        ] {
            assert!(truthy(&truthy_value), "{truthy_value}");
        }
    }

    #[test]
    fn conversions_match_javascript() {
        assert_eq!(to_number(&json!("  12 ")), 12.0);
        assert_eq!(to_number(&json!("")), 0.0);
        assert!(to_number(&json!("12px")).is_nan());
        assert!(to_number(&json!("inf")).is_nan());
        assert_eq!(to_number(&json!([5])), 5.0);
        assert_eq!(to_number(&json!(true)), 1.0);
        assert_eq!(parse_float(&json!("12px")), 12.0);
        assert_eq!(parse_float(&json!("3.5e2x")), 350.0);
        assert!(parse_float(&json!(null)).is_nan());
        assert_eq!(parse_float(&json!(" -.5e")), -0.5);
        assert_eq!(parse_float(&json!("12.")), 12.0);
        assert!(parse_float(&json!("-.e3")).is_nan());
        assert_eq!(to_text(&json!(1.0)), "1");
        assert_eq!(to_text(&json!(1.5)), "1.5");
        assert_eq!(to_text(&json!([1, null, "a"])), "1,,a");
        assert_eq!(number(2.0), json!(2));
        assert_eq!(number(f64::NAN), json!(null));
    }

    #[test]
    fn loose_equality_converts_like_javascript() {
        assert!(loose_eq(&json!(1), &json!("1")));
        assert!(loose_eq(&json!(0), &json!(false)));
        assert!(loose_eq(&json!("1"), &json!(true)));
        assert!(loose_eq(&json!([1]), &json!(1)));
        assert!(!loose_eq(&json!(null), &json!(0)));
        assert!(!loose_eq(&json!(null), &json!(false)));
        assert!(!loose_eq(&json!([1]), &json!([1])));
        assert!(!strict_eq(&json!(1), &json!("1")));
        assert!(strict_eq(&json!(1), &json!(1.0)));
    }

    #[test]
    fn ordering_is_by_string_or_number() {
        assert_eq!(compare(&json!("b"), &json!("a")), Some(Ordering::Greater));
        assert_eq!(compare(&json!("10"), &json!(9)), Some(Ordering::Greater));
        assert_eq!(compare(&json!("10"), &json!("9")), Some(Ordering::Less));
        assert_eq!(compare(&json!(null), &json!(0)), Some(Ordering::Equal));
        assert_eq!(compare(&json!("x"), &json!(1)), None);
    }
}
