//! Shutdown over real HTTP on loopback: a draining node tells its load balancer it is not
//! ready, yet finishes (and keeps answering) until nothing is in flight, then stops accepting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod common;
use common::{Reply, request, start};

fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, "text/plain", b"")
}

/// The node's own count of requests in flight, from its metrics (the scrape counts itself).
fn in_flight(addr: SocketAddr) -> u64 {
    let metrics = get(addr, "/metrics");
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    text.lines()
        .find_map(|line| line.strip_prefix("tailor_http_requests_in_flight "))
        .unwrap_or_else(|| panic!("no in-flight gauge in\n{text}"))
        .parse()
        .unwrap()
}

/// Polls `probe` until it holds, failing the test after a minute.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !probe() {
        assert!(Instant::now() < give_up, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_draining_node_is_not_ready_but_finishes_the_requests_in_flight() {
    let server = start(|_| {});
    let addr = server.addr;
    assert_eq!(get(addr, "/readyz").status, 200);

    // A request in flight: its head sent, its body held back.
    let body = serde_json::json!({"events": [{
        "event_id": "drain-1", "customer_id": "cust-000001", "kind": "consent_change",
        "at_ms": 1774000100000i64, "consent": {"personalization": true, "marketing": false},
    }]})
    .to_string();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        slow,
        "POST /v1/events HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    eventually("the held-back request is in flight", || {
        in_flight(addr) >= 2
    });

    // Shutdown begins (dropping the server signals it and waits for the drain to end).
    let stopping = std::thread::spawn(move || drop(server));
    let mut ready = get(addr, "/readyz");
    eventually("/readyz answers 503 once shutdown has begun", || {
        ready = get(addr, "/readyz");
        ready.status != 200
    });
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["error"]["code"], "draining", "{}", ready.body);
    // Still alive, and still serving, while it drains.
    assert_eq!(get(addr, "/healthz").status, 200);
    assert!(!stopping.is_finished(), "stopped with a request in flight");

    // The request in flight completes normally.
    slow.write_all(body.as_bytes()).unwrap();
    let mut reply = String::new();
    slow.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");

    // With nothing left in flight the node finishes shutting down and takes no more.
    stopping.join().unwrap();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after the drain"
    );
}
