//! The fleet with real processes: `tailor serve` nodes (web, app, kiosk) joined through a real
//! `nats-server -js` on loopback. An event at one node shows at the others; a broker that is
//! away loses nothing and applies nothing twice once it is back; a node killed mid-stream or
//! joining late catches up; a tag that moves is served by every follower at once, and an
//! unsigned version announced on the broker is refused by each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::fleet::{
    PATIENCE, items_seen, page_views, post_events, publish_echo, status, wait_for_items,
};
use common::nats::Broker;
use common::registry::{
    push_version, push_version_with, start_registry, variant_served, wait_for_refusal,
    wait_for_variant, write_version,
};
use common::{ADMIN, Node, Scratch, decide, request, run_tailor, spawn_binary};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// A node named `name` in the fleet of `broker`, with its data under `scratch/name`, serving
/// the echo policy (which shows the events a profile holds).
fn node(scratch: &Path, name: &str, broker: &Broker) -> Node {
    let node = node_with(scratch, name, broker, &[]);
    publish_echo(&node);
    node
}

/// A node named `name` in the fleet of `broker` with more `tailor serve` arguments, serving
/// only what they give it.
fn node_with(scratch: &Path, name: &str, broker: &Broker, extra: &[&str]) -> Node {
    let url = broker.url();
    let mut args = vec![
        "--sample-profiles",
        "300",
        "--admin-token",
        ADMIN,
        "--events-broker",
        &url,
        "--node-id",
        name,
        "--log",
        "info",
    ];
    args.extend_from_slice(extra);
    spawn_binary(&scratch.join(name), &args)
}

