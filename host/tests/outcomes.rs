//! Closing the loop over real HTTP: exposures recorded from decisions, outcome events
//! attributed to them, experiment results, the exposure stream, and a policy that learns from
//! the outcome counts (contract 0.2.0's `outcomes`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use serde_json::{Value, json};
use std::net::SocketAddr;

mod common;
use common::{ADMIN, Reply, admin, decide, publish_policy, start};

const KEY: &str = "hero-bandit-2026";

fn visit(addr: SocketAddr, visitor: &str, analytics: bool) -> Value {
    let reply = decide(
        addr,
        &json!({
            "channel": "web",
            "unit": {"anonymous_id": visitor},
            "consent": {"personalization": true, "analytics": analytics},
            "slots": [{"id": "hero", "policy": "hero-bandit"}]
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn post_events(addr: SocketAddr, events: Value) -> Reply {
    let reply = common::request(
        addr,
        "POST",
        "/v1/events",
        "application/json",
        json!({ "events": events }).to_string().as_bytes(),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply
}

fn results(addr: SocketAddr, key: &str) -> Value {
    let reply = admin(
        addr,
        "GET",
        &format!("/admin/v1/experiments/{key}"),
        Some(ADMIN),
        b"",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn arm<'a>(results: &'a Value, variant: &str) -> &'a Value {
    results["arms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["variant"] == variant)
        .unwrap_or_else(|| panic!("no arm {variant}: {results}"))
}

/// A streamed (chunked) HTTP/1.1 body, put back together.
fn streamed(reply: &Reply) -> String {
    match &reply.body {
        Value::String(raw) => dechunk(raw),
        // Only the last chunk ("0"), which the harness read as JSON.
        other => dechunk(&other.to_string()),
    }
}

fn dechunk(raw: &str) -> String {
    let mut body = String::new();
    let mut rest = raw;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        body.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    body
}

#[test]
fn exposures_and_outcomes_become_experiment_results() {
    let server = start(|c| c.admin_token = Some(ADMIN.into()));
    let addr = server.addr;
    // 40 visitors with analytics consent, 5 without (decided, never recorded).
    let mut decisions = Vec::new();
    for i in 0..40 {
        let body = visit(addr, &format!("v-{i}"), true);
        let slot = &body["slots"][0];
        assert_eq!(slot["experiment"]["key"], KEY, "{body}");
        decisions.push((
            format!("v-{i}"),
            body["decision_id"].as_str().unwrap().to_owned(),
            slot["variant"].as_str().unwrap().to_owned(),
        ));
    }
    for i in 0..5 {
        visit(addr, &format!("private-{i}"), false);
    }
    // Every fourth visitor clicks, naming the decision; one of them clicks twice (one unit
    // converts once); a page view never counts; a click on another slot of the decision counts
    // for nothing; a re-sent event is ignored.
    let mut events = Vec::new();
    let mut converted = std::collections::BTreeMap::<String, u64>::new();
    for (n, (visitor, decision, variant)) in decisions.iter().enumerate() {
        if n % 4 == 0 {
            events.push(
                json!({"event_id": format!("click-{n}"), "customer_id": visitor, "kind": "click",
                "at_ms": common::now_ms(), "decision_id": decision, "slot": "hero"}),
            );
            *converted.entry(variant.clone()).or_default() += 1;
        }
    }
    let (visitor, decision, _) = &decisions[0];
    events.push(
        json!({"event_id": "click-again", "customer_id": visitor, "kind": "click",
        "at_ms": common::now_ms(), "decision_id": decision}),
    );
    events.push(
        json!({"event_id": "view-1", "customer_id": &decisions[1].0, "kind": "page_view",
        "at_ms": common::now_ms(), "decision_id": &decisions[1].1}),
    );
    events.push(
        json!({"event_id": "other-slot", "customer_id": &decisions[2].0, "kind": "click",
        "at_ms": common::now_ms(), "decision_id": &decisions[2].1, "slot": "footer"}),
    );
    post_events(addr, Value::Array(events.clone()));
    let again = post_events(addr, json!([events[0]]));
    assert_eq!(again.body["duplicates"], 1);

    let results = results(addr, KEY);
    assert_eq!(results["policy"], "hero-bandit");
    assert_eq!(results["defined"], true);
    assert_eq!(results["control"], "spring-brand");
    assert_eq!(results["outcomes"]["kinds"], json!(["click"]));
    let arms = results["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 3, "{results}");
    let exposed: u64 = arms.iter().map(|a| a["exposures"].as_u64().unwrap()).sum();
    assert_eq!(exposed, 40, "only units with analytics consent: {results}");
    for (variant, expected) in &converted {
        let arm = arm(&results, variant);
        assert_eq!(arm["conversions"].as_u64().unwrap(), *expected, "{results}");
        let rate = arm["conversion_rate"].as_f64().unwrap();
        let units = arm["exposures"].as_f64().unwrap();
        assert!((rate - *expected as f64 / units).abs() < 1e-12, "{arm}");
    }
    assert!(
        arm(&results, "spring-brand")
            .get("versus_control")
            .is_none()
    );
    let versus = &arm(&results, "summer-preview")["versus_control"];
    let p = versus["probability_to_beat_control"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{versus}");
    assert_eq!(results["srm"]["degrees_of_freedom"], 2);
    assert_eq!(results["srm"]["mismatch"], false, "{results}");

    // The listing has it too; an unknown key is a 404 naming the key.
    let listed = admin(addr, "GET", "/admin/v1/experiments", Some(ADMIN), b"");
    assert_eq!(listed.status, 200);
    assert!(
        listed.body["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == KEY)
    );
    let unknown = admin(addr, "GET", "/admin/v1/experiments/nope", Some(ADMIN), b"");
    assert_eq!(
        (unknown.status, &unknown.body["error"]["field"]),
        (404, &json!("key"))
    );
    let unauthorized = admin(addr, "GET", "/admin/v1/experiments", None, b"");
    assert_eq!(unauthorized.status, 401);

    // The exposure stream: one NDJSON line per recorded exposure, and none before `since`.
    let stream = common::send(
        addr,
        "GET",
        "/admin/v1/exposures?since=0",
        "application/json",
        Some(ADMIN),
        b"",
    );
    assert_eq!(stream.status, 200);
    assert!(
        stream
            .headers
            .contains("content-type: application/x-ndjson"),
        "{}",
        stream.headers
    );
    let body = streamed(&stream);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    assert_eq!(lines[0]["type"], "exposure");
    assert_eq!(lines[0]["decision_id"], decisions[0].1.as_str());
    assert_eq!(lines[0]["unit"], "v-0");
    assert_eq!(lines[0]["slot"], "hero");
    assert_eq!(lines[0]["channel"], "web");
    assert!(lines[0]["version"].as_str().unwrap().starts_with("sha256:"));
    let future = common::now_ms() + 3_600_000;
    let none = common::send(
        addr,
        "GET",
        &format!("/admin/v1/exposures?since={future}"),
        "application/json",
        Some(ADMIN),
        b"",
    );
    assert_eq!(streamed(&none), "");
    let bad = common::send(
        addr,
        "GET",
        "/admin/v1/exposures?from=0",
        "application/json",
        Some(ADMIN),
        b"",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn a_bad_experiment_definition_is_refused_at_publish_naming_the_field() {
    let server = start(|c| c.admin_token = Some(ADMIN.into()));
    let reply = publish_policy(
        server.addr,
        "hero-bandit",
        &json!({"config": json!({"default_variant": "a", "experiment": {"key": "k", "arms": {"a": -1}}}).to_string()}),
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("experiment.arms.a"), "{message}");
}

#[test]
fn an_event_with_a_slot_but_no_decision_is_refused() {
    let server = start(|_| {});
    let reply = common::request(
        server.addr,
        "POST",
        "/v1/events",
        "application/json",
        json!({"events": [{"event_id": "e", "customer_id": "c", "kind": "click", "at_ms": 1, "slot": "hero"}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.body["error"]["field"], "events[0].slot");
}

/// Whether a visitor converts on an arm: a fixed draw per visitor, so the run is the same
/// every time.
fn converts(visitor: usize, rate: f64) -> bool {
    let draw = (visitor as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    (draw as f64 / (1u64 << 53) as f64) < rate
}

#[test]
fn the_bandit_learns_the_best_creative_from_the_clicks() {
    let server = start(|c| c.admin_token = Some(ADMIN.into()));
    let addr = server.addr;
    let mut config: Value = serde_json::from_str(
        tailor_policies::find("hero-bandit")
            .unwrap()
            .config
            .unwrap(),
    )
    .unwrap();
    config["bandit"]["burn_in"] = json!(20);
    let published = publish_policy(addr, "hero-bandit", &json!({"config": config.to_string()}));
    assert_eq!(published.status, 200, "{}", published.body);
    let rate = |variant: &str| match variant {
        "summer-preview" => 0.5,
        _ => 0.05,
    };
    let mut last = Vec::new();
    for visitor in 0..500 {
        let id = format!("sim-{visitor}");
        let body = visit(addr, &id, true);
        let variant = body["slots"][0]["variant"].as_str().unwrap().to_owned();
        if converts(visitor, rate(&variant)) {
            post_events(
                addr,
                json!([{"event_id": format!("c-{visitor}"), "customer_id": id, "kind": "click",
                    "at_ms": common::now_ms(), "decision_id": body["decision_id"]}]),
            );
        }
        if visitor >= 300 {
            last.push(variant);
        }
    }
    let best = last.iter().filter(|v| *v == "summer-preview").count();
    assert!(
        best >= 140,
        "the best creative got {best} of the last 200 visitors"
    );
    let results = results(addr, KEY);
    let summer = arm(&results, "summer-preview");
    assert!(
        summer["versus_control"]["probability_to_beat_control"]
            .as_f64()
            .unwrap()
            > 0.99,
        "{results}"
    );
}

#[test]
fn counted_outcomes_survive_a_crash() {
    let scratch = common::Scratch::new("outcomes-crash");
    let args = ["--admin-token", ADMIN, "--sample-profiles", "200"];
    let mut node = common::spawn_binary(&scratch.0, &args);
    for i in 0..12 {
        let body = visit(node.addr, &format!("v-{i}"), true);
        if i % 3 == 0 {
            post_events(
                node.addr,
                json!([{"event_id": format!("click-{i}"), "customer_id": format!("v-{i}"),
                    "kind": "click", "at_ms": common::now_ms(), "decision_id": body["decision_id"]}]),
            );
        }
    }
    // Results count what the node acknowledged, and what they count is on disk.
    let before = results(node.addr, KEY);
    node.kill();
    let node = common::spawn_binary(&scratch.0, &args);
    let after = results(node.addr, KEY);
    let counts = |r: &Value| -> Vec<(String, u64, u64)> {
        r["arms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["variant"].as_str().unwrap().to_owned(),
                    a["exposures"].as_u64().unwrap(),
                    a["conversions"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(counts(&after), counts(&before));
    let total: u64 = counts(&after).iter().map(|(_, n, _)| n).sum();
    let converted: u64 = counts(&after).iter().map(|(_, _, c)| c).sum();
    assert_eq!((total, converted), (12, 4), "{after}");
}

/// Polls `check` on the node's results until it holds (replication takes a moment).
fn wait_for_results(addr: SocketAddr, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let results = results(addr, KEY);
        if check(&results) {
            return results;
        }
        assert!(
            started.elapsed() < common::fleet::PATIENCE,
            "{what}: never; last {results}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn total(results: &Value, field: &str) -> u64 {
    results["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[field].as_u64().unwrap())
        .sum()
}

#[test]
fn fleet_results_count_a_unit_seen_on_two_nodes_once() {
    let scratch = common::Scratch::new("outcomes-fleet");
    let broker = common::nats::Broker::start("127.0.0.71", &scratch.0);
    let url = broker.url();
    let node = |name: &str| {
        common::spawn_binary(
            &scratch.0.join(name),
            &[
                "--sample-profiles",
                "200",
                "--admin-token",
                ADMIN,
                "--events-broker",
                &url,
                "--node-id",
                name,
            ],
        )
    };
    let web = node("web");
    let app = node("app");
    // Ten visitors on the web, four of them on the app too (the same arm: bucketing is the
    // same on every node during burn-in), two only on the app.
    let mut web_decisions = Vec::new();
    for i in 0..10 {
        web_decisions.push(visit(web.addr, &format!("v-{i}"), true)["decision_id"].clone());
    }
    for i in 6..12 {
        visit(app.addr, &format!("v-{i}"), true);
    }
    // Three clicks, posted to the app node, naming decisions the web node made: the events
    // reach the web node through the broker, it attributes them, and the conversions travel.
    let clicks: Vec<Value> = (0..3)
        .map(|i| {
            json!({"event_id": format!("click-{i}"), "customer_id": format!("v-{i}"),
                "kind": "click", "at_ms": common::now_ms(), "decision_id": web_decisions[i]})
        })
        .collect();
    post_events(app.addr, Value::Array(clicks));
    for addr in [web.addr, app.addr] {
        let results = wait_for_results(addr, "the fleet's counts", |r| {
            total(r, "exposures") == 12 && total(r, "conversions") == 3
        });
        let nodes = results["nodes"].as_array().unwrap();
        let own = |name: &str| -> u64 {
            let node = nodes.iter().find(|n| n["node"] == name).unwrap();
            node["arms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["exposures"].as_u64().unwrap())
                .sum()
        };
        assert_eq!((own("web"), own("app")), (10, 6), "{results}");
    }
    // A node that joins later reads the fleet's history from the stream.
    let late = node("kiosk");
    wait_for_results(late.addr, "a late joiner's counts", |r| {
        total(r, "exposures") == 12 && total(r, "conversions") == 3
    });
}
