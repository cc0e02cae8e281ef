//! `tailor serve`: the decision service over HTTP (hyper 1 on tokio).
//!
//! Routes: `POST /v1/decide`, `GET /healthz`, `GET /readyz`, `GET /metrics`. Decisions run in
//! fresh policy instances; the number in flight is bounded by the instance pool, and beyond it
//! the service answers 503 with `Retry-After` rather than queueing without end.

mod admin;
mod auth;
pub(crate) mod decide;
mod errors;
pub(crate) mod events;
pub(crate) mod policies;
mod segment;
mod watch;

pub use errors::{ApiError, ApiErrorKind};

use crate::config::ServeConfig;
use crate::engine::{Engine, EngineConfig, EngineError, Limits};
use crate::lifecycle::signing::{KeyError, TrustedKeys};
use crate::lifecycle::{Lifecycle, LifecycleConfig, RestoreError};
use crate::metrics::{self, Metrics};
use crate::profiles::{self, Profiles, StoreError};
use crate::registry::Registry;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub(crate) type Response = hyper::Response<Full<Bytes>>;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Policies(#[from] RestoreError),
    #[error("config key `trusted_keys`: {0}")]
    TrustedKeys(#[from] KeyError),
    #[error(transparent)]
    Profiles(#[from] StoreError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct AppState {
    pub engine: Engine,
    pub registry: Arc<Registry>,
    pub lifecycle: Arc<Lifecycle>,
    pub profiles: Profiles,
    pub metrics: Arc<Metrics>,
    pub config: ServeConfig,
    /// The snapshot file the node loaded at start (what a reload re-reads by default).
    pub snapshot_path: PathBuf,
    permits: Semaphore,
    node_tag: u64,
    sequence: AtomicU64,
}

impl AppState {
    /// Builds the engine, restores the policies from the policy store (seeding the bundled
    /// examples into an empty one) and loads the profile snapshot (the sample one when none is
    /// configured).
    pub fn start(config: ServeConfig) -> Result<AppState, StartError> {
        let limits = Limits {
            deadline: config.deadline,
            max_memory_bytes: config.max_memory_bytes,
            ..Limits::default()
        };
        let engine = Engine::new(EngineConfig {
            max_concurrent_decisions: config.max_concurrent_decisions,
            default_limits: limits,
            max_memory_bytes_ceiling: config.max_memory_bytes.max(16 << 20),
            ..EngineConfig::default()
        })?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
            what: format!("creating data_dir {}", config.data_dir.display()),
            source,
        })?;
        let snapshot = match &config.snapshot {
            Some(path) => path.clone(),
            None => {
                let path = config
                    .data_dir
                    .join(format!("sample-{}.ndjson", config.sample_profiles));
                if !path.is_file() {
                    profiles::sample::write(&path, config.sample_profiles).map_err(|source| {
                        StartError::Io {
                            what: format!("writing the sample snapshot {}", path.display()),
                            source,
                        }
                    })?;
                }
                path
            }
        };
        let started = Instant::now();
        let profiles = Profiles::load(&config.data_dir, &snapshot, config.cache_profiles)?;
        let snapshot_path = snapshot;
        let generation = profiles.current();
        tracing::info!(
            snapshot = %generation.store.header.snapshot_version,
            profiles = generation.store.profiles,
            bytes = generation.store.file_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "profile snapshot loaded"
        );
        let metrics = Arc::new(Metrics::default());
        record_snapshot(&metrics, &generation.store);
        let registry = Arc::new(Registry::default());
        let lifecycle = Arc::new(Lifecycle::start(
            engine.clone(),
            registry.clone(),
            metrics.clone(),
            LifecycleConfig {
                store_dir: config.data_dir.join("policies"),
                trusted_keys: TrustedKeys::load(&config.trusted_keys)?,
                require_signatures: config.require_signatures,
                keep_versions: config.keep_versions,
                auto_rollback: config.auto_rollback,
                seed_bundled: config.seed_bundled,
            },
        )?);
        Ok(AppState {
            engine,
            registry,
            lifecycle,
            profiles,
            metrics,
            snapshot_path,
            permits: Semaphore::new(config.max_concurrent_decisions as usize),
            config,
            node_tag: (profiles::now_ms() as u64) << 16 ^ u64::from(std::process::id()),
            sequence: AtomicU64::new(0),
        })
    }

    /// Loads a snapshot file aside and swaps it in (blocking: call off the request threads),
    /// updating the snapshot metrics. On error the current snapshot keeps serving.
    pub fn reload_snapshot(
        &self,
        path: &std::path::Path,
    ) -> Result<Arc<profiles::Generation>, StoreError> {
        let generation = self.profiles.reload(path)?;
        record_snapshot(&self.metrics, &generation.store);
        tracing::info!(
            snapshot = %generation.store.header.snapshot_version,
            profiles = generation.store.profiles,
            path = %path.display(),
            "profile snapshot loaded"
        );
        Ok(generation)
    }

    /// A decision id unique on this node and across its restarts, and whether this decision
    /// goes to the decision log (every `1 / decision_log_rate`-th one).
    fn next_decision(&self) -> (String, bool) {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let rate = self.config.decision_log_rate;
        let logged = rate > 0.0 && seq.is_multiple_of(((1.0 / rate).round() as u64).max(1));
        (format!("{:x}-{:x}", self.node_tag, seq), logged)
    }
}

