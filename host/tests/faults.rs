//! Faults with the real binary: kill -9 during event ingestion and during a snapshot reload, a
//! corrupt policy store or event log, corrupt precompiled code, the disk filling up during a
//! publish, the wall clock jumping. The
//! node restarts or continues on its last-known-good state and loses nothing it acknowledged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{ADMIN, Scratch, admin, decide, profile_stores, spawn_binary, spawn_binary_with};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ARGS: [&str; 4] = ["--sample-profiles", "300", "--admin-token", ADMIN];

fn hero_for(addr: SocketAddr, customer: &str) -> Value {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": customer},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Posts the two events that make a customer a consenting platinum member (the hero banner
/// then shows `vip-early-access`).
fn upgrade(addr: SocketAddr, tag: &str, customer: &str) -> common::Reply {
    let body = json!({"events": [
        {"event_id": format!("{tag}-c"), "customer_id": customer, "kind": "consent_change", "at_ms": 1_774_000_100_000i64, "consent": {"personalization": true}},
        {"event_id": format!("{tag}-l"), "customer_id": customer, "kind": "loyalty_change", "at_ms": 1_774_000_100_001i64, "loyalty": {"tier": "platinum", "points": 1}}]});
    common::request(
        addr,
        "POST",
        "/v1/events",
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn active_digest(addr: SocketAddr) -> Value {
    admin(
        addr,
        "GET",
        "/admin/v1/policies/hero-banner",
        Some(ADMIN),
        b"",
    )
    .body["active"]["digest"]
        .clone()
}

/// Batches acknowledged before the kill lands: the node's own 202s trigger it.
const ACKNOWLEDGED_BEFORE_KILL: usize = 20;

#[test]
fn kill_9_during_event_ingestion_loses_no_acknowledged_event() {
    let scratch = Scratch::new("faults-events");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    // Each batch upgrades one customer to platinum. A sender keeps posting batches back to
    // back; after the node has acknowledged some of them, it is killed while the next is in
    // flight, and the sender stops at the first batch that was not acknowledged.
    let (acked_tx, acked_rx) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for i in 0..100_000 {
            let customer = format!("cust-{i:06}");
            let sent = std::panic::catch_unwind(|| upgrade(addr, &format!("k9-{i}"), &customer));
            match sent {
                Ok(reply) if reply.status == 202 => {
                    acknowledged.push(customer);
                    let _ = acked_tx.send(acknowledged.len());
                }
                _ => break,
            }
        }
        acknowledged
    });
    let waited = Instant::now();
    loop {
        match acked_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(count) if count >= ACKNOWLEDGED_BEFORE_KILL => break,
            Ok(_) => {}
            Err(e) => node.process.fail(&format!(
                "acknowledged fewer than {ACKNOWLEDGED_BEFORE_KILL} batches in {:?} ({e})",
                waited.elapsed()
            )),
        }
    }
    node.kill();
    let acknowledged = sender.join().unwrap();
    assert!(acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL);
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|c| hero_for(addr, c)["slots"][0]["variant"] != "vip-early-access")
        .collect();
    node.kill();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

