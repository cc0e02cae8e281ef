//! OpenFeature remote evaluation (OFREP) over real HTTP on loopback: the wire format and its
//! errors against the in-process server, then real OpenFeature SDKs (Node's
//! `@openfeature/server-sdk` with `@openfeature/ofrep-provider`, Python's `openfeature-sdk`
//! with `openfeature-provider-ofrep`) against the real `tailor serve`. The SDKs' scripts and
//! pinned versions are in `tests/ofrep/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tailor_host::{Limits, PolicySource};

mod common;
use common::packages::{self, NODEJS, NPM};
use common::python::Python;
use common::{ADMIN, Reply, Running, Scratch, decide, describe, exchange, spawn_binary, start};

const API: &str = "api-token-for-ofrep-0001";
/// A customer of the sample snapshot.
const CUSTOMER: &str = "cust-000042";
/// hero-banner again, its flag's value the creative (`"ofrep": {"value": "render"}`).
const CREATIVE: &str = "hero-creative";

fn creative_config() -> String {
    let mut config: Value =
        serde_json::from_str(include_str!("../../policies/hero-banner/config.json")).unwrap();
    config["ofrep"] = json!({"value": "render"});
    config.to_string()
}

/// `POST` an OFREP route with the API token and these extra headers.
fn ofrep(addr: SocketAddr, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {API}");
    let mut all = vec![
        ("content-type", "application/json"),
        ("authorization", &auth),
    ];
    all.extend_from_slice(headers);
    exchange(addr, "POST", path, &all, body.to_string().as_bytes())
}

fn flag(addr: SocketAddr, key: &str, context: &Value) -> Reply {
    let reply = ofrep(
        addr,
        &format!("/ofrep/v1/evaluate/flags/{key}"),
        &json!({ "context": context }),
        &[],
    );
    assert!(
        reply.headers.contains("content-type: application/json"),
        "{}",
        reply.headers
    );
    reply
}

fn install(server: &Running, name: &str, component: &[u8], config: Option<&str>) {
    let loaded = server
        .state
        .engine
        .load(PolicySource {
            name,
            component,
            config,
            limits: Some(Limits {
                deadline: Duration::from_secs(3),
                ..Limits::default()
            }),
        })
        .unwrap();
    server.state.registry.install(
        name,
        tailor_host::registry::Entry {
            active: Arc::new(tailor_host::registry::PolicyVersion::new(
                loaded,
                tailor_host::registry::digest(component, config),
                server.state.config.default_share(),
            )),
            canary: None,
        },
    );
}

fn server() -> Running {
    let server = start(|file| file.api_token = Some(API.into()));
    let config = creative_config();
    install(
        &server,
        CREATIVE,
        tailor_policies::HERO_BANNER.component,
        Some(&config),
    );
    server
}

