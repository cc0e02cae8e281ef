//! The harness of the HTTP tests: a server on an ephemeral loopback port (in-process, or the
//! real binary), and raw HTTP/1.1 exchanges.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using part of it"
)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tailor_host::config::ServeConfig;
use tailor_host::server::{AppState, Server};

pub mod fleet;
pub mod nats;
pub mod packages;
pub mod pki;
pub mod process;
pub mod python;
pub mod redirect;
pub mod registry;

pub use process::{Node, Process};

/// A running server on an ephemeral loopback port, stopped when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Running {
    let dir = std::env::temp_dir().join(format!(
        "tailor-serve-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = ServeConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.clone(),
        sample_profiles: 500,
        // Tests share the cores: only deliberate failures should hit a deadline.
        deadline_ms: 5_000,
        ..ServeConfig::default()
    };
    tweak(&mut config);
    let state = Arc::new(AppState::start(config).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let served = state.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(served).await.unwrap();
            addr_tx.send(server.local_addr().unwrap()).unwrap();
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    Running {
        addr,
        state,
        stop: Some(stop),
        thread: Some(thread),
        dir,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Value,
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Reply {
    send(addr, method, path, content_type, None, body)
}

/// One HTTP/1.1 exchange on a fresh connection.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    token: Option<&str>,
    body: &[u8],
) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", content_type)];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    exchange(addr, method, path, &headers, body)
}

/// One HTTP/1.1 exchange on a fresh connection, with these request headers (content type,
/// authorization, cookies, CSRF tokens …).
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n{extra}content-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        headers: head.to_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    }
}

pub fn decide(addr: SocketAddr, body: &Value) -> Reply {
    request(
        addr,
        "POST",
        "/v1/decide",
        "application/json",
        body.to_string().as_bytes(),
    )
}

pub const ADMIN: &str = "admin-token-for-tests-0001";

pub fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Reply {
    send(addr, method, path, "application/json", token, body)
}

/// `PUT /admin/v1/policies/{name}` with the admin token.
pub fn publish_policy(addr: SocketAddr, name: &str, body: &Value) -> Reply {
    admin(
        addr,
        "PUT",
        &format!("/admin/v1/policies/{name}"),
        Some(ADMIN),
        body.to_string().as_bytes(),
    )
}

/// `GET /admin/v1/policies/{name}`, which must answer 200.
pub fn describe_policy(addr: SocketAddr, name: &str) -> Value {
    let reply = admin(
        addr,
        "GET",
        &format!("/admin/v1/policies/{name}"),
        Some(ADMIN),
        b"",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The names of the policies a node lists on its admin API, in the order it lists them.
pub fn policy_names(addr: SocketAddr) -> Vec<String> {
    let listed = admin(addr, "GET", "/admin/v1/policies", Some(ADMIN), b"");
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body["policies"]
        .as_array()
        .unwrap_or_else(|| panic!("no policy list: {}", listed.body))
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Starts the real `tailor serve` on an ephemeral port with `dir` as its data directory and
/// decision deadlines long enough for a loaded machine.
pub fn spawn_binary(dir: &Path, extra: &[&str]) -> Node {
    spawn_binary_with(dir, extra, &[])
}

/// [`spawn_binary`] with extra environment variables.
pub fn spawn_binary_with(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Node {
    Node::start(
        std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
            .envs(envs.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--deadline-ms", "5000"])
            .arg("--data-dir")
            .arg(dir)
            .args(extra),
    )
}

/// Runs a `tailor` subcommand in `dir` and returns its stdout; a failure fails the test with
/// the command's stderr.
pub fn run_tailor(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tailor {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The repository's `edge-deploy/` directory.
pub fn edge_deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../edge-deploy")
        .canonicalize()
        .unwrap()
}

/// The profile stores (`profiles-*.profiles`, one built from the snapshot per start, removed on a
/// clean stop) in a node's data directory.
pub fn profile_stores(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("profiles-") && name.ends_with(".profiles")
        })
        .count()
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tailor-edge-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An exit status with the tails of stdout and stderr, for assertion messages.
pub fn describe(output: &std::process::Output) -> String {
    let tail = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    )
}

/// Runs a command to completion with no stdin.
pub fn run(command: &mut std::process::Command) -> std::process::Output {
    command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// The wall clock in ms since the Unix epoch (what the node stamps decisions with).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
