//! The policy lifecycle over real HTTP: publish, hot swap under load, rollback, canaries,
//! automatic rollback, signatures, the watched directory, and restarts (kill -9 included).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use base64::Engine as _;
use common::{
    ADMIN, Reply, Running, admin, decide, describe_policy as describe, publish_policy as publish,
    spawn_binary, start,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tailor_host::lifecycle::signing::SecretKey;

fn hero() -> &'static tailor_policies::BundledPolicy {
    tailor_policies::find("hero-banner").unwrap()
}

/// The hero-banner config with another default variant: a config-only change whose effect a
/// decision shows.
fn hero_config(default_variant: &str) -> String {
    let mut config: Value = serde_json::from_str(hero().config.unwrap()).unwrap();
    config["default_variant"] = json!(default_variant);
    config["variants"][default_variant] = json!({
        "headline": format!("Campaign {default_variant}"),
        "image": "/img/hero/campaign.jpg",
        "cta": "Shop now",
        "url": "/c/campaign",
    });
    // Everyone untargeted gets the default: no experiment.
    config.as_object_mut().unwrap().remove("experiment");
    serde_json::to_string_pretty(&config).unwrap()
}

fn component_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn action(addr: SocketAddr, name: &str, verb: &str) -> Reply {
    admin(
        addr,
        "POST",
        &format!("/admin/v1/policies/{name}/{verb}"),
        Some(ADMIN),
        b"",
    )
}

