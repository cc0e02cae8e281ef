//! The decision service over real HTTP on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tailor_host::{Limits, PolicySource};

mod common;
use common::{ADMIN, Reply, Running, admin, decide, request, spawn_binary, start};

#[test]
fn a_multi_slot_decision_keeps_order_and_isolates_a_failing_slot() {
    let server = start(|_| {});
    install(&server, "panicker", tailor_test_policies::PANICKER, None);
    let reply = decide(
        server.addr,
        &json!({
            "request_id": "req-1",
            "channel": "web",
            "unit": {"customer_id": "cust-000042"},
            "context": {"now_ms": 1774000000000i64, "locale": "en-GB"},
            "slots": [
                {"id": "hero", "policy": "hero-banner"},
                {"id": "broken", "policy": "panicker", "default": {"variant": "house-banner", "reason": "STATIC"}},
                {"id": "offers", "policy": "next-best-offer", "candidates": [
                    {"id": "o1", "tags": ["category:shoes"], "numbers": {"discount": 0.2}},
                    {"id": "o2", "tags": ["category:bags"], "numbers": {"discount": 0.1}}
                ]}
            ]
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.headers.contains("cache-control: private, no-store"));
    assert!(reply.headers.contains("server-timing: decide;dur="));
    let body = &reply.body;
    assert_eq!(body["request_id"], "req-1");
    assert_eq!(body["profile"]["id"], "cust-000042");
    assert_eq!(body["profile"]["source"], "snapshot_store");
    assert_eq!(body["profile"]["snapshot_version"], "sample-500");
    let slots = body["slots"].as_array().unwrap();
    let ids: Vec<&str> = slots.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["hero", "broken", "offers"]);
    assert_ne!(slots[0]["reason"], "ERROR");
    assert!(slots[0]["version"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(slots[1]["reason"], "ERROR");
    assert_eq!(slots[1]["variant"], "house-banner");
    assert_eq!(slots[1]["error"]["code"], "trap");
    assert!(
        slots[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cust-000042")
    );
    assert_eq!(slots[2]["items"].as_array().unwrap().len(), 2);

    // The same customer again comes from the cache.
    let again = decide(
        server.addr,
        &json!({"channel": "app", "unit": {"customer_id": "cust-000042"}, "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(again.body["profile"]["source"], "cache");
    let metrics = request(server.addr, "GET", "/metrics", "text/plain", b"");
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains("tailor_decision_fallbacks_total{code=\"trap\",policy=\"panicker\"} 1")
            || text
                .contains("tailor_decision_fallbacks_total{policy=\"panicker\",code=\"trap\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tailor_profile_lookups_total{source=\"cache\"} 1"),
        "{text}"
    );
}

#[test]
fn unknown_customers_and_visitors_are_served_as_anonymous() {
    let server = start(|_| {});
    let reply = decide(
        server.addr,
        &json!({"channel": "web", "unit": {"customer_id": "cust-999999999", "anonymous_id": "anon-1"},
                "consent": {"personalization": true},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["profile"]["source"], "anonymous");
    assert_eq!(reply.body["profile"]["id"], Value::Null);
    // Consent from the banner lets the anonymous visitor into the experiment, bucketed on the
    // anonymous id.
    assert_eq!(reply.body["slots"][0]["reason"], "SPLIT");
}

#[test]
fn each_bad_input_gets_a_4xx_naming_the_field() {
    let server = start(|file| file.max_body_bytes = 4096);
    let slot = json!({"id": "a", "policy": "hero-banner"});
    let cases: Vec<(Vec<u8>, u16, &str, Option<&str>)> = vec![
        (b"{not json".to_vec(), 400, "invalid_body", None),
        (json!({"channel": "web", "slots": [{"id": "a", "policy": "hero-banner", "candidates": [{"id": 3}]}]}).to_string().into_bytes(), 400, "invalid_body", Some("slots[0].candidates[0].id")),
        (json!({"channel": "web", "slots": "many"}).to_string().into_bytes(), 400, "invalid_body", Some("slots")),
        (json!({"slots": [slot]}).to_string().into_bytes(), 400, "invalid_body", None),
        (json!({"channel": "web", "slots": []}).to_string().into_bytes(), 422, "no_slots", Some("slots")),
        (json!({"channel": "web", "slots": [slot, slot]}).to_string().into_bytes(), 422, "duplicate_slot_id", Some("slots[1].id")),
        (json!({"channel": "web", "slots": [{"id": "a", "policy": "nope"}]}).to_string().into_bytes(), 422, "unknown_policy", Some("slots[0].policy")),
        (json!({"channel": "web", "slots": (0..21).map(|i| json!({"id": format!("s{i}"), "policy": "hero-banner"})).collect::<Vec<_>>()}).to_string().into_bytes(), 422, "too_many_slots", Some("slots")),
        (json!({"channel": "web", "unit": {"customer_id": ""}, "slots": [slot]}).to_string().into_bytes(), 422, "empty_customer_id", Some("unit.customer_id")),
        (format!("{{\"channel\": \"web\", \"pad\": \"{}\"}}", "x".repeat(5000)).into_bytes(), 413, "body_too_large", None),
    ];
    for (body, status, code, field) in cases {
        let reply = request(server.addr, "POST", "/v1/decide", "application/json", &body);
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        assert_eq!(reply.status, status, "{shown}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], code, "{shown}: {}", reply.body);
        if let Some(field) = field {
            assert_eq!(
                reply.body["error"]["field"], field,
                "{shown}: {}",
                reply.body
            );
        }
    }
    let reply = request(server.addr, "POST", "/v1/decide", "text/plain", b"{}");
    assert_eq!(reply.status, 415);
    let reply = request(server.addr, "GET", "/v1/decide", "application/json", b"");
    assert_eq!(reply.status, 405);
    assert!(
        reply.headers.contains("\r\nallow: post"),
        "{}",
        reply.headers
    );
    let reply = request(
        server.addr,
        "DELETE",
        "/admin/v1/policies/hero-banner",
        "application/json",
        b"",
    );
    assert_eq!(reply.status, 405);
    assert!(
        reply.headers.contains("\r\nallow: get, put"),
        "{}",
        reply.headers
    );
    let reply = request(server.addr, "GET", "/v2/nothing", "application/json", b"");
    assert_eq!(reply.status, 404);
}

#[test]
fn probes_answer() {
    let server = start(|_| {});
    assert_eq!(
        request(server.addr, "GET", "/healthz", "text/plain", b"").status,
        200
    );
    let ready = request(server.addr, "GET", "/readyz", "text/plain", b"");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["policies"], tailor_policies::ALL.len());
    assert_eq!(tailor_policies::ALL.len(), 5);
    assert_eq!(ready.body["profiles"], 500);
}

#[test]
fn beyond_the_instance_pool_the_service_sheds_load_with_retry_after() {
    let server = start(|file| file.max_concurrent_decisions = 1);
    let slow = Limits {
        deadline: Duration::from_secs(3),
        ..Limits::default()
    };
    install(
        &server,
        "spin",
        tailor_test_policies::INFINITE_LOOP,
        Some(slow),
    );
    let addr = server.addr;
    let shed_seen = Arc::new(AtomicBool::new(false));
    let spinning = shed_seen.clone();
    let busy = std::thread::spawn(move || {
        // Holds the only slot with a decision that spins to its deadline, again and again until
        // the probes below have seen a request shed (on a loaded machine one hold may pass
        // between two probes), for at most a minute. The probes may hold the slot for a moment:
        // a spinner refused with 503 retries.
        let give_up = std::time::Instant::now() + Duration::from_secs(60);
        let mut admitted = Vec::new();
        while !spinning.load(Ordering::SeqCst) && std::time::Instant::now() < give_up {
            let reply = decide(
                addr,
                &json!({"channel": "web", "slots": [{"id": "s", "policy": "spin"}]}),
            );
            if reply.status != 503 {
                admitted.push(reply);
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        admitted
    });
    // While the spinner holds the only decision slot, another request is refused at once.
    let mut shed = None;
    // Bounded by time, not attempts: under a loaded test run each probe can be slow.
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < give_up {
        let reply = decide(
            addr,
            &json!({"channel": "web", "slots": [{"id": "h", "policy": "hero-banner"}]}),
        );
        if reply.status == 503 {
            shed = Some(reply);
            break;
        }
        // Leave the slot free long enough for the spinning request to take it.
        std::thread::sleep(Duration::from_millis(20));
    }
    shed_seen.store(true, Ordering::SeqCst);
    let admitted = busy.join().unwrap();
    let answers: Vec<(u16, &Value)> = admitted
        .iter()
        .map(|r| (r.status, &r.body["slots"][0]["error"]["code"]))
        .collect();
    let shed = shed.unwrap_or_else(|| {
        panic!("no request was shed while the pool was full; the spinner got {answers:?}")
    });
    assert!(shed.headers.contains("retry-after: 1"), "{}", shed.headers);
    assert_eq!(shed.body["error"]["code"], "overloaded");
    assert!(
        !admitted.is_empty(),
        "the spinning request was never admitted"
    );
    assert!(
        answers
            .iter()
            .all(|(status, code)| *status == 200 && *code == "timeout"),
        "every admitted spin ends at its deadline: {answers:?}"
    );
}

/// Writes a snapshot export (header line, then one profile per line).
fn write_snapshot(path: &std::path::Path, version: &str, profiles: &[tailor_types::Profile]) {
    let mut text =
        format!("{{\"snapshot_version\":\"{version}\",\"generated_at_ms\":1774000000000}}\n");
    for profile in profiles {
        text.push_str(&serde_json::to_string(profile).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_admin_api_requires_its_bearer_token_and_counts_failures() {
    let server = start(|file| file.admin_token = Some(ADMIN.into()));
    let addr = server.addr;
    assert_eq!(
        admin(addr, "GET", "/admin/v1/policies", None, b"").status,
        401
    );
    let wrong = admin(
        addr,
        "GET",
        "/admin/v1/policies",
        Some("admin-token-for-tests-0002"),
        b"",
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.contains("www-authenticate: bearer"));
    assert_eq!(
        common::policy_names(addr),
        [
            "hero-bandit",
            "hero-banner",
            "kiosk-greeting",
            "next-best-offer",
            "rules"
        ]
    );
    let status = admin(addr, "GET", "/admin/v1/snapshot", Some(ADMIN), b"");
    assert_eq!(status.body["profiles"], 500);
    let metrics = request(addr, "GET", "/metrics", "text/plain", b"");
    assert!(
        metrics
            .body
            .as_str()
            .unwrap()
            .contains("tailor_auth_failures_total{route=\"/admin/v1/policies\"} 2")
    );

    // Without a configured token the admin API is closed to everyone.
    let closed = start(|_| {});
    assert_eq!(
        admin(closed.addr, "GET", "/admin/v1/policies", Some(ADMIN), b"").status,
        401
    );
}

#[test]
fn the_decide_api_can_require_its_own_token() {
    let server = start(|file| file.api_token = Some("api-token-for-tests-00001".into()));
    let body =
        json!({"channel": "web", "slots": [{"id": "h", "policy": "hero-banner"}]}).to_string();
    assert_eq!(
        admin(server.addr, "POST", "/v1/decide", None, body.as_bytes()).status,
        401
    );
    assert_eq!(
        admin(
            server.addr,
            "POST",
            "/v1/decide",
            Some(ADMIN),
            body.as_bytes()
        )
        .status,
        401
    );
    assert_eq!(
        admin(
            server.addr,
            "POST",
            "/v1/decide",
            Some("api-token-for-tests-00001"),
            body.as_bytes()
        )
        .status,
        200
    );
    // Probes stay open for the orchestrator.
    assert_eq!(
        request(server.addr, "GET", "/healthz", "text/plain", b"").status,
        200
    );
}

#[test]
fn a_snapshot_reload_under_load_swaps_atomically_with_zero_errors() {
    let server = start(|file| file.admin_token = Some(ADMIN.into()));
    let addr = server.addr;
    // A second snapshot where cust-000001 is platinum, and a broken one.
    let second = server.dir.join("second.ndjson");
    let mut profile = tailor_host::profiles::sample::profile(1);
    profile.loyalty = Some(tailor_types::Loyalty {
        tier: "platinum".into(),
        points: 1,
    });
    profile.consent.personalization = true;
    write_snapshot(&second, "second", &[profile]);
    let broken = server.dir.join("broken.ndjson");
    std::fs::write(
        &broken,
        "{\"snapshot_version\":\"broken\",\"generated_at_ms\":1}\n{\"customer_id\": 7}\n",
    )
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeMap::<String, u32>::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = decide(addr, &json!({"channel": "web", "unit": {"customer_id": "cust-000001"},
                        "slots": [{"id": "hero", "policy": "hero-banner"}, {"id": "kiosk", "policy": "kiosk-greeting"}]}));
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    for slot in reply.body["slots"].as_array().unwrap() {
                        assert!(slot.get("error").is_none(), "{slot}");
                    }
                    let version = reply.body["profile"]["snapshot_version"].as_str().unwrap().to_owned();
                    if version == "second" {
                        // Every slot of a response saw the same (new) profile.
                        assert_eq!(reply.body["slots"][0]["variant"], "vip-early-access");
                        assert_eq!(reply.body["slots"][1]["variant"], "member-platinum");
                    }
                    *seen.entry(version).or_default() += 1;
                }
                seen
            })
        })
        .collect();
    let path = |p: &PathBuf| json!({"path": p}).to_string();
    let first = server.state.snapshot_path.clone();
    for round in 0..6 {
        let target = if round % 2 == 0 { &second } else { &first };
        let reply = admin(
            addr,
            "POST",
            "/admin/v1/snapshot",
            Some(ADMIN),
            path(target).as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = admin(
        addr,
        "POST",
        "/admin/v1/snapshot",
        Some(ADMIN),
        path(&broken).as_bytes(),
    );
    assert_eq!(refused.status, 422);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{}",
        refused.body
    );
    stop.store(true, Ordering::Relaxed);
    let mut versions = std::collections::BTreeSet::new();
    for client in clients {
        versions.extend(client.join().unwrap().into_keys());
    }
    let expected: std::collections::BTreeSet<String> =
        ["sample-500".to_owned(), "second".to_owned()].into();
    assert_eq!(
        versions, expected,
        "decisions ran across both snapshots and nothing else"
    );
    // The broken snapshot was refused; the last good one still serves.
    let status = admin(addr, "GET", "/admin/v1/snapshot", Some(ADMIN), b"");
    assert_eq!(status.body["snapshot_version"], "sample-500");
}

fn events(addr: SocketAddr, events: Value) -> Reply {
    request(
        addr,
        "POST",
        "/v1/events",
        "application/json",
        json!({ "events": events }).to_string().as_bytes(),
    )
}

fn hero_for(addr: SocketAddr, customer: &str) -> Reply {
    decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": customer}, "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    )
}

fn upgrade_events(customer: &str) -> Value {
    json!([
        {"event_id": "ev-1", "customer_id": customer, "kind": "consent_change", "at_ms": 1774000100000i64,
         "consent": {"personalization": true, "marketing": true}},
        {"event_id": "ev-2", "customer_id": customer, "kind": "loyalty_change", "at_ms": 1774000200000i64,
         "loyalty": {"tier": "platinum", "points": 25000}}
    ])
}

#[test]
fn an_event_is_reflected_in_the_next_decision_and_survives_a_reload() {
    let server = start(|file| file.admin_token = Some(ADMIN.into()));
    let addr = server.addr;
    let customer = "cust-000003";
    // Warm the cache first, so the event must invalidate it.
    let before = hero_for(addr, customer);
    assert_ne!(before.body["slots"][0]["variant"], "vip-early-access");
    let receipt = events(addr, upgrade_events(customer));
    assert_eq!(receipt.status, 202, "{}", receipt.body);
    assert_eq!(receipt.body["accepted"], 2);
    let after = hero_for(addr, customer);
    assert_eq!(after.body["profile"]["source"], "event_overlay");
    assert_eq!(after.body["slots"][0]["variant"], "vip-early-access");
    // Re-sent ids are ignored.
    let again = events(addr, upgrade_events(customer));
    assert_eq!(
        (
            again.body["accepted"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (Some(0), Some(2))
    );
    // A reload of the (older) snapshot keeps the newer events.
    assert_eq!(
        admin(addr, "POST", "/admin/v1/snapshot", Some(ADMIN), b"").status,
        200
    );
    assert_eq!(
        hero_for(addr, customer).body["slots"][0]["variant"],
        "vip-early-access"
    );
    // Events about a customer the snapshot does not know create their profile.
    let receipt = events(
        addr,
        upgrade_events("cust-new-1")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["event_id"] = json!(format!("new-{}", e["event_id"].as_str().unwrap()));
                e
            })
            .collect::<Vec<_>>()
            .into(),
    );
    assert_eq!(receipt.status, 202);
    let fresh = hero_for(addr, "cust-new-1");
    assert_eq!(fresh.body["profile"]["source"], "event_overlay");
    assert_eq!(fresh.body["slots"][0]["variant"], "vip-early-access");
}

#[test]
fn bad_event_batches_are_refused_naming_the_field() {
    let server = start(|_| {});
    let ok = json!({"event_id": "e", "customer_id": "c", "kind": "page_view", "at_ms": 1});
    let cases = [
        (json!([]), 422, Some("events")),
        (
            json!([ok, {"event_id": "", "customer_id": "c", "kind": "page_view", "at_ms": 1}]),
            422,
            Some("events[1].event_id"),
        ),
        (
            json!([{"event_id": "e", "customer_id": "c", "kind": "consent_change", "at_ms": 1}]),
            422,
            Some("events[0].consent"),
        ),
        (
            json!([{"event_id": "e", "customer_id": "c", "kind": "page_view", "at_ms": "yesterday"}]),
            400,
            Some("events[0].at_ms"),
        ),
    ];
    for (batch, status, field) in cases {
        let reply = events(server.addr, batch.clone());
        assert_eq!(reply.status, status, "{batch}: {}", reply.body);
        assert_eq!(
            reply.body["error"]["field"].as_str(),
            field,
            "{batch}: {}",
            reply.body
        );
    }
}

#[test]
fn an_acknowledged_event_survives_kill_9() {
    let dir = std::env::temp_dir().join(format!("tailor-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spawn = || spawn_binary(&dir, &["--sample-profiles", "200"]);
    let mut node = spawn();
    let customer = "cust-000005";
    let receipt = events(node.addr, upgrade_events(customer));
    assert_eq!(receipt.status, 202, "{}", receipt.body);
    node.kill(); // SIGKILL: no shutdown, no flush

    let mut node = spawn();
    let after = hero_for(node.addr, customer);
    // The killed run's profile store was cleared away at start: one store, the new one.
    let stores = common::profile_stores(&dir);
    node.kill();
    assert_eq!(stores, 1, "stale profile stores left in the data directory");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        after.body["slots"][0]["variant"], "vip-early-access",
        "{}",
        after.body
    );
}

#[test]
fn a_changed_snapshot_file_is_reloaded_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("tailor-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = dir.join("export.ndjson");
    let write = |version: &str, count: u64| {
        // Write aside and rename, as a sync tool should, so the watcher never sees half a file.
        let tmp = dir.join("export.tmp");
        let profiles: Vec<_> = (0..count)
            .map(tailor_host::profiles::sample::profile)
            .collect();
        write_snapshot(&tmp, version, &profiles);
        std::fs::rename(&tmp, &snapshot).unwrap();
    };
    write("monday", 20);
    let server = start(|file| {
        file.snapshot = Some(snapshot.clone());
        file.snapshot_poll_seconds = 1;
    });
    let version = || {
        request(server.addr, "GET", "/readyz", "text/plain", b"").body["snapshot_version"].clone()
    };
    assert_eq!(version(), "monday");
    write("tuesday", 30);
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while version() != "tuesday" && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(version(), "tuesday");
    assert_eq!(
        request(server.addr, "GET", "/readyz", "text/plain", b"").body["profiles"],
        30
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves a test policy directly (beside the policy store: these tests are about decisions,
/// not publishing).
fn install(server: &Running, name: &str, component: &[u8], limits: Option<Limits>) {
    let loaded = server
        .state
        .engine
        .load(PolicySource {
            name,
            component,
            config: None,
            limits,
        })
        .unwrap();
    server.state.registry.install(
        name,
        tailor_host::registry::Entry {
            active: Arc::new(tailor_host::registry::PolicyVersion::new(
                loaded,
                tailor_host::registry::digest(component, None),
                server.state.config.default_share(),
            )),
            canary: None,
        },
    );
}

#[test]
fn segment_decisions_are_shareable_only_for_policies_that_opt_in() {
    let server = start(|_| {});
    let get = |query: &str| {
        request(
            server.addr,
            "GET",
            &format!("/v1/segment-decide?{query}"),
            "application/json",
            b"",
        )
    };
    let gold = get("policy=hero-banner&channel=web&tier=gold");
    assert_eq!(gold.status, 200, "{}", gold.body);
    assert_eq!(gold.body["variant"], "gold-double-points", "{}", gold.body);
    assert!(
        gold.headers.contains("cache-control: public, max-age=300"),
        "{}",
        gold.headers
    );
    // No segment: the non-personalized answer, shareable too.
    let everyone = get("policy=hero-banner&channel=web");
    assert_eq!(everyone.status, 200, "{}", everyone.body);
    assert!(everyone.body.get("customer_id").is_none());
    let cases = [
        (
            "policy=next-best-offer&channel=web&segment=vip",
            422,
            "not_segment_cacheable",
        ),
        ("policy=nope&channel=web", 422, "unknown_policy"),
        ("channel=web", 400, "invalid_query"),
        (
            "policy=hero-banner&policy=other&channel=web",
            400,
            "invalid_query",
        ),
        (
            "policy=hero-banner&channel=web&colour=red",
            400,
            "invalid_query",
        ),
        (
            "policy=hero-banner&channel=web&segment=",
            422,
            "invalid_query",
        ),
    ];
    for (query, status, code) in cases {
        let reply = get(query);
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], code, "{query}: {}", reply.body);
        assert!(
            reply.headers.contains("cache-control: no-store"),
            "{query}: {}",
            reply.headers
        );
    }
    let missing = get("channel=web");
    assert!(
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("policy"),
        "{}",
        missing.body
    );
}

#[test]
fn a_dedupe_slot_shows_no_item_an_earlier_slot_shows() {
    let server = start(|_| {});
    let candidates: Vec<Value> = (0..8)
        .map(|i| {
            json!({"id": format!("o{i}"), "tags": [format!("category:c{}", i % 3)],
                   "numbers": {"discount": 0.05 * f64::from(i), "margin": 0.3}})
        })
        .collect();
    let slot = |id: &str, dedupe: bool| json!({"id": id, "policy": "next-best-offer", "candidates": candidates, "dedupe": dedupe});
    let reply = decide(
        server.addr,
        &json!({
            "channel": "web",
            "unit": {"customer_id": "cust-000042"},
            "slots": [slot("top", false), slot("again", false), slot("more", true)],
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let items = |index: usize| -> Vec<String> {
        let slot = &reply.body["slots"][index];
        assert!(slot["error"].is_null(), "{slot}");
        slot["items"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (top, again, more) = (items(0), items(1), items(2));
    assert!(!top.is_empty(), "{}", reply.body);
    assert_eq!(
        top, again,
        "without dedupe two identical slots repeat each other"
    );
    assert!(!more.is_empty(), "{}", reply.body);
    for item in &more {
        assert!(
            !top.contains(item),
            "{item} repeats an earlier slot: {}",
            reply.body
        );
    }
}
