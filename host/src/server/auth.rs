//! Bearer-token checks, compared in constant time, and the roles of the admin API: the admin
//! token, the editor token, or a console session that one of them started.

use super::errors::{ApiError, ApiErrorKind};
use super::session::{self, Session, Sessions};
use crate::digest::sha256_bytes;
use hyper::header::{AUTHORIZATION, COOKIE as COOKIE_HEADER};
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method};

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

/// Who a request to the admin API or the console comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    /// Changes policies' configs, previews them, runs canaries and rollbacks; reads the node.
    Editor,
    /// Everything, components and snapshots included.
    Admin,
}

/// An admin API caller: a role, and the console session it came with, if any.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub role: Role,
    /// The session's id and state, for a request authenticated by the session cookie.
    pub session: Option<(String, Session)>,
}

impl Caller {
    /// Who, as a policy's history names them.
    pub fn describe(&self) -> &'static str {
        match (self.role, self.session.is_some()) {
            (Role::Admin, false) => "admin token",
            (Role::Editor, false) => "editor token",
            (Role::Admin, true) => "console (admin)",
            (Role::Editor, true) => "console (editor)",
        }
    }
}

/// The role a bearer token grants: the admin token, else the editor token (both compared in
/// full, so timing tells neither which one matched nor how much of one).
pub(super) fn role_of(token: &str, admin: Option<&str>, editor: Option<&str>) -> Option<Role> {
    let is = |expected: Option<&str>| {
        expected.is_some_and(|e| constant_time_eq(token.as_bytes(), e.as_bytes()))
    };
    let (admin, editor) = (is(admin), is(editor));
    if admin {
        Some(Role::Admin)
    } else if editor {
        Some(Role::Editor)
    } else {
        None
    }
}

/// Authenticates an admin API or console request: `Authorization: Bearer` with the admin or
/// editor token, or the console's session cookie (a change made with it — any method but GET
/// and HEAD — must carry the session's CSRF token).
pub(super) fn caller(
    parts: &Parts,
    admin: Option<&str>,
    editor: Option<&str>,
    sessions: &Sessions,
) -> Result<Caller, ApiError> {
    let unauthorized = |field: &str, message: &str| {
        Err(ApiError::new(
            ApiErrorKind::Unauthorized,
            "unauthorized",
            Some(field.into()),
            message,
        ))
    };
    if admin.is_none() && editor.is_none() {
        return unauthorized("authorization", "this API has no token configured");
    }
    let headers = &parts.headers;
    if let Some(given) = headers.get(AUTHORIZATION) {
        let Some(token) = given.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return unauthorized(
                "authorization",
                "the authorization header must be `Bearer <token>`",
            );
        };
        return match role_of(token, admin, editor) {
            Some(role) => Ok(Caller {
                role,
                session: None,
            }),
            None => unauthorized("authorization", "the bearer token is not valid"),
        };
    }
    let id = headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| session::cookie(v, session::COOKIE));
    let Some(id) = id else {
        return unauthorized(
            "authorization",
            "a bearer token or a console session is required",
        );
    };
    let Some(found) = sessions.get(id, crate::clock::now_ms()) else {
        return unauthorized("cookie", "the console session has ended; sign in again");
    };
    let safe = parts.method == Method::GET || parts.method == Method::HEAD;
    let csrf = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    if !safe && !csrf.is_some_and(|c| constant_time_eq(c.as_bytes(), found.csrf.as_bytes())) {
        return Err(ApiError::new(
            ApiErrorKind::Forbidden,
            "csrf",
            Some(session::CSRF_HEADER.into()),
            "a change made with a console session must carry its CSRF token in X-Tailor-Csrf",
        ));
    }
    Ok(Caller {
        role: found.role,
        session: Some((id.to_owned(), found)),
    })
}

/// The refusal an editor gets for what only the admin token may do.
pub(super) fn admin_only(field: &str, what: &str) -> ApiError {
    ApiError::new(
        ApiErrorKind::Forbidden,
        "forbidden",
        Some(field.into()),
        format!(
            "{what} needs the admin token; an editor may change configs, preview, run canaries and roll back"
        ),
    )
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
