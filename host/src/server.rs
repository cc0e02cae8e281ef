//! `tailor serve`: the decision service over HTTP (hyper 1 on tokio).
//!
//! | Route | Token | What |
//! |---|---|---|
//! | `POST /v1/decide` | API, if set | every slot of a page decided in one call (`decide`) |
//! | `GET /v1/segment-decide` | API, if set | one slot for a segment, CDN-cacheable (`segment`) |
//! | `POST /v1/events` | API, if set | customer events, acknowledged once durable (`events`) |
//! | `POST /ofrep/v1/evaluate/flags/{key}`, `/flags` | API, if set | OpenFeature (OFREP) (`ofrep`) |
//! | `GET /healthz`, `GET /readyz` | none | probes; `/readyz` is 503 while draining (`probes`) |
//! | `GET /metrics` | none | Prometheus text (`probes`) |
//! | `GET /openapi.json` | none | the OpenAPI 3.1 document of these routes (`openapi`) |
//! | `GET /admin/v1/policies` | admin | the policies served (`policies`) |
//! | `GET`, `PUT /admin/v1/policies/{name}` | admin | one policy's versions; publish one |
//! | `POST /admin/v1/policies/{name}/rollback`, `/promote`, `/abort` | admin | rollback, canaries |
//! | `GET`, `POST /admin/v1/snapshot` | admin | the snapshot's status; reload it (`admin`) |
//! | `GET /admin/v1/status` | admin | snapshot, policies, draining, fleet link (`admin`) |
//! | `GET /admin/v1/experiments`, `/{key}` | admin | experiment results (`experiments`) |
//! | `GET /admin/v1/exposures` | admin | the exposure log as NDJSON (`experiments`) |
//!
//! A wrong method on a known path is 405 with `Allow`; an unknown path is 404. Decisions run in
//! fresh policy instances; the number in flight is bounded by the instance pool, and beyond it
//! the service answers 503 with `Retry-After` rather than queueing without end.
//!
//! Beside this file: `route` parses a request into its typed route (dispatch and metric label),
//! `auth` checks bearer tokens, `body` reads and parses request bodies, `openapi` serves the
//! document of these routes (`docs/openapi.json`, checked against them), `errors` is the one
//! place an error becomes a status, `state` holds [`AppState`] and its start-up, `listener`
//! the [`Server`] (accepting, connections, draining at shutdown), `drain` the draining flag and
//! requests in flight, `tasks` and `watch` the background work.

mod admin;
mod auth;
mod body;
mod console;
mod customers;
pub(crate) mod decide;
mod decision_log;
mod dispatch;
mod drain;
mod errors;
pub(crate) mod events;
mod experiments;
mod listener;
mod ofrep;
mod openapi;
pub(crate) mod policies;
mod preview;
mod probes;
mod route;
mod segment;
mod session;
mod state;
mod tasks;
mod watch;

pub use errors::{ApiError, ApiErrorKind};
pub use listener::Server;
pub use state::{AppState, StartError};

pub(crate) use body::{parse_json, parse_query};

use auth::{Caller, Role};
use body::read_body;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, StatusCode};
use policies::PolicyRoute;
use route::{Access, Route};
use std::sync::Arc;

/// A response body: whole (most routes), or streamed (the exposure stream).
pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;
pub(crate) type Response = hyper::Response<Body>;