#[test]
fn kill_9_during_a_snapshot_reload_restarts_clean() {
    let scratch = Scratch::new("faults-reload");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    assert_eq!(profile_stores(&scratch.0), 1);
    let big = scratch.0.join("big.ndjson");
    tailor_host::profiles::sample::write(&big, 200_000).unwrap();
    let path = big.to_str().unwrap().to_owned();
    let reload = std::thread::spawn(move || {
        let body = json!({ "path": path }).to_string();
        std::panic::catch_unwind(|| {
            admin(
                addr,
                "POST",
                "/admin/v1/snapshot",
                Some(ADMIN),
                body.as_bytes(),
            )
        })
    });
    // The node's own sign that the reload is under way: the store it builds aside appears
    // beside the serving one. The kill lands while that build runs.
    let deadline = Instant::now() + Duration::from_secs(120);
    while profile_stores(&scratch.0) < 2 {
        assert!(
            !reload.is_finished(),
            "the reload ended before its store was seen: {:?}",
            reload.join().map(|r| r.map(|reply| reply.body))
        );
        if Instant::now() > deadline {
            node.process
                .fail("never started building the reloaded store");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    node.kill();
    let answered = reload.join().unwrap();
    assert!(
        answered.is_err(),
        "the reload was answered before the kill: {:?}",
        answered.map(|reply| reply.body)
    );
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let body = hero_for(addr, "cust-000042");
    let stores = profile_stores(&scratch.0);
    node.kill();
    assert_eq!(body["profile"]["snapshot_version"], "sample-300", "{body}");
    assert_eq!(stores, 1, "the half-built store was left behind");
}

#[test]
fn a_corrupt_policy_store_is_moved_aside_and_the_node_still_starts() {
    let scratch = Scratch::new("faults-store");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    node.kill();
    let store = scratch.0.join("policies/policies.redb");
    let mut bytes = std::fs::read(&store).unwrap();
    bytes.truncate(bytes.len() / 3);
    std::fs::write(&store, &bytes).unwrap();
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let body = hero_for(addr, "cust-000042");
    node.kill();
    assert!(body["slots"][0]["error"].is_null(), "{body}");
    let aside = std::fs::read_dir(scratch.0.join("policies"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("policies.redb.corrupt-")
        })
        .count();
    assert_eq!(aside, 1, "the corrupt store was not kept aside");
}

#[test]
fn corrupt_precompiled_code_is_recompiled_not_run() {
    let scratch = Scratch::new("faults-precompiled");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let before = active_digest(addr);
    node.kill();
    let dir = scratch.0.join("policies/precompiled");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(entry.path()).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(entry.path(), &bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged >= 3, "{damaged} precompiled files");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let body = hero_for(addr, "cust-000042");
    let after = active_digest(addr);
    node.kill();
    assert!(body["slots"][0]["error"].is_null(), "{body}");
    assert_eq!(before, after);
}

#[test]
fn a_full_disk_during_a_publish_refuses_it_and_keeps_the_committed_set() {
    let scratch = Scratch::new("faults-disk");
    // The node runs with a cap on file size (as a full disk would stop it), SIGXFSZ ignored so
    // a write past the cap fails with EFBIG instead of killing the process.
    let data = scratch.0.to_str().unwrap().to_owned();
    let mut node = common::Node::start(std::process::Command::new("bash").args([
            "-c",
            &format!(
                "trap '' XFSZ; ulimit -f 4096; exec {} serve --listen 127.0.0.1:0 --deadline-ms 5000 --data-dir {data} {}",
                env!("CARGO_BIN_EXE_tailor"),
                ARGS.join(" ")
            ),
    ]));
    let addr = node.addr;

    let hero = tailor_policies::find("hero-banner").unwrap();
    let mut config: Value = serde_json::from_str(hero.config.unwrap()).unwrap();
    let mut last_good = active_digest(addr);
    let started = Instant::now();
    let refused = loop {
        // Each version carries a few MB of config, so the store soon needs more than the cap.
        config["padding"] = json!(format!("{:x}", started.elapsed().as_nanos()).repeat(50_000));
        let body = json!({"config": config.to_string()}).to_string();
        let reply = admin(
            addr,
            "PUT",
            "/admin/v1/policies/hero-banner",
            Some(ADMIN),
            body.as_bytes(),
        );
        if reply.status == 200 {
            last_good = reply.body["digest"].clone();
        } else {
            break reply;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the cap was never reached"
        );
    };
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "policy_store",
        "{}",
        refused.body
    );
    // Still serving, on the last committed version.
    assert_eq!(
        hero_for(addr, "cust-000042")["slots"][0]["version"],
        last_good
    );
    node.kill();
    // Restarted with room: the same committed set.
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let after = active_digest(addr);
    node.kill();
    assert_eq!(after, last_good);
}

#[test]
fn a_corrupt_event_log_stops_start_up_naming_the_file() {
    // Acknowledged events live only there: refusing to start is the one answer that loses
    // none of them silently.
    let scratch = Scratch::new("faults-events-log");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    node.kill();
    let log = scratch.0.join("events.redb");
    std::fs::write(&log, b"not a database").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&scratch.0)
        .args(ARGS)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("events.redb"), "{stderr}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b"not a database",
        "the log was touched"
    );
}