fn hero_variant(addr: SocketAddr, customer: &str) -> Value {
    let reply = decide(
        addr,
        &json!({"channel": "kiosk", "unit": {"customer_id": customer},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["slots"][0]["variant"].clone()
}

#[test]
fn an_event_at_one_node_shows_at_every_other_and_so_does_a_consent_withdrawal() {
    let scratch = Scratch::new("fleet-three");
    let broker = Broker::start("127.0.0.51", &scratch.0);
    let web = node(&scratch.0, "web", &broker);
    let mut app = node(&scratch.0, "app", &broker);
    let mut kiosk = node(&scratch.0, "kiosk", &broker);
    let customer = "cust-000042";
    assert_ne!(hero_variant(kiosk.addr, customer), "vip-early-access");

    // She becomes a consenting platinum member on the web.
    let upgrade = json!({"events": [
        {"event_id": "web-consent-1", "customer_id": customer, "kind": "consent_change",
         "at_ms": 1_774_000_100_000i64, "consent": {"personalization": true}},
        {"event_id": "web-loyalty-1", "customer_id": customer, "kind": "loyalty_change",
         "at_ms": 1_774_000_100_001i64, "loyalty": {"tier": "platinum", "points": 1}}]});
    assert_eq!(post_events(web.addr, &upgrade).status, 202);
    for other in [&mut app, &mut kiosk] {
        let deadline = Instant::now() + PATIENCE;
        while hero_variant(other.addr, customer) != "vip-early-access" {
            if Instant::now() > deadline {
                other.process.fail("never saw the upgrade made on the web");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // She withdraws consent in the app: the kiosk stops personalizing for her.
    let withdraw = json!({"events": [
        {"event_id": "app-consent-2", "customer_id": customer, "kind": "consent_change",
         "at_ms": 1_774_000_200_000i64, "consent": {"personalization": false}}]});
    assert_eq!(post_events(app.addr, &withdraw).status, 202);
    let deadline = Instant::now() + PATIENCE;
    while hero_variant(kiosk.addr, customer) == "vip-early-access" {
        if Instant::now() > deadline {
            kiosk
                .process
                .fail("still personalizing after consent was withdrawn");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let web_status = status(web.addr);
    assert_eq!(web_status["fleet"]["broker"], "connected", "{web_status}");
    assert_eq!(web_status["fleet"]["node_id"], "web");
    let kiosk_status = status(kiosk.addr);
    assert!(
        kiosk_status["fleet"]["remote_events_applied"].as_u64() >= Some(3),
        "{kiosk_status}"
    );
    let metrics = request(kiosk.addr, "GET", "/metrics", "text/plain", b"");
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    for name in [
        "tailor_fleet_broker_connected 1",
        "tailor_fleet_remote_events_applied_total",
        "tailor_fleet_event_replication_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[test]
fn with_the_broker_down_events_are_acknowledged_and_reach_the_fleet_once_it_is_back() {
    let scratch = Scratch::new("fleet-outage");
    let mut broker = Broker::start("127.0.0.52", &scratch.0);
    let web = node(&scratch.0, "web", &broker);
    let mut app = node(&scratch.0, "app", &broker);
    let customer = "fleet-outage-1";
    assert_eq!(
        post_events(web.addr, &page_views(customer, 0..5)).status,
        202
    );
    wait_for_items(&mut app, customer, 5);

    broker.kill();
    // The web node keeps acknowledging and deciding from what it has.
    for round in 0..5 {
        let batch = page_views(customer, 5 + round * 5..10 + round * 5);
        assert_eq!(post_events(web.addr, &batch).status, 202);
    }
    assert_eq!(items_seen(web.addr, customer).len(), 30);
    let ready = request(web.addr, "GET", "/readyz", "application/json", b"");
    assert_eq!(ready.status, 200, "{}", ready.body);
    let outage = status(web.addr);
    assert!(
        outage["fleet"]["outbox_depth"].as_u64() >= Some(25),
        "{outage}"
    );

    broker.restart();
    wait_for_items(&mut app, customer, 30);
    // A re-sent batch (a channel retrying) changes nothing anywhere.
    assert_eq!(
        post_events(web.addr, &page_views(customer, 0..30)).status,
        202
    );
    std::thread::sleep(Duration::from_millis(500));
    wait_for_items(&mut app, customer, 30);
    let after = status(web.addr);
    assert_eq!(after["fleet"]["outbox_depth"], 0, "{after}");
    // What the broker held before it was killed is still in its stream: a new node gets it all.
    let mut kiosk = node(&scratch.0, "kiosk", &broker);
    wait_for_items(&mut kiosk, customer, 30);
}

/// Runs `work` against the broker with a plain NATS client, as another party on it would.
fn with_client<F: Future<Output = ()>>(
    broker: &Broker,
    work: impl FnOnce(async_nats::Client) -> F,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(broker.addr.to_string()).await.unwrap();
        work(client.clone()).await;
        client.flush().await.unwrap();
    });
}

#[test]
fn an_event_delivered_twice_past_the_duplicate_window_is_applied_once() {
    let scratch = Scratch::new("fleet-duplicate");
    let broker = Broker::start("127.0.0.56", &scratch.0);
    let web = node(&scratch.0, "web", &broker);
    let mut app = node(&scratch.0, "app", &broker);
    let customer = "fleet-dup-1";
    assert_eq!(
        post_events(web.addr, &page_views(customer, 0..3)).status,
        202
    );
    wait_for_items(&mut app, customer, 3);
    // The same events again, as a forwarder whose acknowledgment was lost would re-send them
    // after the stream's duplicate window (no message id: the stream keeps them).
    let batch = page_views(customer, 0..3);
    with_client(&broker, |client| async move {
        let jetstream = async_nats::jetstream::new(client);
        for event in batch["events"].as_array().unwrap() {
            jetstream
                .publish("tailor.events.0", event.to_string().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    });
    let deadline = Instant::now() + PATIENCE;
    while status(app.addr)["fleet"]["duplicates_dropped"].as_u64() < Some(3) {
        if Instant::now() > deadline {
            app.process.fail("never received the re-sent events");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for_items(&mut app, customer, 3);
}

/// hero-banner on a registry tag of the test's own, signed by a fleet key made for it, its
/// version `first` pushed.
struct TaggedPolicy {
    _registry: common::registry::Registry,
    /// Where the keys and the versions' files are.
    work: std::path::PathBuf,
    reference: String,
}

impl TaggedPolicy {
    fn start(scratch: &Path, tag: &str, host: &str) -> TaggedPolicy {
        let registry = start_registry(tag, host);
        let work = scratch.join("work");
        std::fs::create_dir_all(&work).unwrap();
        run_tailor(&work, &["keygen", "--out", "fleet"]);
        let reference = format!("{}/retail/hero-banner:prod", registry.url);
        write_version(&work, "first", Some("fleet.secret"));
        push_version(&work, &reference, "first", true);
        TaggedPolicy {
            _registry: registry,
            work,
            reference,
        }
    }

    /// `tailor serve` arguments that follow the tag every `poll` seconds, trusting the key.
    fn follow_args(&self, poll: &str) -> Vec<String> {
        let trusted = self.work.join("fleet.pub");
        vec![
            "--follow".into(),
            format!("hero-banner={}", self.reference),
            "--follow-poll-seconds".into(),
            poll.into(),
            "--trusted-key".into(),
            trusted.to_str().unwrap().into(),
        ]
    }
}

/// Borrowed views of owned arguments.
fn args(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

#[test]
fn a_moved_tag_is_served_fleet_wide_at_once_and_an_unsigned_version_refused_everywhere() {
    let scratch = Scratch::new("fleet-follow");
    let broker = Broker::start("127.0.0.57", &scratch.0);
    let tagged = TaggedPolicy::start(&scratch.0, "fleet-follow", "127.0.0.58");
    let (work, reference) = (tagged.work.as_path(), tagged.reference.as_str());
    let following = |poll: &str| tagged.follow_args(poll);
    // The web node checks its tag every second; the others would wait an hour.
    let web = node_with(&scratch.0, "web", &broker, &args(&following("1")));
    let app = node_with(&scratch.0, "app", &broker, &args(&following("3600")));
    let kiosk = node_with(&scratch.0, "kiosk", &broker, &args(&following("3600")));
    for node in [&web, &app, &kiosk] {
        wait_for_variant(node.addr, "first");
    }
    write_version(work, "second", Some("fleet.secret"));
    push_version(work, reference, "second", true);
    for node in [&web, &app, &kiosk] {
        wait_for_variant(node.addr, "second");
    }

    // An unsigned version on the tag, announced on the broker as if a node had published it:
    // every node pulls it, refuses it and keeps serving the signed one.
    write_version(work, "unsigned", None);
    push_version(work, reference, "unsigned", false);
    let notice = json!({"policy": "hero-banner", "digest": "sha256:00", "origin": "elsewhere"});
    with_client(&broker, |client| async move {
        client
            .publish("tailor.policies", notice.to_string().into())
            .await
            .unwrap();
    });
    for mut node in [app, kiosk] {
        if let Err(why) = wait_for_refusal(node.addr, "hero-banner", "unsigned") {
            node.process.fail(&why);
        }
        assert_eq!(variant_served(node.addr).as_deref(), Some("second"));
    }
}

#[test]
fn a_node_killed_mid_stream_or_joining_late_catches_up_and_applies_each_event_once() {
    let scratch = Scratch::new("fleet-kill");
    let broker = Broker::start("127.0.0.53", &scratch.0);
    let web = node(&scratch.0, "web", &broker);
    let mut app = node(&scratch.0, "app", &broker);
    // Ten customers, 40 events each, sent in batches while the app node is killed.
    let customers: Vec<String> = (0..10).map(|i| format!("fleet-kill-{i}")).collect();
    let mut killed = false;
    for round in 0..8 {
        for customer in &customers {
            let batch = page_views(customer, round * 5..round * 5 + 5);
            assert_eq!(post_events(web.addr, &batch).status, 202);
        }
        if round == 3 {
            // The app node has applied some of the stream: kill it mid-way.
            let deadline = Instant::now() + PATIENCE;
            while status(app.addr)["fleet"]["remote_events_applied"].as_u64() < Some(1) {
                if Instant::now() > deadline {
                    app.process.fail("applied nothing from the fleet");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            app.kill();
            killed = true;
        }
    }
    assert!(killed);
    drop(app);
    let mut app = node(&scratch.0, "app", &broker);
    // A node that joins after all of it catches up from the stream.
    let mut kiosk = node(&scratch.0, "kiosk", &broker);
    for customer in &customers {
        wait_for_items(&mut app, customer, 40);
        wait_for_items(&mut kiosk, customer, 40);
    }
    // A kiosk replaced with an empty disk under the same node id reads the stream again.
    drop(kiosk);
    std::fs::remove_dir_all(scratch.0.join("kiosk")).unwrap();
    let mut kiosk = node(&scratch.0, "kiosk", &broker);
    for customer in &customers {
        wait_for_items(&mut kiosk, customer, 40);
    }
}

/// A node started with `refused` (arguments the broker must not admit) keeps acknowledging
/// events into its outbox and never connects, while two started with `admitted` share an
/// event. The refused node starts first, so it has had longer to connect than the others needed.
fn only_the_admitted_join(scratch: &Path, broker: &Broker, admitted: &[&str], refused: &[&str]) {
    let outsider = node_with(scratch, "outsider", broker, refused);
    assert_eq!(
        post_events(outsider.addr, &page_views("fleet-outsider", 0..2)).status,
        202
    );
    let web = node_with(scratch, "web", broker, admitted);
    let mut app = node_with(scratch, "app", broker, admitted);
    publish_echo(&app);
    assert_eq!(
        post_events(web.addr, &page_views("fleet-insider", 0..3)).status,
        202
    );
    wait_for_items(&mut app, "fleet-insider", 3);
    let left_out = status(outsider.addr);
    assert_ne!(left_out["fleet"]["broker"], "connected", "{left_out}");
    assert_eq!(left_out["fleet"]["outbox_depth"], 2, "{left_out}");
    assert_eq!(status(web.addr)["fleet"]["broker"], "connected");
}

#[test]
fn a_broker_that_requires_credentials_takes_the_right_ones_only() {
    let scratch = Scratch::new("fleet-auth");
    let broker = Broker::start_with(
        "127.0.0.59",
        &scratch.0,
        &["--user", "tailor", "--pass", "fleet-secret-0001"],
    );
    let good = [
        "--events-user",
        "tailor",
        "--events-password",
        "fleet-secret-0001",
    ];
    let wrong = [
        "--events-user",
        "tailor",
        "--events-password",
        "not-the-password",
    ];
    only_the_admitted_join(&scratch.0, &broker, &good, &wrong);
}

#[test]
fn a_tls_broker_with_a_private_ca_is_trusted_through_events_tls_ca_only() {
    let scratch = Scratch::new("fleet-tls");
    let certs = scratch.0.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    common::pki::certificates(&certs, "127.0.0.60");
    let file = |name: &str| certs.join(name).to_str().unwrap().to_owned();
    let broker = Broker::start_with(
        "127.0.0.60",
        &scratch.0,
        &[
            "--tls",
            "--tlscert",
            &file("server.pem"),
            "--tlskey",
            &file("server.key"),
        ],
    );
    let ca = file("ca.pem");
    let trusting = ["--events-tls-ca", ca.as_str()];
    // Without the CA the broker's certificate is not trusted.
    only_the_admitted_join(&scratch.0, &broker, &trusting, &[]);
}

#[test]
fn a_push_announced_on_the_broker_moves_every_follower_at_once() {
    let scratch = Scratch::new("fleet-push-announce");
    let broker = Broker::start("127.0.0.66", &scratch.0);
    let tagged = TaggedPolicy::start(&scratch.0, "fleet-push-announce", "127.0.0.67");
    let (work, reference) = (tagged.work.as_path(), tagged.reference.as_str());
    // Every node would wait an hour for its next look at the tag.
    let following = tagged.follow_args("3600");
    let args = args(&following);
    let nodes = [
        node_with(&scratch.0, "web", &broker, &args),
        node_with(&scratch.0, "kiosk", &broker, &args),
    ];
    for node in &nodes {
        wait_for_variant(node.addr, "first");
    }
    write_version(work, "second", Some("fleet.secret"));
    let url = broker.url();
    push_version_with(work, reference, "second", true, &["--announce", &url]);
    for node in &nodes {
        wait_for_variant(node.addr, "second");
    }
}
