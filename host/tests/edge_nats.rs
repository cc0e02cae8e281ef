//! The fleet's NATS topology in `edge-deploy/nats/`, with the real `nats-server` (Debian's,
//! 2.9): the hub rendered from `hub.conf.template` as a 3-server JetStream cluster and a store's
//! leaf node rendered from `leaf.conf.template`, each on a loopback address of this test's own,
//! with two real `tailor serve` nodes: `web` on the hub, `kiosk` on the leaf. Events flow both
//! ways, and with the hub away the kiosk keeps accepting; its events reach the web once the hub
//! is back.
//!
//! Needs `nats-server` (installed with apt-get when missing). A missing tool fails the test; it
//! never skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::fleet::{self, items_seen, page_views, publish_echo, wait_for_items};
use common::packages::{self, NATS_SERVER};
use common::{
    ADMIN, Node, Process, Scratch, admin, describe, edge_deploy, request, run, spawn_binary_with,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hub servers' addresses: loopback addresses no other test uses, so the templates' fixed
/// ports are free without being picked and released.
const HUB: [&str; 3] = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];
/// The leaf node's address; on a kiosk it is 127.0.0.1.
const LEAF: &str = "127.0.0.64";
/// The ports of `hub.conf.template` (clients, monitoring) and `leaf.conf.template` (clients).
const CLIENT_PORT: u16 = 4222;
const MONITOR_PORT: u16 = 8222;

/// What the servers read from their environment (hub.env, leaf.env on a real host).
const NATS_TOKEN: &str = "fleet-token-for-tests-0001";
const LEAF_PASSWORD: &str = "store-password-for-tests-0001";

/// How long the cluster, the leaf link or replication may take before the test gives up (a
/// loaded machine, not a target).
const PATIENCE: Duration = Duration::from_secs(90);

/// A rendered config and the `nats-server` running it (restartable on the same store).
struct NatsServer {
    name: String,
    config: PathBuf,
    client: SocketAddr,
    process: Option<Process>,
}

impl NatsServer {
    fn start(name: &str, config: PathBuf, host: &str) -> NatsServer {
        let mut server = NatsServer {
            name: name.to_owned(),
            config,
            client: format!("{host}:{CLIENT_PORT}").parse().unwrap(),
            process: None,
        };
        server.restart();
        server
    }

    fn restart(&mut self) {
        self.kill();
        let mut process = Process::spawn(
            &self.name,
            nats_server()
                .arg("--config")
                .arg(&self.config)
                .stdout(Stdio::null()),
        );
        process.wait_listening(self.client, PATIENCE);
        self.process = Some(process);
    }

    /// SIGKILL: the server is gone for everyone connected to it at once.
    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.client)
    }

    fn fail(&mut self, why: &str) -> ! {
        match self.process.as_mut() {
            Some(process) => process.fail(why),
            None => panic!("{} {why} (not running)", self.name),
        }
    }
}

/// `nats-server` with the environment the README tells an operator to give it.
fn nats_server() -> Command {
    let hub_urls: Vec<String> = HUB
        .iter()
        .map(|host| format!("\"nats-leaf://store:{LEAF_PASSWORD}@{host}:7422\""))
        .collect();
    let mut command = Command::new(packages::require(NATS_SERVER));
    command
        .env("TAILOR_NATS_TOKEN", NATS_TOKEN)
        .env("TAILOR_NATS_LEAF_PASSWORD", LEAF_PASSWORD)
        .env("TAILOR_NATS_HUB_URLS", format!("[{}]", hub_urls.join(", ")));
    command
}

/// `template` from `edge-deploy/nats/` with its placeholders replaced and its store moved under
/// `dir`, written to `dir/<name>.conf`; every placeholder must be rendered.
fn render(template: &str, dir: &Path, name: &str, placeholders: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(edge_deploy().join("nats").join(template)).unwrap();
    for (placeholder, value) in placeholders {
        assert!(
            text.contains(placeholder),
            "{template} has no {placeholder}"
        );
        text = text.replace(placeholder, value);
    }
    assert!(
        !text.contains("__"),
        "a placeholder of {template} is not rendered (README.md lists them)"
    );
    let store = dir.join(name);
    let text = text.replace("\"/var/lib/nats", &format!("\"{}", store.display()));
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, text).unwrap();
    // The binary's own check of a config (`-t`), before anything runs it.
    let checked = run(nats_server().arg("--config").arg(&path).arg("-t"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && said.contains("is valid"),
        "nats-server -t refuses the rendered {template}: {}",
        describe(&checked)
    );
    path
}