/// A bound, not yet running, server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Server {
    pub async fn bind(state: Arc<AppState>) -> Result<Server, StartError> {
        let addr = state.config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Io {
                what: format!("binding {addr}"),
                source,
            })?;
        Ok(Server { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits (up to 30 s) for the
    /// requests in flight to finish.
    ///
    /// Connections are accepted on a thread of their own and handed to the runtime's workers
    /// through its injection queue. Decisions run on the workers (a fresh instance costs
    /// microseconds, less than a hand-off to another pool); a worker busy with a policy at its
    /// deadline therefore delays the connections queued on it, but never the accepting of new
    /// ones or their dispatch to the other workers.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let snapshot_watch = self
            .state
            .config
            .snapshot_poll
            .map(|every| tokio::spawn(watch::watch_snapshot(self.state.clone(), every)));
        let lifecycle_tasks = [
            Some(tokio::spawn(crate::lifecycle::monitor(
                self.state.lifecycle.clone(),
            ))),
            self.state.config.policies_dir.clone().map(|dir| {
                tokio::spawn(crate::lifecycle::watch_dir::watch(
                    self.state.lifecycle.clone(),
                    dir,
                    self.state.config.policies_poll,
                ))
            }),
        ];
        let followers: Vec<_> = self
            .state
            .config
            .follow
            .iter()
            .map(|followed| {
                tokio::spawn(crate::distribution::follow(
                    self.state.lifecycle.clone(),
                    followed.clone(),
                    self.state.config.follow_poll,
                ))
            })
            .collect();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let acceptor = match self.listener.into_std() {
            Ok(listener) => Some(spawn_acceptor(
                listener,
                self.state.clone(),
                tokio::runtime::Handle::current(),
                stopped,
            )),
            Err(error) => {
                tracing::error!(%error, "cannot hand the listener to the accept thread");
                None
            }
        };
        shutdown.await;
        let _ = stop.send(());
        for task in snapshot_watch
            .into_iter()
            .chain(lifecycle_tasks.into_iter().flatten())
            .chain(followers)
        {
            task.abort();
        }
        let Some(acceptor) = acceptor else { return };
        let graceful = match tokio::task::spawn_blocking(move || acceptor.join()).await {
            Ok(Ok(graceful)) => graceful,
            _ => {
                tracing::error!("the accept thread failed; not waiting for requests in flight");
                return;
            }
        };
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all requests drained"),
            () = tokio::time::sleep(Duration::from_secs(30)) => tracing::warn!("shutdown timed out with requests in flight"),
        }
    }
}

/// Accepts connections until `stopped`, spawning each onto the serving runtime; returns the
/// graceful-shutdown tracker of every connection it started.
fn spawn_acceptor(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    serving: tokio::runtime::Handle,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<GracefulShutdown> {
    let run = move || {
        let graceful = GracefulShutdown::new();
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cannot start the accept loop");
                return graceful;
            }
        };
        runtime.block_on(async {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(%error, "cannot accept connections");
                    return;
                }
            };
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted.and_then(|(stream, _)| stream.into_std()) {
                        Ok(stream) => {
                            let watcher = graceful.watcher();
                            serving.spawn(serve_connection(state.clone(), stream, watcher));
                        }
                        Err(error) => {
                            // Out of file descriptors (too many connections) or a transient
                            // error: back off instead of spinning on it.
                            tracing::warn!(%error, "accept failed");
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    },
                    _ = &mut stopped => break,
                }
            }
        });
        graceful
    };
    match std::thread::Builder::new()
        .name("tailor-accept".into())
        .spawn(run)
    {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!(%error, "cannot start the accept thread");
            // A thread that returns at once, so shutdown has something to join.
            std::thread::spawn(GracefulShutdown::new)
        }
    }
}