/// A decision for an untargeted customer (no tier, no segment) in the sample snapshot.
fn hero_decision(addr: SocketAddr, customer: &str) -> (String, String) {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": customer},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let slot = &reply.body["slots"][0];
    (
        slot["version"].as_str().unwrap().to_owned(),
        slot["variant"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The first 20 sample customers are all answered by `digest`.
fn every_customer_gets(addr: SocketAddr, digest: &str) {
    for i in 0..20 {
        assert_eq!(hero_decision(addr, &format!("cust-{i:06}")).0, digest);
    }
}

fn with_admin(file: &mut tailor_host::config::ServeConfig) {
    file.admin_token = Some(ADMIN.into());
}

/// An anonymous visitor: untargeted, so the default variant shows which config served it.
fn anonymous_decision(addr: SocketAddr, visitor: &str) -> Value {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"anonymous_id": visitor},
                "consent": {"personalization": true},
                "slots": [{"id": "a", "policy": "hero-banner"}, {"id": "b", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[test]
fn a_hundred_swaps_under_load_drop_nothing_and_never_mix_versions() {
    let server = start(with_admin);
    let addr = server.addr;
    // Two configs, alternated: each digest must always answer with its own default variant.
    let configs = [hero_config("swap-a"), hero_config("swap-b")];
    let mut expected = HashMap::new();
    for (config, variant) in configs.iter().zip(["swap-a", "swap-b"]) {
        expected.insert(
            tailor_host::registry::digest(hero().component, Some(config)),
            variant,
        );
    }
    let first = publish(addr, "hero-banner", &json!({"config": configs[0]}));
    assert_eq!(first.status, 200, "{}", first.body);

    let stop = Arc::new(AtomicBool::new(false));
    let expected = Arc::new(expected);
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let stop = stop.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                let mut seen = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let body = anonymous_decision(addr, &format!("visitor-{i}-{seen}"));
                    let slots = body["slots"].as_array().unwrap();
                    for slot in slots {
                        assert!(slot["error"].is_null(), "a slot failed: {body}");
                        let version = slot["version"].as_str().unwrap();
                        let variant = expected
                            .get(version)
                            .unwrap_or_else(|| panic!("unknown version in {body}"));
                        assert_eq!(slot["variant"], *variant, "a slot mixed versions: {body}");
                    }
                    // Both slots of one request resolve the policy once: same version.
                    assert_eq!(slots[0]["version"], slots[1]["version"], "{body}");
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for i in 1..=100 {
        let reply = publish(addr, "hero-banner", &json!({"config": configs[i % 2]}));
        assert_eq!(reply.status, 200, "swap {i}: {}", reply.body);
        assert_eq!(
            reply.body["precompiled"], true,
            "a config-only change needs no compile"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let decided: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(decided > 0);
    let metrics = common::request(addr, "GET", "/metrics", "text/plain", b"").body;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("tailor_policy_swaps_total{policy=\"hero-banner\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tailor_policy_publish_to_first_decision_seconds{policy=\"hero-banner\"}")
    );
}

#[test]
fn rollback_returns_to_the_previous_version_at_once() {
    let server = start(with_admin);
    let addr = server.addr;
    let before = describe(addr, "hero-banner")["active"]["digest"].clone();
    let reply = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("rolled-forward")}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        anonymous_decision(addr, "v1")["slots"][0]["variant"],
        "rolled-forward"
    );

    let back = action(addr, "hero-banner", "rollback");
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.body["active"], before);
    assert_eq!(
        anonymous_decision(addr, "v1")["slots"][0]["version"],
        before
    );
    let detail = describe(addr, "hero-banner");
    let last = detail["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "rolled_back", "{detail}");
    assert_eq!(detail["delivery"]["rollbacks_manual"], 1);
    // Nothing earlier than the seeded version: a second rollback is refused, naming why.
    let again = action(addr, "hero-banner", "rollback");
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["error"]["code"], "nothing_to_roll_back");
}

#[test]
fn a_canary_serves_a_stable_share_of_units_then_promotes_or_aborts() {
    let server = start(with_admin);
    let addr = server.addr;
    let stable = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("stable")}),
    );
    assert_eq!(stable.status, 200, "{}", stable.body);
    let canary = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("canary"), "canary_percent": 30}),
    );
    assert_eq!(canary.status, 200, "{}", canary.body);
    assert_eq!(canary.body["status"], "canary");
    let canary_digest = canary.body["digest"].as_str().unwrap().to_owned();

    let mut in_canary = 0;
    for i in 0..200 {
        let customer = format!("cust-{i:06}");
        let (first, _) = hero_decision(addr, &customer);
        let (second, _) = hero_decision(addr, &customer);
        assert_eq!(first, second, "{customer} switched versions");
        let bucket = tailor_bucketing::bucket("tailor-canary:hero-banner", &customer);
        assert_eq!(
            first == canary_digest,
            tailor_bucketing::in_rollout(bucket, 3000),
            "{customer}"
        );
        in_canary += usize::from(first == canary_digest);
    }
    assert!(
        (30..=90).contains(&in_canary),
        "{in_canary} of 200 in a 30% canary"
    );
    // A plain publish while a canary runs is refused: promote or abort first.
    let blocked = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("other")}),
    );
    assert_eq!(blocked.status, 409, "{}", blocked.body);

    let promoted = action(addr, "hero-banner", "promote");
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    every_customer_gets(addr, &canary_digest);
    let again = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("next"), "canary_percent": 50}),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let aborted = action(addr, "hero-banner", "abort");
    assert_eq!(aborted.status, 200, "{}", aborted.body);
    every_customer_gets(addr, &canary_digest);
}

