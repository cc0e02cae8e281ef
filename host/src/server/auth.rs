//! Bearer-token checks, compared in constant time.

use super::errors::{ApiError, ApiErrorKind};
use crate::digest::sha256_bytes;
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;

/// Equal inputs give equal digests; comparing fixed-size digests without early exit reveals
/// neither the token's content nor its length through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (sha256_bytes(a), sha256_bytes(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Checks `Authorization: Bearer <token>` against the expected token. `None` as expected
/// token refuses everyone (an unconfigured admin API is closed, not open).
pub(super) fn check(headers: &HeaderMap, expected: Option<&str>) -> Result<(), ApiError> {
    let unauthorized = |message: &str| {
        Err(ApiError::new(
            ApiErrorKind::Unauthorized,
            "unauthorized",
            Some("authorization".into()),
            message,
        ))
    };
    let Some(expected) = expected else {
        return unauthorized("this API has no token configured");
    };
    let Some(given) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return unauthorized("a bearer token is required");
    };
    let Some(token) = given.strip_prefix("Bearer ") else {
        return unauthorized("the authorization header must be `Bearer <token>`");
    };
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        unauthorized("the bearer token is not valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let token = "s3cret-token-0123456789";
        assert!(check(&headers(&format!("Bearer {token}")), Some(token)).is_ok());
        assert!(check(&headers(&format!("Bearer {token}x")), Some(token)).is_err());
        assert!(check(&headers(token), Some(token)).is_err());
        assert!(check(&HeaderMap::new(), Some(token)).is_err());
        assert!(check(&headers(&format!("Bearer {token}")), None).is_err());
    }
}