/// The hub's three servers, each healthy (JetStream up, a metadata leader elected).
fn start_hub(dir: &Path) -> Vec<NatsServer> {
    let mut hub: Vec<NatsServer> = HUB
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = format!("hub-{}", i + 1);
            let config = render(
                "hub.conf.template",
                dir,
                &name,
                &[
                    ("__SERVER_NAME__", &name),
                    ("__HOST__", host),
                    ("__HUB_1__", HUB[0]),
                    ("__HUB_2__", HUB[1]),
                    ("__HUB_3__", HUB[2]),
                ],
            );
            NatsServer::start(&name, config, host)
        })
        .collect();
    wait_healthy(&mut hub);
    wait_clustered(&mut hub);
    hub
}

/// Waits until every hub server's `/healthz` says ok (it answers 503 until JetStream is ready).
fn wait_healthy(hub: &mut [NatsServer]) {
    for server in hub {
        let monitor = SocketAddr::new(server.client.ip(), MONITOR_PORT);
        let deadline = Instant::now() + PATIENCE;
        loop {
            // Monitoring may open a moment after the client port.
            let health = TcpStream::connect_timeout(&monitor, Duration::from_secs(1))
                .ok()
                .map(|_| request(monitor, "GET", "/healthz", "application/json", b""));
            match health {
                Some(health) if health.status == 200 && health.body["status"] == "ok" => break,
                _ if Instant::now() > deadline => {
                    let said = health.map(|h| h.body.to_string());
                    server.fail(&format!("is not healthy after {PATIENCE:?}: {said:?}"));
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// GET `path` on a hub server's monitoring port, as HTTP/1.0 so that a large answer is not
/// chunked.
fn monitor(server: &NatsServer, path: &str) -> Value {
    let addr = SocketAddr::new(server.client.ip(), MONITOR_PORT);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nhost: test\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    assert!(head.starts_with("HTTP/1.0 200"), "{path}: {raw}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Waits until every hub server has routes to the two others (`/routez`): one cluster. After
/// [`wait_healthy`], so that monitoring is up.
fn wait_clustered(hub: &mut [NatsServer]) {
    for server in hub {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let routes = monitor(server, "/routez")["num_routes"].as_u64();
            if routes >= Some(2) {
                break;
            }
            if Instant::now() > deadline {
                server.fail(&format!("has {routes:?} routes after {PATIENCE:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The durable consumers of the hub's stream `TAILOR_EVENTS`, whichever server leads it.
fn hub_consumers(hub: &[NatsServer]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for server in hub {
        let jsz = monitor(server, "/jsz?consumers=true");
        for account in jsz["account_details"].as_array().into_iter().flatten() {
            for stream in account["stream_detail"].as_array().into_iter().flatten() {
                if stream["name"] != "TAILOR_EVENTS" {
                    continue;
                }
                for consumer in stream["consumer_detail"].as_array().into_iter().flatten() {
                    names.insert(consumer["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    names
}

/// How many leaf nodes the hub servers have connected (`/leafz`; 2.9 does not name them).
fn leaf_nodes(hub: &[NatsServer]) -> u64 {
    hub.iter()
        .map(|server| monitor(server, "/leafz")["leafnodes"].as_u64().unwrap_or(0))
        .sum()
}

fn wait_leaf_connected(leaf: &mut NatsServer, hub: &[NatsServer]) {
    let deadline = Instant::now() + PATIENCE;
    while leaf_nodes(hub) == 0 {
        if Instant::now() > deadline {
            leaf.fail(&format!("never connected to the hub within {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `tailor serve` named `name` on `brokers`, serving the echo policy (which shows the events
/// a profile holds).
fn node(dir: &Path, name: &str, brokers: &str, envs: &[(&str, &str)]) -> Node {
    let node = spawn_binary_with(
        &dir.join(name),
        &[
            "--sample-profiles",
            "300",
            "--admin-token",
            ADMIN,
            "--events-broker",
            brokers,
            "--node-id",
            name,
            "--log",
            "info",
        ],
        envs,
    );
    publish_echo(&node);
    node
}

fn post_events(node: &mut Node, batch: &Value) {
    let reply = fleet::post_events(node.addr, batch);
    if reply.status != 202 {
        node.process.fail(&format!(
            "answered {} to an event batch: {}",
            reply.status, reply.body
        ));
    }
}

fn fleet_status(node: &Node) -> Value {
    let reply = admin(node.addr, "GET", "/admin/v1/status", Some(ADMIN), b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["fleet"].clone()
}

/// Waits until `check` holds for the node's fleet status.
fn wait_for_status(node: &mut Node, what: &str, check: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = fleet_status(node);
        if check(&status) {
            return;
        }
        if Instant::now() > deadline {
            node.process
                .fail(&format!("{what} not reached after {PATIENCE:?}: {status}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_kiosk_on_its_store_leaf_node_and_a_web_node_on_the_hub_share_events_both_ways() {
    let scratch = Scratch::new("nats-topology");
    let mut hub = start_hub(&scratch.0);
    let leaf_config = render(
        "leaf.conf.template",
        &scratch.0,
        "leaf",
        &[("__STORE_DEVICE__", "store-0042-kiosk-1")],
    );
    // The template listens on the device's loopback; here on the test's own address.
    let shipped = std::fs::read_to_string(&leaf_config).unwrap();
    assert!(shipped.contains("listen: 127.0.0.1:4222"), "{shipped}");
    std::fs::write(
        &leaf_config,
        shipped.replace("127.0.0.1:4222", &format!("{LEAF}:{CLIENT_PORT}")),
    )
    .unwrap();
    let mut leaf = NatsServer::start("leaf", leaf_config, LEAF);
    wait_leaf_connected(&mut leaf, &hub);

    // web: on the hub cluster, with the token the hub asks of clients (from the environment,
    // as the k8s DaemonSet gives it from a Secret). kiosk: on its leaf, no credentials.
    let hub_urls: Vec<String> = hub.iter().map(NatsServer::url).collect();
    let mut web = node(
        &scratch.0,
        "web",
        &hub_urls.join(","),
        &[("TAILOR_EVENTS_TOKEN", NATS_TOKEN)],
    );
    let mut kiosk = node(&scratch.0, "kiosk", &leaf.url(), &[]);

    // Browsing on the web shows at the kiosk, browsing at the kiosk shows on the web.
    post_events(&mut web, &page_views("cust-web-1", 0..5));
    wait_for_items(&mut kiosk, "cust-web-1", 5);
    post_events(&mut kiosk, &page_views("cust-kiosk-1", 0..5));
    wait_for_items(&mut web, "cust-kiosk-1", 5);
    for joined in [&web, &kiosk] {
        let status = fleet_status(joined);
        assert_eq!(status["broker"], "connected", "{status}");
    }
    // The kiosk's consumer is on the hub's stream, beside the web's: the leaf keeps none.
    let consumers = hub_consumers(&hub);
    assert_eq!(
        consumers,
        BTreeSet::from(["kiosk".to_owned(), "web".to_owned()]),
        "the consumers of the hub's TAILOR_EVENTS"
    );

    // The store loses the hub (all three servers gone). The kiosk is still connected to its
    // leaf, keeps accepting and deciding from what it has; the events wait in its outbox.
    for server in &mut hub {
        server.kill();
    }
    post_events(&mut kiosk, &page_views("cust-kiosk-2", 0..4));
    post_events(&mut kiosk, &page_views("cust-kiosk-1", 5..8));
    assert_eq!(items_seen(kiosk.addr, "cust-kiosk-2").len(), 4);
    let offline = fleet_status(&kiosk);
    assert_eq!(offline["broker"], "connected", "{offline}");
    assert!(offline["outbox_depth"].as_u64() >= Some(7), "{offline}");

    // The hub comes back on the same stores: the outbox drains through the leaf and the web
    // sees everything the kiosk took while the store was cut off, once each.
    for server in &mut hub {
        server.restart();
    }
    wait_healthy(&mut hub);
    wait_clustered(&mut hub);
    wait_leaf_connected(&mut leaf, &hub);
    wait_for_items(&mut web, "cust-kiosk-2", 4);
    wait_for_items(&mut web, "cust-kiosk-1", 8);
    wait_for_status(&mut kiosk, "an empty outbox", |s| s["outbox_depth"] == 0);
    // And the hub still reaches the kiosk.
    post_events(&mut web, &page_views("cust-web-1", 5..7));
    wait_for_items(&mut kiosk, "cust-web-1", 7);
}