#[test]
fn a_failing_version_is_rolled_back_automatically() {
    let server = start(|file| {
        with_admin(file);
        file.auto_rollback_min_decisions = 10;
        file.auto_rollback_error_rate = 0.2;
    });
    let addr = server.addr;
    let good = describe(addr, "hero-banner")["active"]["digest"].clone();
    let bad = publish(
        addr,
        "hero-banner",
        &json!({"component": component_b64(tailor_test_policies::PANICKER)}),
    );
    assert_eq!(bad.status, 200, "{}", bad.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Failing slots still answer (their default, reason ERROR).
        let body = anonymous_decision(addr, "v");
        if body["slots"][0]["version"] == good {
            break;
        }
        assert_eq!(body["slots"][0]["reason"], "ERROR", "{body}");
        assert!(Instant::now() < deadline, "never rolled back");
        std::thread::sleep(Duration::from_millis(20));
    }
    let detail = describe(addr, "hero-banner");
    let last = detail["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "auto_rolled_back", "{detail}");
    assert!(
        last["detail"].as_str().unwrap().contains("failure rate"),
        "{detail}"
    );
    assert_eq!(detail["delivery"]["rollbacks_automatic"], 1);
}

#[test]
fn bad_uploads_are_refused_and_the_active_version_keeps_serving() {
    let server = start(with_admin);
    let addr = server.addr;
    let active = describe(addr, "hero-banner")["active"]["digest"].clone();
    let failing_fixture = json!({
        "name": "expects-the-wrong-variant",
        "context": {"channel": "web", "slot": "hero", "now_ms": 1774000000000i64},
        "expected": {"decision": {"variant": "nope", "reason": "DEFAULT"}},
    });
    let cases = [
        (
            json!({"component": component_b64(b"not wasm")}),
            422,
            "not_a_component",
        ),
        (
            json!({"component": component_b64(tailor_test_policies::WRONG_WORLD)}),
            422,
            "wrong_world",
        ),
        (
            json!({"component": component_b64(tailor_test_policies::FORBIDDEN_FILESYSTEM)}),
            422,
            "forbidden_import",
        ),
        (json!({"component": "%%%"}), 400, "invalid_body"),
        (json!({"config": "{not json"}), 422, "invalid_publish"),
        (
            json!({"config": hero_config("x"), "canary_percent": 100}),
            422,
            "invalid_publish",
        ),
        (
            json!({"config": hero_config("x"), "fixtures": [failing_fixture]}),
            422,
            "fixture_failed",
        ),
        (
            json!({"config": hero_config("x"), "colour": 1}),
            400,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let reply = publish(addr, "hero-banner", &body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
        assert_eq!(anonymous_decision(addr, "v")["slots"][0]["version"], active);
    }
    let detail = describe(addr, "hero-banner");
    let refused = detail["refused"].as_array().unwrap();
    assert!(refused.len() >= 6, "{detail}");
    // A refusal after the version was hashed names the digest it would have had; one before
    // (a request that never became a version) has none.
    let refusal = |about: &str| {
        refused
            .iter()
            .find(|r| r["detail"].as_str().unwrap_or("").contains(about))
            .unwrap_or_else(|| panic!("no refusal about {about:?}: {detail}"))
    };
    for about in ["fixture case", "not a valid Wasm component"] {
        let digest = refusal(about)["digest"].as_str().unwrap();
        assert!(
            digest.starts_with("sha256:") && active != digest,
            "{about}: {digest}"
        );
    }
    assert_eq!(refusal("not valid JSON")["digest"], "", "{detail}");
    let bad_name = publish(addr, "Bad%20Name", &json!({"config": "{}"}));
    assert_eq!(bad_name.status, 422, "{}", bad_name.body);
    // A fixture the version passes lets it through.
    let passing = json!({
        "name": "untargeted-visitor-gets-the-default",
        "context": {"channel": "web", "slot": "hero", "now_ms": 1774000000000i64, "anonymous_id": "v"},
        "profile": {"consent": {"personalization": true}},
        "expected": {"decision": {"variant": "fixture-checked", "reason": "DEFAULT", "ttl_seconds": 300,
            "render": {"headline": "Campaign fixture-checked", "image": "/img/hero/campaign.jpg",
                       "cta": "Shop now", "url": "/c/campaign"}}},
    });
    let ok = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("fixture-checked"), "fixtures": [passing]}),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["fixtures_passed"], 1);
}

fn signed_node(dir_tag: &str) -> (Running, SecretKey, std::path::PathBuf) {
    let keys = std::env::temp_dir().join(format!("tailor-keys-{dir_tag}-{}", std::process::id()));
    std::fs::create_dir_all(&keys).unwrap();
    let secret = SecretKey::generate().unwrap();
    let public = keys.join("fleet.pub");
    std::fs::write(&public, secret.public().to_text()).unwrap();
    let trusted = public.clone();
    let server = start(move |file| {
        with_admin(file);
        file.trusted_keys = vec![trusted];
    });
    (server, secret, keys)
}

