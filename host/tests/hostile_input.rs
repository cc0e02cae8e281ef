//! Hostile input over real HTTP: oversized and malformed requests, slow clients, many
//! connections, forged tokens. Each gets a clear 4xx or a closed connection, never a crash or a
//! stuck worker: after every case the node still answers a normal decision.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{ADMIN, admin, decide, request, start};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn still_serving(addr: SocketAddr) {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": "cust-000042"},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn post_raw(addr: SocketAddr, body: &[u8]) -> common::Reply {
    request(addr, "POST", "/v1/decide", "application/json", body)
}

/// Sends raw bytes and returns what came back (empty if the server closed the connection).
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_bodies_get_a_400_naming_the_problem() {
    let server = start(|_| {});
    let addr = server.addr;
    let nested = format!(
        r#"{{"channel":"web","slots":[{{"id":"a","policy":"hero-banner"}}],"context":{{"attributes":{{"x":{}{}}}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid UTF-8", b"{\"channel\":\"w\xffeb\",\"slots\":[]}".to_vec()),
        ("deeply nested JSON", nested.into_bytes()),
        (
            "a number too large",
            br#"{"channel":"web","context":{"now_ms":1e400},"slots":[{"id":"a","policy":"hero-banner"}]}"#.to_vec(),
        ),
        (
            "an integer out of range",
            br#"{"channel":"web","context":{"now_ms":99999999999999999999999},"slots":[{"id":"a","policy":"hero-banner"}]}"#.to_vec(),
        ),
        (
            "a duplicate key",
            br#"{"channel":"web","channel":"app","slots":[{"id":"a","policy":"hero-banner"}]}"#.to_vec(),
        ),
        ("trailing garbage", br#"{"channel":"web","slots":[]} {}"#.to_vec()),
        ("not JSON at all", b"\x00\x01\x02".to_vec()),
    ];
    for (what, body) in cases {
        let reply = post_raw(addr, &body);
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert_eq!(
            reply.body["error"]["code"], "invalid_body",
            "{what}: {}",
            reply.body
        );
        assert!(
            !reply.body["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }
    still_serving(addr);
}

#[test]
fn oversized_requests_are_refused_and_the_connection_is_not_stuck() {
    let server = start(|_| {});
    let addr = server.addr;
    // A body over the limit: 413.
    let big = vec![b' '; 2 << 20];
    let reply = post_raw(addr, &big);
    assert_eq!(reply.status, 413, "{}", reply.body);
    // Headers far over hyper's buffer: refused (431) or the connection closed, nothing else.
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = raw_exchange(addr, huge_header.as_bytes());
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // Garbage instead of HTTP: a 400 or a closed connection.
    let answer = raw_exchange(addr, b"\x16\x03\x01 not http at all\r\n\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    still_serving(addr);
}

#[test]
fn a_slow_client_is_cut_off_without_holding_a_decision_slot() {
    // One decision slot: if a slow body held it, the decision below would be shed (503).
    let server = start(|file| file.max_concurrent_decisions = 1);
    let addr = server.addr;
    let mut slow = TcpStream::connect(addr).unwrap();
    write!(
        slow,
        "POST /v1/decide HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"channel\""
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    still_serving(addr);
    // The body never completes: the server answers 408 and closes, within its body timeout.
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = String::new();
    let read = slow.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "no 408 before the client's 60 s read timeout ({read:?}): {answer:?}"
    );
    // A client that never finishes its headers is dropped too (hyper's header timeout).
    let mut silent = TcpStream::connect(addr).unwrap();
    write!(silent, "POST /v1/decide HTTP/1.1\r\nhost: x\r\n").unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut rest = Vec::new();
    let closed = silent.read_to_end(&mut rest);
    assert!(closed.is_ok(), "the connection was not closed: {closed:?}");
    still_serving(addr);
}

#[test]
fn many_idle_connections_do_not_stop_decisions() {
    let server = start(|_| {});
    let addr = server.addr;
    let idle: Vec<TcpStream> = (0..500)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert!(idle.len() >= 400, "only {} connections opened", idle.len());
    still_serving(addr);
    drop(idle);
    still_serving(addr);
}

#[test]
fn forged_tokens_and_hostile_policy_names_are_refused() {
    let server = start(|file| file.admin_token = Some(ADMIN.into()));
    let addr = server.addr;
    for token in [
        "admin-token-for-tests-0002",
        "admin-token-for-tests-000",
        "admin-token-for-tests-00011",
        "",
        "Bearer admin-token-for-tests-0001",
    ] {
        let reply = admin(addr, "GET", "/admin/v1/policies", Some(token), b"");
        assert_eq!(reply.status, 401, "{token:?}: {}", reply.body);
    }
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "..",
        "Hero",
        "a%00b",
        "x".repeat(65).as_str(),
    ] {
        let reply = admin(
            addr,
            "PUT",
            &format!("/admin/v1/policies/{name}"),
            Some(ADMIN),
            br#"{"config":"{}"}"#,
        );
        assert!(
            matches!(reply.status, 404 | 422),
            "{name}: {} {}",
            reply.status,
            reply.body
        );
    }
    let traversal = admin(
        addr,
        "GET",
        "/admin/v1/policies/../snapshot",
        Some(ADMIN),
        b"",
    );
    assert!(matches!(traversal.status, 400 | 404), "{}", traversal.body);
    still_serving(addr);
}
