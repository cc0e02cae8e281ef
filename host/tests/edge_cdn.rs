//! The CDN edge reference in `edge-deploy/cdn/`, checked against the real binary: nginx
//! rendered from `nginx.conf.template` in front of `tailor serve` (personal decisions pass
//! through uncached, segment decisions and static creative are cached, a dead, hung or failing
//! tailor fails open).
//!
//! Needs `nginx` (installed with apt-get when missing). A missing tool fails the test; it never
//! skips.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{Reply, Scratch, decide, describe, edge_deploy, packages, run, send, spawn_binary};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The address nginx listens on: a loopback address no other test uses, so the port is free
/// without being picked and released (another test's server could take a released port before
/// nginx binds it).
const EDGE: &str = "127.0.0.31:8080";

/// An origin for static creative on loopback, counting the requests that reach it.
fn static_origin() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let head =
                "200 OK\r\ncontent-type: image/svg+xml\r\ncache-control: public, max-age=300";
            answer(stream, head, "<svg/>");
        }
    });
    (addr, hits)
}

/// Reads one request's head and answers it (`head`: status and headers), closing the
/// connection.
fn answer(mut stream: TcpStream, head: &str, body: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
        request.push(byte[0]);
    }
    let length = body.len();
    let _ = write!(
        stream,
        "HTTP/1.1 {head}\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n{body}"
    );
}

/// Takes over a dead tailor's address: while `hang` is set it accepts and never answers,
/// otherwise it answers 503 the way an overloaded tailor does.
fn misbehaving_tailor(addr: SocketAddr, hang: Arc<AtomicBool>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let listener = loop {
        match TcpListener::bind(addr) {
            Ok(listener) => break listener,
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot take over {addr}: {e}"),
        }
    };
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            if hang.load(Ordering::SeqCst) {
                held.push(stream);
            } else {
                let head = "503 Service Unavailable\r\ncontent-type: application/json";
                answer(stream, head, r#"{"error":{"code":"overloaded"}}"#);
            }
        }
    });
}

/// The template rendered into `prefix` as `nginx.conf`, beside a copy of the fallback content,
/// exactly as README.md tells an operator to.
fn render_nginx(prefix: &Path, listen: SocketAddr, tailor: SocketAddr, origin: SocketAddr) {
    let cdn = edge_deploy().join("cdn");
    let conf = std::fs::read_to_string(cdn.join("nginx.conf.template"))
        .unwrap()
        .replace("__LISTEN__", &listen.to_string())
        .replace("__UPSTREAM__", &tailor.to_string())
        .replace("__STATIC_ORIGIN__", &origin.to_string());
    assert!(
        !conf.contains("__"),
        "a placeholder of nginx.conf.template is not rendered (README.md lists them)"
    );
    std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
    std::fs::create_dir_all(prefix.join("fallback")).unwrap();
    for entry in std::fs::read_dir(cdn.join("fallback")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            prefix.join("fallback").join(entry.file_name()),
        )
        .unwrap();
    }
}

/// nginx in the foreground with `prefix` as its prefix and the rendered config, stopped when
/// dropped.
struct Nginx {
    binary: PathBuf,
    prefix: PathBuf,
    master: Child,
}

impl Nginx {
    fn command(binary: &Path, prefix: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(binary);
        command
            .arg("-p")
            .arg(format!("{}/", prefix.display()))
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(extra)
            .stdin(Stdio::null());
        command
    }

