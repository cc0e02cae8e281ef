//! What the fleet tests share: the echo policy (it renders the events a profile holds), batches
//! of page views with one item each, and waiting until a node's decisions show them.

use super::process::Node;
use super::{ADMIN, Reply, admin, decide, request};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long replication may take before a test gives up (a loaded machine, not a target).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Publishes the echo test policy on `node`.
pub fn publish_echo(node: &Node) {
    let component = base64::engine::general_purpose::STANDARD.encode(tailor_test_policies::ECHO);
    let published = admin(
        node.addr,
        "PUT",
        "/admin/v1/policies/echo",
        Some(ADMIN),
        json!({ "component": component }).to_string().as_bytes(),
    );
    assert_eq!(published.status, 200, "{}", published.body);
}

/// Page views of `customer`, one per index, for item `sku-<index>`.
pub fn page_views(customer: &str, ids: std::ops::Range<usize>) -> Value {
    let events: Vec<Value> = ids
        .map(|i| {
            json!({"event_id": format!("{customer}-view-{i}"), "customer_id": customer,
                   "kind": "page_view", "at_ms": 1_774_000_100_000i64 + i as i64,
                   "item_id": format!("sku-{i}"), "category": "coats"})
        })
        .collect();
    json!({ "events": events })
}

pub fn post_events(addr: SocketAddr, batch: &Value) -> Reply {
    request(
        addr,
        "POST",
        "/v1/events",
        "application/json",
        batch.to_string().as_bytes(),
    )
}

/// How many times each item shows among the customer's recent events, as the echo policy at
/// `addr` sees the profile.
pub fn items_seen(addr: SocketAddr, customer: &str) -> BTreeMap<String, usize> {
    let reply = decide(
        addr,
        &json!({"channel": "app", "unit": {"customer_id": customer},
                "slots": [{"id": "echo", "policy": "echo"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let events = reply.body["slots"][0]["render"]["events"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut seen = BTreeMap::new();
    for part in events.split("item_id: Some(\"").skip(1) {
        let item = part.split('"').next().unwrap_or_default().to_owned();
        *seen.entry(item).or_insert(0) += 1;
    }
    seen
}

/// Waits until a decision at `node` shows items `sku-0` to `sku-<expected - 1>` of the
/// customer, each exactly once; fails at once on an event applied twice.
pub fn wait_for_items(node: &mut Node, customer: &str, expected: usize) {
    let wanted: Vec<String> = (0..expected).map(|i| format!("sku-{i}")).collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = items_seen(node.addr, customer);
        if seen.values().any(|&n| n > 1) {
            node.process.fail(&format!(
                "an event of {customer} was applied twice: {seen:?}"
            ));
        }
        let mut items: Vec<&String> = seen.keys().collect();
        items.sort_by_key(|item| item[4..].parse::<usize>().unwrap_or(usize::MAX));
        if items
            .iter()
            .map(|s| s.as_str())
            .eq(wanted.iter().map(String::as_str))
        {
            return;
        }
        if Instant::now() > deadline {
            node.process.fail(&format!(
                "saw {} of {customer}'s {expected} events after {PATIENCE:?}: {seen:?}",
                seen.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /admin/v1/status`.
pub fn status(addr: SocketAddr) -> Value {
    let reply = admin(addr, "GET", "/admin/v1/status", Some(ADMIN), b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}