#[test]
fn a_node_with_trusted_keys_refuses_unsigned_and_wrongly_signed_policies() {
    let (server, secret, keys) = signed_node("refuse");
    let addr = server.addr;
    // Signatures required: the unsigned examples were not seeded.
    assert_eq!(
        admin(addr, "GET", "/admin/v1/policies", Some(ADMIN), b"").body["policies"],
        json!([])
    );
    let config = hero_config("signed");
    let digest = tailor_host::registry::digest(hero().component, Some(&config));
    let body = |signature: Option<String>| json!({"component": component_b64(hero().component), "config": config, "signature": signature});
    let stranger = SecretKey::generate().unwrap();
    let other_digest = tailor_host::registry::digest(hero().component, Some("{}"));
    let refusals = [
        (None, "signature_missing"),
        (Some(stranger.sign(&digest)), "signature_unknown_key"),
        (Some(secret.sign(&other_digest)), "signature_invalid"),
        (Some("ed25519:garbage".to_owned()), "signature_malformed"),
    ];
    for (signature, code) in refusals {
        let reply = publish(addr, "hero-banner", &body(signature));
        assert_eq!(reply.status, 403, "{}", reply.body);
        assert_eq!(reply.body["error"]["code"], code, "{}", reply.body);
    }
    let ok = publish(addr, "hero-banner", &body(Some(secret.sign(&digest))));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["signed_by"], secret.public().key_id());
    assert_eq!(
        anonymous_decision(addr, "v")["slots"][0]["variant"],
        "signed"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(keys);
}