/// What `/v1/decide` answers for the same unit and context.
fn decided(addr: SocketAddr, policy: &str, unit: &Value, consent: Option<&Value>) -> Value {
    let mut body = json!({"channel": "web", "unit": unit, "context": {"page": {"kind": "home"}},
        "slots": [{"id": policy, "policy": policy}]});
    if let Some(consent) = consent {
        body["consent"] = consent.clone();
    }
    let auth = format!("Bearer {API}");
    let reply = exchange(
        addr,
        "POST",
        "/v1/decide",
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["slots"][0].clone()
}

#[test]
fn a_flag_is_a_policy_decided_as_v1_decide_decides_it() {
    let server = server();
    let context = json!({"targetingKey": CUSTOMER, "channel": "web", "page": {"kind": "home"}});
    let reply = flag(server.addr, "hero-banner", &context);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let same = decided(
        server.addr,
        "hero-banner",
        &json!({"customer_id": CUSTOMER}),
        None,
    );
    let answer = &reply.body;
    assert_eq!(answer["key"], "hero-banner");
    assert_eq!(answer["value"], same["variant"], "{answer} vs {same}");
    assert_eq!(answer["variant"], same["variant"]);
    assert_eq!(answer["reason"], same["reason"]);
    assert_eq!(answer["metadata"]["version"], same["version"]);
    assert!(reply.headers.contains("cache-control: private, no-store"));

    // A key the snapshot does not know is an anonymous visitor bucketed on it: the same arm
    // as /v1/decide gives that anonymous id.
    let consent = json!({"personalization": true, "marketing": false, "analytics": true,
        "third_party_sharing": false});
    let visitor =
        json!({"targetingKey": "visitor-7", "page": {"kind": "home"}, "consent": consent});
    let reply = flag(server.addr, "hero-banner", &visitor);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let same = decided(
        server.addr,
        "hero-banner",
        &json!({"anonymous_id": "visitor-7"}),
        Some(&consent),
    );
    assert_eq!(reply.body["reason"], "SPLIT", "{}", reply.body);
    assert_eq!(reply.body["value"], same["variant"]);
    assert_eq!(
        reply.body["metadata"]["experiment"],
        same["experiment"]["key"]
    );
    assert_eq!(reply.body["metadata"]["arm"], same["experiment"]["variant"]);
}

#[test]
fn the_value_is_the_render_map_where_the_policys_config_says_so() {
    let server = server();
    let context = json!({"targetingKey": CUSTOMER, "page": {"kind": "home"}});
    let reply = flag(server.addr, CREATIVE, &context);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let same = decided(
        server.addr,
        CREATIVE,
        &json!({"customer_id": CUSTOMER}),
        None,
    );
    assert_eq!(reply.body["value"], same["render"], "{}", reply.body);
    assert!(reply.body["value"]["headline"].is_string());
    assert_eq!(reply.body["variant"], same["variant"]);
}

#[test]
fn refusals_are_ofreps_error_codes() {
    let server = server();
    let addr = server.addr;
    let key = json!({"targetingKey": CUSTOMER});
    let unknown = flag(addr, "no-such-flag", &key);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.body["key"], "no-such-flag");
    assert_eq!(unknown.body["errorCode"], "FLAG_NOT_FOUND");

    let cases = [
        (
            json!({"context": {"plan": "gold"}}),
            "TARGETING_KEY_MISSING",
        ),
        (
            json!({"context": {"targetingKey": ""}}),
            "TARGETING_KEY_MISSING",
        ),
        (json!({"context": {"targetingKey": 42}}), "INVALID_CONTEXT"),
        (
            json!({"context": {"targetingKey": "k", "device": 3}}),
            "INVALID_CONTEXT",
        ),
        (
            json!({"context": {"targetingKey": "k", "nested": {"a": 1}}}),
            "INVALID_CONTEXT",
        ),
        (json!({"no": "context"}), "PARSE_ERROR"),
        (json!([1]), "PARSE_ERROR"),
    ];
    for (body, code) in cases {
        let single = ofrep(addr, "/ofrep/v1/evaluate/flags/hero-banner", &body, &[]);
        assert_eq!(
            (single.status, &single.body["errorCode"]),
            (400, &json!(code)),
            "{body}: {}",
            single.body
        );
        assert_eq!(single.body["key"], "hero-banner");
        assert!(single.body["errorDetails"].is_string());
        let bulk = ofrep(addr, "/ofrep/v1/evaluate/flags", &body, &[]);
        assert_eq!(
            (bulk.status, &bulk.body["errorCode"]),
            (400, &json!(code)),
            "{body}: {}",
            bulk.body
        );
    }
    let garbled = exchange(
        addr,
        "POST",
        "/ofrep/v1/evaluate/flags/hero-banner",
        &[("authorization", &format!("Bearer {API}"))],
        b"{not json",
    );
    assert_eq!(garbled.status, 400);
    assert_eq!(garbled.body["errorCode"], "PARSE_ERROR");

    // A policy that fails is a general error, as the SDKs expect it, not a value.
    install(&server, "panicker", tailor_test_policies::PANICKER, None);
    let failed = flag(addr, "panicker", &key);
    assert_eq!(failed.status, 500, "{}", failed.body);
    assert_eq!(failed.body["errorCode"], "GENERAL");
    assert!(failed.body["errorDetails"].is_string());
}