    /// Checks the config with `nginx -t`, starts nginx and waits until it accepts on `listen`.
    fn start(binary: &Path, prefix: &Path, listen: SocketAddr) -> Nginx {
        let checked = run(&mut Nginx::command(binary, prefix, &["-t"]));
        assert!(
            checked.status.success(),
            "nginx refuses the rendered config: {}",
            describe(&checked)
        );
        let master = Nginx::command(binary, prefix, &["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut nginx = Nginx {
            binary: binary.to_owned(),
            prefix: prefix.to_owned(),
            master,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(listen).is_err() {
            let log = || std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            if let Some(status) = nginx.master.try_wait().unwrap() {
                panic!("nginx exited ({status}) before accepting: {}", log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx does not accept on {listen}: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }
}

impl Drop for Nginx {
    /// `nginx -s stop` (SIGTERM to the master, which stops its workers; a SIGKILL would leave
    /// them running), then a bounded wait, then SIGKILL.
    fn drop(&mut self) {
        let _ = Nginx::command(&self.binary, &self.prefix, &["-s", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.master.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

fn hero_request(customer: &str) -> Value {
    json!({
        "channel": "web",
        "unit": {"customer_id": customer},
        "slots": [{
            "id": "hero",
            "policy": "hero-banner",
            "default": {"variant": "spring-brand", "reason": "DEFAULT"}
        }]
    })
}

/// A decision through nginx that tailor answered. On a loaded machine a decision can
/// legitimately miss nginx's 150 ms read timeout and come back as the fallback; that is retried
/// a few times, so only a config that never lets tailor answer fails here.
fn personal(edge: SocketAddr, customer: &str) -> Reply {
    let mut fallbacks = 0;
    loop {
        let reply = decide(edge, &hero_request(customer));
        if header(&reply, "x-tailor-fallback").is_none() || fallbacks == 4 {
            return reply;
        }
        fallbacks += 1;
    }
}

fn assert_personal(reply: &Reply, customer: &str) {
    assert_eq!(reply.status, 200, "{}\n{}", reply.headers, reply.body);
    assert_eq!(
        header(reply, "x-tailor-fallback"),
        None,
        "tailor did not answer through nginx: {}",
        reply.body
    );
    let slot = &reply.body["slots"][0];
    assert_eq!(slot["policy"], "hero-banner", "{}", reply.body);
    assert!(
        slot["version"].as_str().is_some_and(|v| v.len() >= 16),
        "no version digest: {}",
        reply.body
    );
    assert!(slot["variant"].is_string(), "{}", reply.body);
    assert_eq!(
        reply.body["profile"]["id"], customer,
        "answered for another customer: {}",
        reply.body
    );
    let cache = header(reply, "cache-control").unwrap_or_default();
    assert!(
        cache.contains("private") && cache.contains("no-store"),
        "cache-control {cache:?}"
    );
    let vary = header(reply, "vary").unwrap_or_default();
    assert!(vary.contains("authorization"), "vary {vary:?}");
}

fn assert_fallback(reply: &Reply, fallback: &Value, why: &str) {
    assert_eq!(
        reply.status, 200,
        "{why}: {}\n{}",
        reply.headers, reply.body
    );
    assert_eq!(&reply.body, fallback, "{why}");
    assert_eq!(header(reply, "x-tailor-fallback"), Some("1"), "{why}");
    assert!(
        header(reply, "content-type").is_some_and(|t| t.starts_with("application/json")),
        "{why}: {}",
        reply.headers
    );
    let cache = header(reply, "cache-control").unwrap_or_default();
    assert!(cache.contains("no-store"), "{why}: cache-control {cache:?}");
}

fn get(edge: SocketAddr, path: &str) -> Reply {
    send(edge, "GET", path, "application/json", None, b"")
}

#[test]
fn nginx_in_front_of_tailor_serves_personal_decisions_uncached_and_fails_open() {
    let nginx_bin = packages::require(packages::NGINX);
    let scratch = Scratch::new("cdn");
    let data = scratch.0.join("tailor-data");
    let prefix = scratch.0.join("nginx");
    std::fs::create_dir_all(&prefix).unwrap();

    let mut tailor_node = spawn_binary(&data, &["--sample-profiles", "200"]);
    let tailor = tailor_node.addr;
    // Directly first: the node is up, and the decision path is warm.
    let direct = decide(tailor, &hero_request("cust-000042"));
    assert_eq!(direct.status, 200, "{}", direct.body);

    let (origin, origin_hits) = static_origin();
    let edge: SocketAddr = EDGE.parse().unwrap();
    render_nginx(&prefix, edge, tailor, origin);
    let nginx = Nginx::start(&nginx_bin, &prefix, edge);

    // A personal decision passes through, with tailor's cache policy.
    let first = personal(edge, "cust-000042");
    assert_personal(&first, "cust-000042");
    // Nothing is shared: the same request is decided again, and each customer gets their own.
    let again = personal(edge, "cust-000042");
    assert_personal(&again, "cust-000042");
    assert_ne!(
        first.body["decision_id"], again.body["decision_id"],
        "a decision was served twice"
    );
    let other = personal(edge, "cust-000007");
    assert_personal(&other, "cust-000007");

    // A caller's mistake is not hidden behind the defaults.
    let bad = decide(
        edge,
        &json!({"channel": "web", "unit": {"customer_id": "cust-000042"}, "slots": []}),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(header(&bad, "x-tailor-fallback"), None);

    // Probes pass through; the admin API and metrics are not served at the edge.
    let health = get(edge, "/healthz");
    assert_eq!((health.status, &health.body["status"]), (200, &json!("ok")));
    assert_eq!(get(edge, "/readyz").status, 200);
    assert_eq!(get(edge, "/edge/healthz").status, 200);
    assert_eq!(get(edge, "/admin/v1/policies").status, 404);
    assert_eq!(get(edge, "/metrics").status, 404);

    // Static creative is shared: the second fetch is served from nginx's cache.
    let cold = get(edge, "/static/hero/spring.svg");
    let warm = get(edge, "/static/hero/spring.svg");
    assert_eq!((cold.status, warm.status), (200, 200));
    assert_eq!(header(&cold, "x-cache-status"), Some("miss"));
    assert_eq!(header(&warm, "x-cache-status"), Some("hit"));
    assert_eq!(origin_hits.load(Ordering::SeqCst), 1);

    // Segment decisions are shared by everyone in the segment, for as long as tailor says.
    let gold = "/v1/segment-decide?policy=hero-banner&channel=web&tier=gold";
    let cold = get(edge, gold);
    let warm = get(edge, gold);
    assert_eq!((cold.status, warm.status), (200, 200), "{}", cold.body);
    assert_eq!(cold.body["variant"], "gold-double-points", "{}", cold.body);
    assert_eq!(warm.body, cold.body);
    assert_eq!(header(&cold, "x-cache-status"), Some("miss"));
    assert_eq!(header(&warm, "x-cache-status"), Some("hit"));
    assert_eq!(header(&cold, "cache-control"), Some("public, max-age=300"));
    let platinum = get(
        edge,
        "/v1/segment-decide?policy=hero-banner&channel=web&tier=platinum",
    );
    assert_eq!(
        platinum.body["variant"], "vip-early-access",
        "{}",
        platinum.body
    );
    assert_eq!(header(&platinum, "x-cache-status"), Some("miss"));
    // A policy that did not opt in is refused, and the refusal is not cached.
    let personal_only = "/v1/segment-decide?policy=next-best-offer&channel=web&segment=vip";
    let refused = get(edge, personal_only);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "not_segment_cacheable");
    assert_ne!(
        header(&get(edge, personal_only), "x-cache-status"),
        Some("hit")
    );

    // tailor killed: decisions fail open, probes say so, events are refused rather than faked.
    let fallback: Value = serde_json::from_str(
        &std::fs::read_to_string(edge_deploy().join("cdn/fallback/decide.json")).unwrap(),
    )
    .unwrap();
    tailor_node.kill();
    assert_fallback(
        &decide(edge, &hero_request("cust-000042")),
        &fallback,
        "tailor down",
    );
    let health = get(edge, "/healthz");
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["status"], "tailor_unavailable");
    assert_eq!(get(edge, "/edge/healthz").status, 200);
    // The segment answers the edge holds keep being served.
    let cached = get(edge, gold);
    assert_eq!(
        (cached.status, &cached.body["variant"]),
        (200, &json!("gold-double-points"))
    );
    let never_cached = get(
        edge,
        "/v1/segment-decide?policy=hero-banner&channel=web&tier=silver",
    );
    assert_eq!(never_cached.status, 200);
    assert_eq!(never_cached.body["fallback"], true, "{}", never_cached.body);
    let events = send(
        edge,
        "POST",
        "/v1/events",
        "application/json",
        None,
        br#"{"events":[]}"#,
    );
    assert_eq!(events.status, 502, "{}", events.body);

    // A tailor that accepts and never answers, then one that answers 503: defaults again.
    let hang = Arc::new(AtomicBool::new(true));
    misbehaving_tailor(tailor, hang.clone());
    assert_fallback(
        &decide(edge, &hero_request("cust-000042")),
        &fallback,
        "tailor hung",
    );
    hang.store(false, Ordering::SeqCst);
    assert_fallback(
        &decide(edge, &hero_request("cust-000042")),
        &fallback,
        "tailor answering 503",
    );

    drop(nginx);
    let left = std::fs::read_to_string(prefix.join("nginx.pid"));
    assert!(left.is_err(), "nginx did not stop cleanly: {left:?}");
}