#[test]
fn a_restart_serves_the_last_committed_set_from_the_precompiled_cache() {
    let dir = std::env::temp_dir().join(format!("tailor-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = ["--sample-profiles", "200", "--admin-token", ADMIN];
    let mut node = spawn_binary(&dir, &args);
    let published = publish(
        node.addr,
        "hero-banner",
        &json!({"config": hero_config("kept")}),
    );
    assert_eq!(published.status, 200, "{}", published.body);
    node.kill();

    let mut node = spawn_binary(&dir, &args);
    let body = anonymous_decision(node.addr, "v");
    node.kill();
    assert_eq!(
        body["slots"][0]["version"], published.body["digest"],
        "{body}"
    );
    assert_eq!(body["slots"][0]["variant"], "kept");
    let precompiled = std::fs::read_dir(dir.join("policies/precompiled"))
        .unwrap()
        .count();
    assert!(precompiled >= 3, "{precompiled} precompiled artifacts");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_kill_9_mid_publish_restarts_on_a_whole_committed_version() {
    let dir = std::env::temp_dir().join(format!("tailor-kill9-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = ["--sample-profiles", "200", "--admin-token", ADMIN];
    for round in 0..3 {
        let mut node = spawn_binary(&dir, &args);
        let addr = node.addr;
        // A publisher sends config changes back to back. After the node has acknowledged a
        // few (its own sign that publishing is under way), it is killed while the next one is
        // in flight; the publisher stops at the first one that was not acknowledged.
        let (acked_tx, acked_rx) = std::sync::mpsc::channel();
        let publisher = std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            for i in 0..100_000 {
                let config = hero_config(&format!("round-{round}-{i}"));
                let reply = std::panic::catch_unwind(|| {
                    publish(addr, "hero-banner", &json!({"config": config}))
                });
                match reply {
                    Ok(reply) if reply.status == 200 => {
                        acknowledged.push(reply.body["digest"].clone());
                        let _ = acked_tx.send(acknowledged.len());
                    }
                    _ => break,
                }
            }
            acknowledged
        });
        // A different number each round, so the kill lands at different points.
        let before_kill = 3 + 4 * round;
        loop {
            match acked_rx.recv_timeout(Duration::from_secs(60)) {
                Ok(count) if count >= before_kill => break,
                Ok(_) => {}
                Err(e) => node.process.fail(&format!(
                    "acknowledged fewer than {before_kill} publishes ({e})"
                )),
            }
        }
        node.kill();
        let acknowledged = publisher.join().unwrap();
        let mut node = spawn_binary(&dir, &args);
        let addr = node.addr;
        let body = anonymous_decision(addr, "v");
        let detail = describe(addr, "hero-banner");
        node.kill();
        let served = &body["slots"][0]["version"];
        assert!(body["slots"][0]["error"].is_null(), "{body}");
        // The last acknowledged version, or the one in flight when the kill came (committed
        // but not yet acknowledged): never anything older, never a torn one.
        if let Some(last) = acknowledged.last() {
            let history = detail["history"].as_array().unwrap();
            let position = history.iter().rposition(|h| &h["digest"] == last).unwrap();
            assert!(
                history.len() - position <= 2,
                "restarted on an older version: {detail}"
            );
        }
        assert_eq!(&detail["active"]["digest"], served);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("policies/precompiled"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_policy_dropped_in_the_watched_directory_is_published_without_a_restart() {
    let drop_dir = std::env::temp_dir().join(format!("tailor-dropdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&drop_dir);
    std::fs::create_dir_all(&drop_dir).unwrap();
    let watched = drop_dir.clone();
    let server = start(move |file| {
        with_admin(file);
        file.policies_dir = Some(watched);
        file.policies_poll_seconds = 1;
    });
    let addr = server.addr;
    std::fs::write(drop_dir.join("store-hero.wasm"), hero().component).unwrap();
    std::fs::write(
        drop_dir.join("store-hero.config.json"),
        hero_config("dropped-in"),
    )
    .unwrap();
    std::fs::write(drop_dir.join("broken.wasm"), b"not a component").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let reply = decide(
            addr,
            &json!({"channel": "kiosk", "unit": {"anonymous_id": "v"}, "consent": {"personalization": true},
                    "slots": [{"id": "hero", "policy": "store-hero"}]}),
        );
        if reply.status == 200 {
            break reply.body;
        }
        assert!(Instant::now() < deadline, "never published: {}", reply.body);
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body["slots"][0]["variant"], "dropped-in", "{body}");
    let refused = admin(addr, "GET", "/admin/v1/policies/broken", Some(ADMIN), b"");
    assert_eq!(
        refused.status, 404,
        "a broken drop is never served: {}",
        refused.body
    );

    // A dropped version that is rolled back stays withdrawn, even when the sync tool writes
    // its files again.
    let seeded = describe(addr, "hero-banner")["active"]["digest"].clone();
    std::fs::write(
        drop_dir.join("hero-banner.config.json"),
        hero_config("dropped-hero"),
    )
    .unwrap();
    std::fs::write(drop_dir.join("hero-banner.wasm"), hero().component).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while anonymous_decision(addr, "v")["slots"][0]["variant"] != "dropped-hero" {
        assert!(
            Instant::now() < deadline,
            "the dropped hero-banner was never published"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(action(addr, "hero-banner", "rollback").status, 200);
    std::fs::write(
        drop_dir.join("hero-banner.config.json"),
        hero_config("dropped-hero"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let detail = describe(addr, "hero-banner");
        let refused = detail["refused"].as_array().unwrap().clone();
        if refused
            .iter()
            .any(|r| r["detail"].as_str().unwrap().contains("withdrawn"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rewrite was never refused: {detail}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(anonymous_decision(addr, "v")["slots"][0]["version"], seeded);
    drop(server);
    let _ = std::fs::remove_dir_all(drop_dir);
}

#[test]
fn keygen_sign_and_publish_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("tailor-cli-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tailor = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, _, err) = tailor(&["keygen", "--out", "fleet"]);
    assert!(ok, "{err}");
    std::fs::write(dir.join("hero.wasm"), hero().component).unwrap();
    std::fs::write(dir.join("hero.json"), hero_config("from-the-cli")).unwrap();
    let (ok, _, err) = tailor(&[
        "sign",
        "--key",
        "fleet.secret",
        "--component",
        "hero.wasm",
        "--config",
        "hero.json",
        "--out",
        "hero.sig",
    ]);
    assert!(ok, "{err}");

    let data = dir.join("node");
    let trusted = dir.join("fleet.pub");
    let mut node = spawn_binary(
        &data,
        &[
            "--sample-profiles",
            "200",
            "--admin-token",
            ADMIN,
            "--trusted-key",
            trusted.to_str().unwrap(),
        ],
    );
    let addr = node.addr;
    let url = format!("http://{addr}");
    let publish_args = |signature: &'static str| {
        vec![
            "publish",
            "--node",
            &url,
            "--token",
            ADMIN,
            "--name",
            "hero-banner",
            "--component",
            "hero.wasm",
            "--config",
            "hero.json",
            "--signature",
            signature,
        ]
    };
    std::fs::write(
        dir.join("forged.sig"),
        SecretKey::generate().unwrap().sign("sha256:00"),
    )
    .unwrap();
    let (ok, _, refused) = tailor(&publish_args("forged.sig"));
    let (published, out, err) = tailor(&publish_args("hero.sig"));
    let body = anonymous_decision(addr, "v");
    node.kill();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !ok && refused.contains("403") && refused.contains("signature_unknown_key"),
        "{refused}"
    );
    assert!(published, "{err}");
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome["status"], "active");
    assert_eq!(body["slots"][0]["variant"], "from-the-cli", "{body}");
}

/// The versions `tailor_decisions_total` and `tailor_decision_cpu_seconds` have series for.
fn versions_with_series(addr: SocketAddr) -> std::collections::BTreeSet<String> {
    let metrics = common::request(addr, "GET", "/metrics", "text/plain", b"").body;
    let metrics = metrics.as_str().unwrap().to_owned();
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("tailor_decisions_total{policy=\"hero-banner\"")
                || l.starts_with("tailor_decision_cpu_seconds_count{policy=\"hero-banner\"")
        })
        .map(|l| {
            let (_, rest) = l.split_once("version=\"").unwrap();
            rest.split('"').next().unwrap().to_owned()
        })
        .collect()
}

fn short(digest: &str) -> String {
    digest[7..19].to_owned()
}

#[test]
fn ten_published_versions_leave_metric_series_only_for_the_versions_serving() {
    let server = start(with_admin);
    let addr = server.addr;
    let mut digests = Vec::new();
    for i in 0..10 {
        let reply = publish(
            addr,
            "hero-banner",
            &json!({"config": hero_config(&format!("v{i}"))}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        digests.push(reply.body["digest"].as_str().unwrap().to_owned());
        anonymous_decision(addr, &format!("visitor-{i}"));
    }
    let serving = |digests: &[&String]| digests.iter().map(|d| short(d)).collect();
    assert_eq!(versions_with_series(addr), serving(&[&digests[9]]));

    // A canary serves beside the active version; both have series, until the canary ends.
    let canary = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("canary"), "canary_percent": 50}),
    );
    assert_eq!(canary.status, 200, "{}", canary.body);
    let canary = canary.body["digest"].as_str().unwrap().to_owned();
    for i in 0..20 {
        hero_decision(addr, &format!("cust-{i:06}"));
    }
    assert_eq!(versions_with_series(addr), serving(&[&digests[9], &canary]));
    assert_eq!(action(addr, "hero-banner", "abort").status, 200);
    assert_eq!(versions_with_series(addr), serving(&[&digests[9]]));

    // Promoted: the canary is the active version, the one it replaced has no series.
    let next = publish(
        addr,
        "hero-banner",
        &json!({"config": hero_config("next"), "canary_percent": 50}),
    );
    assert_eq!(next.status, 200, "{}", next.body);
    let next = next.body["digest"].as_str().unwrap().to_owned();
    assert_eq!(action(addr, "hero-banner", "promote").status, 200);
    assert_eq!(versions_with_series(addr), serving(&[&next]));

    // Rolled back: the version before it serves again, and only it has series.
    let back = action(addr, "hero-banner", "rollback");
    assert_eq!(back.status, 200, "{}", back.body);
    let active = back.body["active"].as_str().unwrap().to_owned();
    assert_ne!(active, next);
    assert_eq!(versions_with_series(addr), serving(&[&active]));
}
