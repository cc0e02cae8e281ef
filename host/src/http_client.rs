//! A small async HTTP/1.1 client (plain `http` only) for CLI commands that talk to a node (`tailor
//! publish`); registries are reached through `oci-client` (`crate::distribution`).
//!
//! Every request runs under one timeout that covers connecting, sending and reading the whole
//! response body. Errors name the URL they were about, so a caller can report them as they are.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The per-request timeout of [`HttpClient::default`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const HTTPS_UNSUPPORTED: &str =
    "https is not supported; put a TLS-terminating proxy in front or use http on a private network";

/// Why a request failed; every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid request to {url}")]
    InvalidRequest {
        url: String,
        #[source]
        source: hyper::http::Error,
    },
    #[error("{url}: {reason}")]
    Unsupported { url: String, reason: &'static str },
    #[error("could not connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("request to {url} timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("could not read the response body from {url}")]
    Body {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the response from {url} is not the expected JSON")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A response with its body read in full.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The URL the request went to.
    pub url: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    /// Decodes the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|source| ClientError::Json {
            url: self.url.clone(),
            source,
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A pooled HTTP/1.1 client; cheap to clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new(DEFAULT_TIMEOUT)
    }
}

impl HttpClient {
    /// A client whose requests each fail after `timeout`. Must be used inside a tokio runtime.
    pub fn new(timeout: Duration) -> HttpClient {
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build_http();
        HttpClient { inner, timeout }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<HttpResponse> {
        self.request(Method::GET, url, &[], Bytes::new()).await
    }

    /// Sends `method url` with these headers and body.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<HttpResponse> {
        let uri: Uri =
            url.parse()
                .map_err(|e: hyper::http::uri::InvalidUri| ClientError::InvalidUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request =
            builder
                .body(Full::new(body.into()))
                .map_err(|source| ClientError::InvalidRequest {
                    url: url.to_owned(),
                    source,
                })?;
        self.send(request).await
    }

    /// Sends a request and reads the whole response, all within the timeout.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<HttpResponse> {
        let url = request.uri().to_string();
        check_uri(request.uri(), &url)?;
        match tokio::time::timeout(self.timeout, self.exchange(request, &url)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ClientError::Timeout {
                url,
                timeout: self.timeout,
            }),
        }
    }

    async fn exchange(&self, request: Request<Full<Bytes>>, url: &str) -> Result<HttpResponse> {
        let response = self.inner.request(request).await.map_err(|source| {
            let url = url.to_owned();
            if source.is_connect() {
                ClientError::Connect { url, source }
            } else {
                ClientError::Request { url, source }
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|source| ClientError::Body {
                url: url.to_owned(),
                source,
            })?
            .to_bytes();
        tracing::debug!(%url, status = %parts.status, bytes = body.len(), "http response");
        Ok(HttpResponse {
            url: url.to_owned(),
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Only absolute `http://host…` URLs go out; https gets a clear refusal.
fn check_uri(uri: &Uri, url: &str) -> Result<()> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(ClientError::Unsupported {
                url: url.to_owned(),
                reason: HTTPS_UNSUPPORTED,
            });
        }
        Some(other) => return Err(invalid(&format!("unsupported scheme {other:?}"))),
        None => return Err(invalid("expected an absolute http:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use serde_json::{Value, json};
    use tokio::net::TcpListener;

    /// Answers every request with JSON describing it; PUTs get 201.
    async fn echo(
        request: Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
        let method = request.method().clone();
        let path = request.uri().to_string();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (tailor, host) = (header("x-tailor"), header("host"));
        let body = request.into_body().collect().await?.to_bytes();
        let reply = json!({
            "method": method.as_str(), "path": path, "x-tailor": tailor, "host": host,
            "body": String::from_utf8_lossy(&body),
        });
        let status = if method == Method::PUT {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(hyper::Response::builder()
            .status(status)
            .header("x-echo", "yes")
            .body(Full::new(Bytes::from(reply.to_string())))
            .unwrap())
    }

    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection =
                    http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(echo));
                tokio::spawn(connection);
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn get_sends_headers_and_reads_the_response() {
        let base = echo_server().await;
        let url = format!("{base}/v1/thing?x=1");
        let response = HttpClient::default()
            .request(Method::GET, &url, &[("x-tailor", "hello")], Bytes::new())
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.headers["x-echo"], "yes");
        assert_eq!(response.url, url);
        let echoed: Value = response.json().unwrap();
        assert_eq!(echoed["method"], "GET");
        assert_eq!(echoed["path"], "/v1/thing?x=1");
        assert_eq!(echoed["x-tailor"], "hello");
        assert_eq!(echoed["host"], base.trim_start_matches("http://"));
        assert!(response.text().contains("\"body\":\"\""));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn put_sends_the_body() {
        let base = echo_server().await;
        let client = HttpClient::new(Duration::from_secs(5));
        let url = format!("{base}/admin/v1/policies/hero");
        let response = client
            .request(
                Method::PUT,
                &url,
                &[("content-type", "application/json")],
                "{\"a\":1}",
            )
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::CREATED);
        let echoed: Value = response.json().unwrap();
        assert_eq!(echoed["method"], "PUT");
        assert_eq!(echoed["body"], "{\"a\":1}");
        // The pooled connection is reused for a second request.
        let again = client.get(&url).await.unwrap();
        assert_eq!(again.status, StatusCode::OK);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream); // accept, never answer
            }
        });
        let client = HttpClient::new(Duration::from_millis(200));
        let error = client.get(&url).await.unwrap_err();
        assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!("request to {url} timed out after 200ms")
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn refused_connection_is_a_connect_error_naming_the_url() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let error = HttpClient::default().get(&url).await.unwrap_err();
        assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
        assert_eq!(error.to_string(), format!("could not connect to {url}"));
        assert!(std::error::Error::source(&error).is_some());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn https_and_bad_urls_are_refused_before_connecting() {
        let client = HttpClient::default();
        let error = client
            .get("https://registry.example/v2/")
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::Unsupported { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("https is not supported"));
        for bad in ["not a url", "/relative/path", "ftp://host/file"] {
            let error = client.get(bad).await.unwrap_err();
            assert!(
                matches!(error, ClientError::InvalidUrl { .. }),
                "{bad}: {error:?}"
            );
            assert!(error.to_string().contains(bad), "{error}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn json_errors_name_the_url() {
        let base = echo_server().await;
        let response = HttpClient::default().get(&base).await.unwrap();
        let error = response.json::<Vec<u8>>().unwrap_err();
        assert!(matches!(error, ClientError::Json { .. }), "{error:?}");
        assert!(error.to_string().contains(&base), "{error}");
    }
}
