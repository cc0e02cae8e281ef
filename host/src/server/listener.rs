//! [`Server`]: the listening socket, the accept thread, HTTP/1 connections, and shutdown.
//!
//! Shutdown drains in two steps within `DRAIN_TIMEOUT`: first the node reports itself not ready
//! (`/readyz` 503) and keeps accepting and serving until no request is in flight (at most
//! `ACCEPT_WHILE_DRAINING`), so requests a load balancer sends before it notices are still
//! answered; then it stops accepting, closes idle connections and waits for the responses
//! being written.

use super::state::{AppState, StartError};
use super::{handle, tasks};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The longest shutdown waits for the requests in flight, both steps together (Kubernetes'
/// default grace period).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a draining node keeps accepting, leaving the rest of `DRAIN_TIMEOUT` to the
/// requests in flight when it stops (a request body may take 10 s to arrive).
const ACCEPT_WHILE_DRAINING: Duration = Duration::from_secs(20);

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

    /// Serves until `shutdown` completes, then drains (see the module documentation) for at
    /// most 30 s.
    ///
    /// Connections are accepted on a thread of their own and handed to the runtime's workers
    /// through its injection queue. Decisions run on the workers (a fresh instance costs
    /// microseconds, less than a hand-off to another pool); a worker busy with a policy at its
    /// deadline therefore delays the connections queued on it, but never the accepting of new
    /// ones or their dispatch to the other workers.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let state = self.state;
        let tasks = tasks::spawn(&state);
        let (stop, stopped) = oneshot::channel::<()>();
        let acceptor = match self.listener.into_std() {
            Ok(listener) => Some(spawn_acceptor(
                listener,
                state.clone(),
                tokio::runtime::Handle::current(),
                stopped,
            )),
            Err(error) => {
                tracing::error!(%error, "cannot hand the listener to the accept thread");
                None
            }
        };
        shutdown.await;
        let began = tokio::time::Instant::now();
        let deadline = began + DRAIN_TIMEOUT;
        state.drain.begin();
        for task in tasks {
            task.abort();
        }
        tracing::info!(
            in_flight = state.drain.in_flight(),
            "draining: not ready, serving until no request is in flight"
        );
        if tokio::time::timeout_at(began + ACCEPT_WHILE_DRAINING, state.drain.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = state.drain.in_flight(),
                "still busy while draining; no longer accepting"
            );
        }
        let _ = stop.send(());
        finish(acceptor, deadline).await;
        // What the answered requests exposed and the accepted events earned is on disk before
        // the node stops.
        if let Some(outcomes) = state.outcomes.clone() {
            let _ = tokio::task::spawn_blocking(move || outcomes.stop()).await;
        }
    }
}

/// Stops accepting and waits (until `deadline`) for the responses being written.
async fn finish(
    acceptor: Option<std::thread::JoinHandle<GracefulShutdown>>,
    deadline: tokio::time::Instant,
) {
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
        () = tokio::time::sleep_until(deadline) => tracing::warn!("shutdown timed out with requests in flight"),
    }
}

/// Accepts connections until `stopped`, spawning each onto the serving runtime; returns the
/// graceful-shutdown tracker of every connection it started.
fn spawn_acceptor(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    serving: tokio::runtime::Handle,
    mut stopped: oneshot::Receiver<()>,
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

/// Serves one HTTP/1 connection (keep-alive, headers within 10 s) until it closes or a
/// graceful shutdown ends it.
async fn serve_connection(state: Arc<AppState>, stream: std::net::TcpStream, watcher: Watcher) {
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
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