async fn serve_connection(
    state: Arc<AppState>,
    stream: std::net::TcpStream,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let stream = match tokio::net::TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot serve an accepted connection");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// The snapshot gauges: profiles held and when the export was generated.
fn record_snapshot(metrics: &Metrics, store: &profiles::ProfileStore) {
    metrics.set(metrics::SNAPSHOT_PROFILES, &[], store.profiles as f64);
    metrics.set(
        metrics::SNAPSHOT_GENERATED,
        &[],
        store.header.generated_at_ms as f64 / 1000.0,
    );
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Parses a body, naming the offending field on error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        ApiError::new(
            ApiErrorKind::BadRequest,
            "invalid_body",
            field,
            e.inner().to_string(),
        )
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            ApiErrorKind::BadRequest,
            "invalid_body",
            None,
            e.to_string(),
        )
    })?;
    Ok(value)
}

/// How long a client may take to send a request body (as hyper allows for the headers): a
/// slow sender is cut off instead of holding a connection without end.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let collected = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(request.into_body(), limit).collect(),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ApiErrorKind::RequestTimeout,
            "body_timeout",
            None,
            format!(
                "the request body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
            ),
        )
    })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error)
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                ApiErrorKind::TooLarge,
                "body_too_large",
                None,
                format!("request body is over the {limit}-byte limit"),
            ))
        }
        Err(error) => Err(ApiError::new(
            ApiErrorKind::BadRequest,
            "body_unreadable",
            None,
            error.to_string(),
        )),
    }
}

async fn handle(state: Arc<AppState>, request: Request<Incoming>) -> Response {
    let route = match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/decide") => "/v1/decide",
        (&Method::POST, "/v1/events") => "/v1/events",
        (&Method::GET, "/v1/segment-decide") => "/v1/segment-decide",
        (&Method::GET, "/healthz") => "/healthz",
        (&Method::GET, "/readyz") => "/readyz",
        (&Method::GET, "/metrics") => "/metrics",
        (&Method::GET, "/admin/v1/policies") => "/admin/v1/policies",
        (&Method::GET, "/admin/v1/snapshot") => "/admin/v1/snapshot",
        (&Method::POST, "/admin/v1/snapshot") => "/admin/v1/snapshot:reload",
        (method, path) if path.starts_with("/admin/v1/policies/") => {
            match (method, policies::PolicyRoute::parse(path)) {
                (&Method::GET, Some(policies::PolicyRoute::Policy(_))) => {
                    "/admin/v1/policies/{name}"
                }
                (&Method::PUT, Some(policies::PolicyRoute::Policy(_))) => {
                    "/admin/v1/policies/{name}:publish"
                }
                (&Method::POST, Some(policies::PolicyRoute::Rollback(_))) => {
                    "/admin/v1/policies/{name}/rollback"
                }
                (&Method::POST, Some(policies::PolicyRoute::Promote(_))) => {
                    "/admin/v1/policies/{name}/promote"
                }
                (&Method::POST, Some(policies::PolicyRoute::Abort(_))) => {
                    "/admin/v1/policies/{name}/abort"
                }
                (_, Some(_)) => "method_not_allowed",
                (_, None) => "not_found",
            }
        }
        (
            _,
            "/v1/decide" | "/v1/events" | "/v1/segment-decide" | "/healthz" | "/readyz"
            | "/metrics" | "/admin/v1/policies" | "/admin/v1/snapshot",
        ) => "method_not_allowed",
        _ => "not_found",
    };
    let auth = if route.starts_with("/admin/") {
        auth::check(request.headers(), state.config.admin_token.as_deref())
    } else if route.starts_with("/v1/") && state.config.api_token.is_some() {
        auth::check(request.headers(), state.config.api_token.as_deref())
    } else {
        Ok(())
    };
    let response = match auth {
        Err(error) => {
            state
                .metrics
                .inc(metrics::AUTH_FAILURES, &[("route", route)]);
            error.into_response()
        }
        Ok(()) => route_request(&state, route, request).await,
    };
    state.metrics.inc(
        metrics::HTTP_REQUESTS,
        &[("route", route), ("status", response.status().as_str())],
    );
    response
}