#[test]
fn a_wall_clock_jump_changes_nothing_but_the_time() {
    let scratch = Scratch::new("faults-clock");
    let stamp = scratch.0.join("faketime");
    std::fs::write(&stamp, "+0").unwrap();
    let data = scratch.0.join("data");
    // Only the wall clock moves (as an NTP step would); the monotonic clock keeps its pace.
    let libfaketime = common::packages::require(common::packages::FAKETIME);
    let mut node = spawn_binary_with(
        &data,
        &ARGS,
        &[
            ("LD_PRELOAD", libfaketime.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", stamp.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let addr = node.addr;
    let start = hero_for(addr, "cust-000001");
    assert_eq!(start["slots"][0]["error"], Value::Null);
    let age = |body: &Value| body["profile"]["age_seconds"].as_i64().unwrap();
    for (i, (jump, days)) in [("-1d", -1), ("+365d", 365), ("-3650d", -3650)]
        .into_iter()
        .enumerate()
    {
        std::fs::write(&stamp, jump).unwrap();
        // The node's wall clock really moved: the snapshot's age shows it (never below zero:
        // a clock behind the export's own time reports a fresh snapshot).
        let now_age = age(&hero_for(addr, "cust-000001"));
        let expected = (age(&start) + days * 86_400).max(0);
        assert!(
            (now_age - expected).abs() < 600,
            "{jump}: snapshot age {now_age} s, expected {expected} s"
        );
        let customer = format!("cust-00001{i}");
        assert_eq!(
            upgrade(addr, &format!("jump-{i}"), &customer).status,
            202,
            "{jump}"
        );
        let body = hero_for(addr, &customer);
        assert_eq!(
            body["slots"][0]["variant"], "vip-early-access",
            "{jump}: {body}"
        );
        let hero = tailor_policies::find("hero-banner").unwrap();
        let mut config: Value = serde_json::from_str(hero.config.unwrap()).unwrap();
        config["ttl_seconds"] = json!(100 + i);
        let published = admin(
            addr,
            "PUT",
            "/admin/v1/policies/hero-banner",
            Some(ADMIN),
            json!({"config": config.to_string()}).to_string().as_bytes(),
        );
        assert_eq!(published.status, 200, "{jump}: {}", published.body);
        assert_eq!(
            common::request(addr, "GET", "/readyz", "application/json", b"").status,
            200
        );
    }
    node.kill();
    // Restarted on the true clock: everything acknowledged under the jumps is there.
    let mut node = spawn_binary(&data, &ARGS);
    let addr = node.addr;
    let after: Vec<Value> = (0..3)
        .map(|i| hero_for(addr, &format!("cust-00001{i}"))["slots"][0]["variant"].clone())
        .collect();
    node.kill();
    assert!(after.iter().all(|v| v == "vip-early-access"), "{after:?}");
}

#[test]
fn kill_9_after_a_delta_snapshot_restarts_serving_it() {
    let scratch = Scratch::new("faults-delta");
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let delta = scratch.0.join("delta.ndjson");
    let write_delta = |base: &str| {
        std::fs::write(
            &delta,
            format!(
                "{{\"snapshot_version\":\"d1\",\"generated_at_ms\":1774000000001,\"base_version\":\"{base}\"}}\n\
                 {{\"customer_id\":\"cust-000042\",\"segments\":[\"delta\"]}}\n\
                 {{\"customer_id\":\"cust-000043\",\"removed\":true}}\n"
            ),
        )
        .unwrap();
    };
    let body = json!({ "path": delta.to_str().unwrap() }).to_string();
    // On the wrong base: refused, and the whole snapshot keeps serving.
    write_delta("sample-299");
    let refused = admin(
        addr,
        "POST",
        "/admin/v1/snapshot",
        Some(ADMIN),
        body.as_bytes(),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "snapshot_refused",
        "{}",
        refused.body
    );
    write_delta("sample-300");
    let applied = admin(
        addr,
        "POST",
        "/admin/v1/snapshot",
        Some(ADMIN),
        body.as_bytes(),
    );
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert_eq!(applied.body["snapshot_version"], "d1");
    assert_eq!(applied.body["base_version"], "sample-300");
    assert_eq!(applied.body["profiles"], 299);
    // Acknowledged, then the node dies and the delivered file goes: the restart serves it.
    node.kill();
    std::fs::remove_file(&delta).unwrap();
    let mut node = spawn_binary(&scratch.0, &ARGS);
    let addr = node.addr;
    let status = admin(addr, "GET", "/admin/v1/snapshot", Some(ADMIN), b"");
    let changed = hero_for(addr, "cust-000042");
    let removed = hero_for(addr, "cust-000043");
    node.kill();
    assert_eq!(status.body["snapshot_version"], "d1", "{}", status.body);
    assert_eq!(changed["profile"]["snapshot_version"], "d1", "{changed}");
    assert_eq!(removed["profile"]["source"], "anonymous", "{removed}");
}