/// A body that is all there already.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Every request: its route parsed once, the token it needs checked, dispatched, and counted
/// under the route's template.
async fn handle(state: Arc<AppState>, request: Request<Incoming>) -> Response {
    let _in_flight = state.drain.track();
    let (parts, body) = request.into_parts();
    let route = Route::parse(&parts.method, parts.uri.path());
    let mut response = match authorize(&state, route, &parts) {
        Err(error) => {
            state.metrics.auth_failure(route.label());
            error.into_response()
        }
        Ok(caller) => dispatch(&state, route, &parts, body, caller).await,
    };
    state
        .metrics
        .http_request(route.label(), response.status().as_u16());
    if state.drain.is_draining() {
        // A client on a kept-alive connection reconnects, and its load balancer can send it
        // to a node that is not shutting down.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The caller a route requires (none for open routes and, without an API token, `/v1`).
fn authorize(
    state: &AppState,
    route: Route<'_>,
    parts: &Parts,
) -> Result<Option<Caller>, ApiError> {
    let config = &state.config;
    let (admin, editor) = (
        config.admin_token.as_deref(),
        config.editor_token.as_deref(),
    );
    match route.access() {
        Access::Open => Ok(None),
        Access::Api if config.api_token.is_none() => Ok(None),
        Access::Api => auth::check(&parts.headers, config.api_token.as_deref())
            .map(|()| None)
            .map_err(|error| match route {
                // OFREP tells a wrong token (403) from none (401).
                Route::OfrepFlag(_) | Route::OfrepFlags => ofrep::refused(&parts.headers, error),
                _ => error,
            }),
        Access::Editor => auth::caller(parts, admin, editor, &state.sessions).map(Some),
        Access::Admin => {
            let caller = auth::caller(parts, admin, editor, &state.sessions)?;
            match caller.role {
                Role::Admin => Ok(Some(caller)),
                Role::Editor => Err(auth::admin_only("authorization", route.label())),
            }
        }
    }
}

async fn dispatch(
    state: &Arc<AppState>,
    route: Route<'_>,
    parts: &Parts,
    body: Incoming,
    caller: Option<Caller>,
) -> Response {
    // Routes past `authorize` with editor or admin access always have a caller.
    let role = caller.as_ref().map_or(Role::Editor, |c| c.role);
    let max_body = state.config.max_body_bytes;
    match route {
        Route::Decide => decide::serve(state, &parts.headers, body)
            .await
            .unwrap_or_else(ApiError::into_response),
        Route::SegmentDecide => segment::serve(state, parts.uri.query())
            .await
            .unwrap_or_else(ApiError::into_response),
        Route::Events => {
            reply(StatusCode::ACCEPTED, async {
                events::ingest(state.clone(), &read_body(body, max_body).await?).await
            })
            .await
        }
        Route::OfrepFlag(key) => ofrep::evaluate_flag(state, key, body).await,
        Route::OfrepFlags => ofrep::evaluate_flags(state, &parts.headers, body).await,
        Route::Health => probes::health(),
        Route::Ready => probes::ready(state),
        Route::Metrics => probes::metrics(state),
        Route::OpenApi => openapi::serve(),
        Route::ListPolicies => json(StatusCode::OK, policies::list(state).to_string()),
        Route::DescribePolicy(name) => {
            reply(
                StatusCode::OK,
                policies::act(state, PolicyRoute::Policy(name), caller.as_ref(), b""),
            )
            .await
        }
        Route::PublishPolicy(name) => {
            reply(StatusCode::OK, async {
                let body = read_body(body, policies::MAX_PUBLISH_BYTES).await?;
                match &caller {
                    Some(caller) => policies::publish(state, name, &body, caller).await,
                    None => Err(auth::admin_only("authorization", "publishing")),
                }
            })
            .await
        }
        Route::PolicySchema(name) => policies::schema(state, name)
            .await
            .unwrap_or_else(ApiError::into_response),
        Route::ValidateConfig(name) => {
            reply(StatusCode::OK, async {
                policies::validate(state, name, &read_body(body, max_body).await?).await
            })
            .await
        }
        Route::Preview(name) => {
            reply(StatusCode::OK, async {
                let body = read_body(body, policies::MAX_PUBLISH_BYTES).await?;
                preview::run(state, name, &body, role).await
            })
            .await
        }
        Route::Console => console::page(),
        Route::ConsoleAsset(file) => console::asset(file),
        Route::SignIn => match read_body(body, max_body).await {
            Ok(body) => console::sign_in(state, &parts.headers, &body).await,
            Err(error) => error.into_response(),
        },
        Route::Session => match &caller {
            Some(caller) => console::current(caller),
            None => ApiError::new(
                ApiErrorKind::Unauthorized,
                "unauthorized",
                None,
                "no session",
            )
            .into_response(),
        },
        Route::SignOut => match &caller {
            Some(caller) => console::sign_out(state, caller),
            None => ApiError::new(
                ApiErrorKind::Unauthorized,
                "unauthorized",
                None,
                "no session",
            )
            .into_response(),
        },
        Route::RollBack(name) => {
            reply(StatusCode::OK, async {
                let body = read_body(body, max_body).await?;
                policies::act(state, PolicyRoute::Rollback(name), caller.as_ref(), &body).await
            })
            .await
        }
        Route::Promote(name) => {
            reply(StatusCode::OK, async {
                let body = read_body(body, max_body).await?;
                policies::act(state, PolicyRoute::Promote(name), caller.as_ref(), &body).await
            })
            .await
        }
        Route::AbortCanary(name) => {
            reply(StatusCode::OK, async {
                let body = read_body(body, max_body).await?;
                policies::act(state, PolicyRoute::Abort(name), caller.as_ref(), &body).await
            })
            .await
        }
        Route::SnapshotStatus => json(StatusCode::OK, admin::snapshot_status(state).to_string()),
        Route::Status => json(StatusCode::OK, admin::node_status(state).to_string()),
        Route::ListExperiments => reply(StatusCode::OK, experiments::list(state)).await,
        Route::DescribeExperiment(key) => {
            reply(
                StatusCode::OK,
                experiments::describe(state, key, parts.uri.query()),
            )
            .await
        }
        Route::EraseCustomer(id) => match &caller {
            Some(caller) => reply(StatusCode::OK, customers::erase(state, id, caller)).await,
            None => auth::admin_only("authorization", "erasing a customer").into_response(),
        },
        Route::Erasures => reply(StatusCode::OK, customers::audit(state, parts.uri.query())).await,
        Route::Exposures => experiments::exposures(state, parts.uri.query())
            .await
            .unwrap_or_else(ApiError::into_response),
        Route::ReloadSnapshot => {
            reply(StatusCode::OK, async {
                admin::reload(state.clone(), &read_body(body, max_body).await?).await
            })
            .await
        }
        Route::MethodNotAllowed { allow } => {
            let mut response = ApiError::new(
                ApiErrorKind::MethodNotAllowed,
                "method_not_allowed",
                None,
                "method not allowed on this route",
            )
            .into_response();
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            response
        }
        Route::NotFound => {
            ApiError::new(ApiErrorKind::NotFound, "not_found", None, "no such route")
                .into_response()
        }
    }
}

/// Runs `work` on the blocking pool, off the request threads (instances, compilation, the
/// profile store, waiting for the outcome thread); `code` names a panic's 500.
async fn blocking<T: Send + 'static>(
    code: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, code, None, e.to_string()))
}

/// A JSON document with `status`, or the error's response.
async fn reply(
    status: StatusCode,
    result: impl Future<Output = Result<serde_json::Value, ApiError>>,
) -> Response {
    match result.await {
        Ok(value) => json(status, value.to_string()),
        Err(error) => error.into_response(),
    }
}

/// A JSON response that no cache stores.
fn json(status: StatusCode, body: String) -> Response {
    let mut response = hyper::Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