async fn route_request(state: &Arc<AppState>, route: &str, request: Request<Incoming>) -> Response {
    match route {
        "/v1/decide" => decide_route(state, request)
            .await
            .unwrap_or_else(ApiError::into_response),
        "/v1/events" => {
            let ingested = match read_body(request, state.config.max_body_bytes).await {
                Ok(body) => events::ingest(state.clone(), &body).await,
                Err(error) => Err(error),
            };
            match ingested {
                Ok(receipt) => json(StatusCode::ACCEPTED, receipt.to_string()),
                Err(error) => error.into_response(),
            }
        }
        "/v1/segment-decide" => {
            segment_route(state, &request).unwrap_or_else(ApiError::into_response)
        }
        "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#.into()),
        "/readyz" => {
            let generation = state.profiles.current();
            let body = serde_json::json!({
                "status": "ready",
                "policies": state.registry.list().len(),
                "snapshot_version": generation.store.header.snapshot_version,
                "profiles": generation.store.profiles,
            });
            json(StatusCode::OK, body.to_string())
        }
        "/metrics" => {
            let mut response = hyper::Response::new(Full::new(Bytes::from(state.metrics.render())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        "/admin/v1/policies" => json(StatusCode::OK, policies::list(state).to_string()),
        "/admin/v1/policies/{name}:publish" => {
            let path = request.uri().path().to_owned();
            let Some(policies::PolicyRoute::Policy(name)) = policies::PolicyRoute::parse(&path)
            else {
                return ApiError::new(ApiErrorKind::NotFound, "not_found", None, "no such route")
                    .into_response();
            };
            let published = match read_body(request, policies::MAX_PUBLISH_BYTES).await {
                Ok(body) => policies::publish(state, name, &body).await,
                Err(error) => Err(error),
            };
            match published {
                Ok(outcome) => json(StatusCode::OK, outcome.to_string()),
                Err(error) => error.into_response(),
            }
        }
        "/admin/v1/policies/{name}"
        | "/admin/v1/policies/{name}/rollback"
        | "/admin/v1/policies/{name}/promote"
        | "/admin/v1/policies/{name}/abort" => {
            match policies::PolicyRoute::parse(request.uri().path()) {
                Some(route) => match policies::act(state, route).await {
                    Ok(value) => json(StatusCode::OK, value.to_string()),
                    Err(error) => error.into_response(),
                },
                None => ApiError::new(ApiErrorKind::NotFound, "not_found", None, "no such route")
                    .into_response(),
            }
        }
        "/admin/v1/snapshot" => json(StatusCode::OK, admin::snapshot_status(state).to_string()),
        "/admin/v1/snapshot:reload" => {
            let reloaded = match read_body(request, state.config.max_body_bytes).await {
                Ok(body) => admin::reload(state.clone(), &body).await,
                Err(error) => Err(error),
            };
            match reloaded {
                Ok(status) => json(StatusCode::OK, status.to_string()),
                Err(error) => error.into_response(),
            }
        }
        "method_not_allowed" => ApiError::new(
            ApiErrorKind::MethodNotAllowed,
            "method_not_allowed",
            None,
            "method not allowed on this route",
        )
        .into_response(),
        _ => ApiError::new(ApiErrorKind::NotFound, "not_found", None, "no such route")
            .into_response(),
    }
}

async fn decide_route(state: &AppState, request: Request<Incoming>) -> Result<Response, ApiError> {
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            ApiErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            None,
            "send the request as application/json",
        ));
    }
    // The body first: a decision slot is held only while a decision runs, never while a
    // (possibly slow) client is still sending.
    let body = read_body(request, state.config.max_body_bytes).await?;
    let _permit = admit(state)?;
    let started = Instant::now();
    let response = decide::decide(state, &body)?;
    let elapsed = started.elapsed();
    let body = serde_json::to_string(&response)
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, "encode", None, e.to_string()))?;
    let mut response = json(StatusCode::OK, body);
    let headers = response.headers_mut();
    // Decisions are personal: never stored by a shared cache.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(timing) =
        HeaderValue::from_str(&format!("decide;dur={:.3}", elapsed.as_secs_f64() * 1000.0))
    {
        headers.insert("server-timing", timing);
    }
    Ok(response)
}

/// A segment decision, with the shared-cache headers its TTL allows.
fn segment_route(state: &AppState, request: &Request<Incoming>) -> Result<Response, ApiError> {
    let _permit = admit(state)?;
    let (decision, max_age) = segment::decide(state, request.uri().query().unwrap_or_default())?;
    let body = serde_json::to_string(&decision)
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, "encode", None, e.to_string()))?;
    let mut response = json(StatusCode::OK, body);
    // Not personal by construction (see `segment`): a shared cache may keep it for its TTL.
    // A fallback is never cached.
    if let Some(max_age) = max_age
        && let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}"))
    {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    Ok(response)
}

/// A decision slot from the pool, or 503 (with `Retry-After`) when every one is busy.
fn admit(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    state.permits.try_acquire().map_err(|_| {
        state.metrics.inc(metrics::LOAD_SHED, &[]);
        ApiError::new(
            ApiErrorKind::Overloaded,
            "overloaded",
            None,
            "every decision slot is busy; retry shortly",
        )
    })
}
