//! `/console`: the marketer console, a page and its scripts embedded in the binary (files of
//! `host/console/`), and `/console/session`, where a token is traded for a session cookie.
//!
//! Every console response carries a strict Content-Security-Policy: scripts and styles only
//! from this node's `/console/assets/`, no inline script or style, no frames, requests only to
//! this origin.

use super::auth::{self, Caller, Role};
use super::errors::{ApiError, ApiErrorKind};
use super::session;
use super::{AppState, Response, full};
use hyper::StatusCode;
use hyper::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, HeaderValue, REFERRER_POLICY,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use serde::Deserialize;
use std::time::Duration;

/// What the console's page may load and where it may connect.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// How long a wrong sign-in waits before it is answered (a guessing script gets a few
/// attempts a second per connection, not thousands).
const REFUSAL_DELAY: Duration = Duration::from_millis(250);

/// The console's files (`host/console/`, listed by the build script): name, content type,
/// bytes.
const ASSETS: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// `GET /console`: the page.
pub(super) fn page() -> Response {
    asset("index.html")
}

/// `GET /console/assets/{file}`.
pub(super) fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => file(StatusCode::OK, content_type, bytes),
        None => ApiError::new(
            ApiErrorKind::NotFound,
            "not_found",
            None,
            format!("the console has no file {name:?}"),
        )
        .into_response(),
    }
}

fn file(status: StatusCode, content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = hyper::Response::new(full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change only with the binary; revalidating each load is cheap on loopback and
    // never serves a page of one version with scripts of another.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    harden(headers);
    response
}

/// The headers every console response carries.
pub(super) fn harden(headers: &mut HeaderMap) {
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    token: String,
}

/// `POST /console/session`: the admin or editor token, traded for a session cookie.
pub(super) async fn sign_in(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let request: SignIn = match super::parse_json(body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let config = &state.config;
    let Some(role) = auth::role_of(
        &request.token,
        config.admin_token.as_deref(),
        config.editor_token.as_deref(),
    ) else {
        tokio::time::sleep(REFUSAL_DELAY).await;
        tracing::warn!("console sign-in refused: the token is not valid");
        return ApiError::new(
            ApiErrorKind::Unauthorized,
            "unauthorized",
            Some("token".into()),
            "the token is not valid",
        )
        .into_response();
    };
    let (id, session) = match state.sessions.start(role, crate::clock::now_ms()) {
        Ok(started) => started,
        Err(error) => {
            return ApiError::new(
                ApiErrorKind::Internal,
                "session",
                None,
                format!("no session could be made: {error}"),
            )
            .into_response();
        }
    };
    tracing::info!(role = ?role, "console signed in");
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut response = session_response(StatusCode::OK, &session);
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&id, secure)) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// `GET /console/session`: who is signed in (with a bearer token: its role, no CSRF token).
pub(super) fn current(caller: &Caller) -> Response {
    match &caller.session {
        Some((_, session)) => session_response(StatusCode::OK, session),
        None => {
            let body =
                serde_json::json!({ "role": caller.role, "csrf": null, "expires_at_ms": null });
            json_response(StatusCode::OK, body.to_string())
        }
    }
}

/// `DELETE /console/session`: signs out.
pub(super) fn sign_out(state: &AppState, caller: &Caller) -> Response {
    if let Some((id, _)) = &caller.session {
        state.sessions.end(id);
    }
    let mut response = hyper::Response::new(full(""));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    harden(headers);
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie()) {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

fn session_response(status: StatusCode, session: &session::Session) -> Response {
    let body = serde_json::to_string(session).unwrap_or_default();
    json_response(status, body)
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = hyper::Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    harden(headers);
    response
}

/// What a role may not do: an editor sends no component.
pub(super) fn refuse_component(role: Role, has_component: bool) -> Result<(), ApiError> {
    if role == Role::Editor && has_component {
        Err(auth::admin_only("component", "uploading a component"))
    } else {
        Ok(())
    }
}