#[test]
fn the_api_token_is_asked_for_401_and_a_wrong_one_refused_403() {
    let server = server();
    let body = json!({"context": {"targetingKey": CUSTOMER}}).to_string();
    for path in [
        "/ofrep/v1/evaluate/flags/hero-banner",
        "/ofrep/v1/evaluate/flags",
    ] {
        let none = exchange(
            server.addr,
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(none.status, 401, "{path}: {}", none.body);
        let wrong = exchange(
            server.addr,
            "POST",
            path,
            &[("authorization", "Bearer not-the-token")],
            body.as_bytes(),
        );
        assert_eq!(wrong.status, 403, "{path}: {}", wrong.body);
        let right = ofrep(
            server.addr,
            path,
            &json!({"context": {"targetingKey": CUSTOMER}}),
            &[],
        );
        assert_eq!(right.status, 200, "{path}: {}", right.body);
    }
}

/// The `ETag` header of a reply.
fn etag(reply: &Reply) -> String {
    reply
        .headers
        .lines()
        .find_map(|line| line.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no etag: {}", reply.headers))
        .trim()
        .to_owned()
}

#[test]
fn bulk_evaluates_every_policy_with_an_etag_that_moves_only_with_the_answers() {
    let server = server();
    let addr = server.addr;
    let body = json!({"context": {"targetingKey": CUSTOMER, "page": {"kind": "home"}}});
    let path = "/ofrep/v1/evaluate/flags";
    let first = ofrep(addr, path, &body, &[]);
    assert_eq!(first.status, 200, "{}", first.body);
    let flags = first.body["flags"].as_array().unwrap();
    let keys: Vec<&str> = flags.iter().map(|f| f["key"].as_str().unwrap()).collect();
    let mut served: Vec<String> = server
        .state
        .registry
        .list()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    served.sort();
    let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    assert_eq!(sorted, served);
    let hero = flags.iter().find(|f| f["key"] == "hero-banner").unwrap();
    let single = flag(addr, "hero-banner", &body["context"]);
    assert_eq!(hero, &single.body);
    let creative = flags.iter().find(|f| f["key"] == CREATIVE).unwrap();
    assert!(creative["value"].is_object(), "{creative}");

    let tag = etag(&first);
    let again = ofrep(addr, path, &body, &[("if-none-match", &tag)]);
    assert_eq!(again.status, 304, "{}", again.body);
    assert_eq!(again.body, json!(""), "a 304 has no body");
    assert_eq!(etag(&again), tag);
    let stale = ofrep(addr, path, &body, &[("if-none-match", "\"stale\"")]);
    assert_eq!(stale.status, 200);
    assert_eq!(etag(&stale), tag, "the same answers, the same tag");

    // Another unit gets other answers (another tag); a new version of a policy moves it too.
    let other = ofrep(
        addr,
        path,
        &json!({"context": {"targetingKey": "cust-000043"}}),
        &[("if-none-match", &tag)],
    );
    assert_eq!(other.status, 200);
    let mut config: Value = serde_json::from_str(&creative_config()).unwrap();
    config["ttl_seconds"] = json!(60);
    install(
        &server,
        CREATIVE,
        tailor_policies::HERO_BANNER.component,
        Some(&config.to_string()),
    );
    let moved = ofrep(addr, path, &body, &[("if-none-match", &tag)]);
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_ne!(etag(&moved), tag);
}

#[test]
fn a_busy_node_answers_429_with_retry_after() {
    let server = start(|file| file.max_concurrent_decisions = 1);
    install(&server, "spin", tailor_test_policies::INFINITE_LOOP, None);
    let addr = server.addr;
    let done = Arc::new(AtomicBool::new(false));
    let spinning = done.clone();
    // Holds the only decision slot with a decision that spins to its deadline, again and again
    // until a request was shed (bounded by a minute).
    let busy = std::thread::spawn(move || {
        let give_up = Instant::now() + Duration::from_secs(60);
        while !spinning.load(Ordering::SeqCst) && Instant::now() < give_up {
            let reply = decide(
                addr,
                &json!({"channel": "web", "slots": [{"id": "s", "policy": "spin"}]}),
            );
            if reply.status == 503 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let mut shed = None;
    let give_up = Instant::now() + Duration::from_secs(60);
    while Instant::now() < give_up {
        let reply = exchange(
            addr,
            "POST",
            "/ofrep/v1/evaluate/flags/hero-banner",
            &[("content-type", "application/json")],
            json!({"context": {"targetingKey": CUSTOMER}})
                .to_string()
                .as_bytes(),
        );
        if reply.status == 429 {
            shed = Some(reply);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::SeqCst);
    busy.join().unwrap();
    let shed = shed.expect("no OFREP evaluation was shed while the only slot was busy");
    assert!(shed.headers.contains("retry-after: 1"), "{}", shed.headers);
    assert_eq!(shed.body["key"], "hero-banner");
    assert_eq!(shed.body["errorCode"], "GENERAL");
}

/// The real `tailor serve` with the API and admin tokens, serving hero-creative as well.
fn node(scratch: &Path) -> common::Node {
    let node = spawn_binary(
        &scratch.join("node"),
        &[
            "--api-token",
            API,
            "--admin-token",
            ADMIN,
            "--sample-profiles",
            "500",
        ],
    );
    use base64::Engine as _;
    let published = common::publish_policy(
        node.addr,
        CREATIVE,
        &json!({
            "component": base64::engine::general_purpose::STANDARD
                .encode(tailor_policies::HERO_BANNER.component),
            "config": creative_config(),
        }),
    );
    assert_eq!(published.status, 200, "{}", published.body);
    node
}

/// hero-banner's variant for [`CUSTOMER`], as `/v1/decide` answers it.
fn expected_variant(addr: SocketAddr) -> String {
    let slot = decided(addr, "hero-banner", &json!({"customer_id": CUSTOMER}), None);
    slot["variant"].as_str().unwrap().to_owned()
}

fn scripts() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ofrep")
}

#[test]
fn the_node_sdk_with_the_ofrep_provider_evaluates_flags() {
    let node_bin = packages::require(NODEJS);
    let npm = packages::require(NPM);
    let scratch = Scratch::new("ofrep-node-sdk");
    let project = scratch.0.join("sdk");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::copy(scripts().join("package.json"), project.join("package.json")).unwrap();
    let installed = common::run(
        std::process::Command::new(&npm)
            .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
            .current_dir(&project),
    );
    assert!(
        installed.status.success(),
        "npm install of tests/ofrep/package.json failed: {}",
        describe(&installed)
    );
    let node = node(&scratch.0);
    let variant = expected_variant(node.addr);
    let output = common::run(
        std::process::Command::new(&node_bin)
            .arg(scripts().join("node_sdk.cjs"))
            .args([
                &format!("http://{}", node.addr),
                API,
                CUSTOMER,
                &variant,
                CREATIVE,
            ])
            .env("NODE_PATH", project.join("node_modules")),
    );
    assert!(
        output.status.success(),
        "the Node OpenFeature SDK test failed: {}\nnode log:\n{}",
        describe(&output),
        node.process.stderr()
    );
}

#[test]
fn the_python_sdk_with_the_ofrep_provider_evaluates_flags() {
    let requirements = std::fs::read_to_string(scripts().join("requirements.txt")).unwrap();
    let pinned: Vec<&str> = requirements
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let scratch = Scratch::new("ofrep-python-sdk");
    let python = Python::install(&scratch.0, &pinned);
    let node = node(&scratch.0);
    let variant = expected_variant(node.addr);
    let output = common::run(
        python
            .interpreter()
            .arg(scripts().join("python_sdk.py"))
            .args([
                &format!("http://{}", node.addr),
                API,
                CUSTOMER,
                &variant,
                CREATIVE,
            ]),
    );
    assert!(
        output.status.success(),
        "the Python OpenFeature SDK test failed: {}\nnode log:\n{}",
        describe(&output),
        node.process.stderr()
    );
}

/// The units exposed in an experiment, once the node's outcome log has them all (it records
/// exposures off the request path): polled until `want`, for at most a minute.
fn exposed_units(addr: SocketAddr, key: &str, want: u64) -> u64 {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = common::admin(
            addr,
            "GET",
            &format!("/admin/v1/experiments/{key}"),
            Some(ADMIN),
            b"",
        );
        let units = match reply.status {
            200 => reply.body["arms"]
                .as_array()
                .map(|arms| arms.iter().filter_map(|a| a["exposures"].as_u64()).sum())
                .unwrap_or(0),
            _ => 0,
        };
        if units >= want || Instant::now() > give_up {
            return units;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_evaluation_is_an_exposure_as_any_decision_is() {
    let server = start(|file| {
        file.api_token = Some(API.into());
        file.admin_token = Some(ADMIN.into());
    });
    let consent = json!({"personalization": true, "marketing": false, "analytics": true,
        "third_party_sharing": false});
    let visitor =
        |id: &str| json!({"targetingKey": id, "page": {"kind": "home"}, "consent": consent});
    let reply = flag(server.addr, "hero-banner", &visitor("visitor-1"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let key = reply.body["metadata"]["experiment"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(exposed_units(server.addr, &key, 1), 1);
    // The bulk evaluation decides hero-banner too: another unit exposed.
    let bulk = ofrep(
        server.addr,
        "/ofrep/v1/evaluate/flags",
        &json!({"context": visitor("visitor-2")}),
        &[],
    );
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    assert_eq!(exposed_units(server.addr, &key, 2), 2);
    // Without analytics consent nothing is recorded, as on /v1/decide: once the exposure of
    // a consenting unit evaluated after it is in the log, the other is not.
    let private = json!({"targetingKey": "visitor-3", "consent": {"personalization": true}});
    assert_eq!(flag(server.addr, "hero-banner", &private).status, 200);
    assert_eq!(
        flag(server.addr, "hero-banner", &visitor("visitor-4")).status,
        200
    );
    assert_eq!(exposed_units(server.addr, &key, 3), 3);
    let log = common::admin(
        server.addr,
        "GET",
        "/admin/v1/exposures?since=0",
        Some(ADMIN),
        b"",
    );
    let log = log.body.to_string();
    assert!(log.contains("visitor-4"), "{log}");
    assert!(
        !log.contains("visitor-3"),
        "a unit without analytics consent was exposed: {log}"
    );
}
