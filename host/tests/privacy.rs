//! Customer data protection with real processes: an erased customer stays forgotten through a
//! restart, a reload of the snapshot that still holds them and their old events sent again;
//! an erasure at one node of a fleet (real `nats-server -js`) reaches every other node and a
//! node that joins later; and a full run's log holds none of the sample customers' ids or
//! names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::fleet::{PATIENCE, items_seen, page_views, post_events, publish_echo};
use common::nats::Broker;
use common::{ADMIN, Node, Reply, Scratch, admin, decide, now_ms, spawn_binary};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const NODE_ARGS: [&str; 6] = [
    "--sample-profiles",
    "300",
    "--admin-token",
    ADMIN,
    "--log",
    "info",
];

/// Waits until `customer`'s decisions at `node` show items `sku-0` to `sku-<count - 1>` (beside
/// what the snapshot holds of them).
fn wait_for_items(node: &mut Node, customer: &str, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = items_seen(node.addr, customer);
        if (0..count).all(|i| seen.get(&format!("sku-{i}")) == Some(&1)) {
            return;
        }
        if Instant::now() > deadline {
            node.process
                .fail(&format!("{customer}'s events never showed: {seen:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn erase(addr: SocketAddr, customer: &str) -> Reply {
    admin(
        addr,
        "POST",
        &format!("/admin/v1/customers/{customer}/erase"),
        Some(ADMIN),
        b"",
    )
}

/// Where the profile of `customer`'s decision at `addr` came from.
fn source(addr: SocketAddr, customer: &str) -> Value {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": customer},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["profile"]["source"].clone()
}

/// How many of `customer`'s exposures `node`'s outcome log holds.
fn exposed(node: &Node, customer: &str) -> usize {
    let reply = admin(node.addr, "GET", "/admin/v1/exposures", Some(ADMIN), b"");
    assert_eq!(reply.status, 200);
    let text = reply
        .body
        .as_str()
        .map(str::to_owned)
        .unwrap_or(reply.body.to_string());
    text.matches(&format!("\"{customer}\"")).count()
}

/// Records `times` exposures of `customer` at `node` (after she allows analytics): offers shown
/// to her, and waits until the outcome log holds them.
fn expose_offers(node: &Node, customer: &str, times: usize) {
    let consent = json!({"events": [{"event_id": format!("consent-{customer}"),
        "customer_id": customer, "kind": "consent_change", "at_ms": 1_774_000_200_000i64,
        "consent": {"personalization": true, "analytics": true}}]});
    assert_eq!(post_events(node.addr, &consent).status, 202);
    for _ in 0..times {
        let offers = decide(
            node.addr,
            &json!({"channel": "web", "unit": {"customer_id": customer},
                    "slots": [{"id": "offers", "policy": "next-best-offer",
                               "candidates": [{"id": "sku-1"}, {"id": "sku-2"}]}]}),
        );
        assert_eq!(offers.status, 200, "{}", offers.body);
    }
    let deadline = Instant::now() + PATIENCE;
    while exposed(node, customer) < times {
        assert!(
            Instant::now() < deadline,
            "her exposures were never recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn erasures(addr: SocketAddr) -> Value {
    let reply = admin(addr, "GET", "/admin/v1/erasures", Some(ADMIN), b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["erasures"].clone()
}

#[test]
fn an_erased_customer_stays_forgotten_through_restart_snapshot_reload_and_resent_events() {
    let scratch = Scratch::new("privacy-erase");
    let dir = scratch.0.join("node");
    let mut node = spawn_binary(&dir, &NODE_ARGS);
    publish_echo(&node);
    let customer = "cust-000042";
    assert_eq!(
        post_events(node.addr, &page_views(customer, 0..3)).status,
        202
    );
    wait_for_items(&mut node, customer, 3);
    assert_ne!(source(node.addr, customer), "anonymous");
    // She allows analytics: the offers shown to her are exposures.
    expose_offers(&node, customer, 3);

    let erased = erase(node.addr, customer);
    assert_eq!(erased.status, 200, "{}", erased.body);
    let report = erased.body;
    assert_eq!(report["events"], 4, "{report}");
    assert!(report["exposures"].as_u64() >= Some(3), "{report}");
    assert_eq!(
        exposed(&node, customer),
        0,
        "her exposures are still in the log"
    );
    assert_eq!(report["snapshot_profile_suppressed"], true, "{report}");
    assert_eq!(report["again"], false, "{report}");
    assert_eq!(report["fleet"], "none", "{report}");
    assert_eq!(report["by"], "admin token", "{report}");
    let pseudonym = report["customer"].as_str().unwrap().to_owned();
    assert!(pseudonym.starts_with("p-") && !report.to_string().contains(customer));

    // Anonymous at once, and nothing of hers is shown.
    assert_eq!(source(node.addr, customer), "anonymous");
    assert!(items_seen(node.addr, customer).is_empty());
    // Her old events sent again (a channel retrying) are acknowledged and forgotten.
    let resent = post_events(node.addr, &page_views(customer, 0..3));
    assert_eq!(resent.status, 202, "{}", resent.body);
    assert_eq!(
        (&resent.body["accepted"], &resent.body["forgotten"]),
        (&json!(0), &json!(3)),
        "{}",
        resent.body
    );
    assert_eq!(source(node.addr, customer), "anonymous");
    // Her neighbour is untouched.
    assert_eq!(source(node.addr, "cust-000043"), "snapshot_store");

    // The audit log names her by pseudonym only, and says who asked.
    let audit = erasures(node.addr);
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit[0]["customer"], pseudonym.as_str());
    assert_eq!(audit[0]["by"], "admin token");
    let audit_file = std::fs::read_to_string(dir.join("erasures.ndjson")).unwrap();
    assert!(audit_file.contains(&pseudonym) && !audit_file.contains(customer));

    // A restart, then a reload of the snapshot that still holds her: still forgotten.
    node.kill();
    let node = spawn_binary(&dir, &NODE_ARGS);
    assert_eq!(source(node.addr, customer), "anonymous");
    assert_eq!(
        exposed(&node, customer),
        0,
        "her exposures came back with the restart"
    );
    let reloaded = admin(node.addr, "POST", "/admin/v1/snapshot", Some(ADMIN), b"");
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(source(node.addr, customer), "anonymous");
    assert!(items_seen(node.addr, customer).is_empty());

    // She comes back after the erasure: what she does from now on is hers again.
    let visit = json!({"events": [{"event_id": "after-erasure-1", "customer_id": customer,
        "kind": "page_view", "at_ms": now_ms() + 1_000, "item_id": "sku-77", "category": "coats"}]});
    let posted = post_events(node.addr, &visit);
    assert_eq!(posted.body["accepted"], 1, "{}", posted.body);
    assert_eq!(
        source(node.addr, customer),
        "event_overlay",
        "no snapshot profile under it"
    );
    assert_eq!(
        items_seen(node.addr, customer)
            .into_keys()
            .collect::<Vec<_>>(),
        ["sku-77"]
    );
    // Erasing again is harmless and takes that too.
    let again = erase(node.addr, customer);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        (&again.body["again"], &again.body["events"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(source(node.addr, customer), "anonymous");

    // A snapshot without her ends the suppression (the customer data platform has erased her).
    let without = scratch.0.join("without.ndjson");
    std::fs::write(
        &without,
        "{\"snapshot_version\":\"after-erasure\",\"generated_at_ms\":1774000000000}\n\
         {\"customer_id\":\"cust-000043\"}\n",
    )
    .unwrap();
    let body = json!({ "path": without }).to_string();
    let reloaded = admin(
        node.addr,
        "POST",
        "/admin/v1/snapshot",
        Some(ADMIN),
        body.as_bytes(),
    );
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(source(node.addr, customer), "anonymous");

    // Bad ids and callers are refused.
    let bad = admin(
        node.addr,
        "POST",
        "/admin/v1/customers/%ZZ/erase",
        Some(ADMIN),
        b"",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "id", "{}", bad.body);
    let anonymous = admin(
        node.addr,
        "POST",
        &format!("/admin/v1/customers/{customer}/erase"),
        None,
        b"",
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
}

/// A fleet node with the echo policy.
fn fleet_node(scratch: &Path, name: &str, broker: &Broker) -> Node {
    let url = broker.url();
    let mut args = NODE_ARGS.to_vec();
    args.extend(["--events-broker", &url, "--node-id", name]);
    let node = spawn_binary(&scratch.join(name), &args);
    publish_echo(&node);
    node
}

/// Waits until `customer`'s decisions at `node` are anonymous.
fn wait_until_forgotten(node: &mut Node, customer: &str) {
    let deadline = Instant::now() + PATIENCE;
    while source(node.addr, customer) != "anonymous" {
        if Instant::now() > deadline {
            node.process.fail(&format!("{customer} is still known"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_erasure_at_one_node_reaches_the_fleet_and_wins_over_older_events_arriving_later() {
    let scratch = Scratch::new("privacy-fleet");
    let broker = Broker::start("127.0.0.81", &scratch.0);
    let web = fleet_node(&scratch.0, "web", &broker);
    let app = fleet_node(&scratch.0, "app", &broker);
    let mut kiosk = fleet_node(&scratch.0, "kiosk", &broker);
    let customer = "cust-000042";
    assert_eq!(
        post_events(web.addr, &page_views(customer, 0..4)).status,
        202
    );
    wait_for_items(&mut kiosk, customer, 4);

    let erased = erase(app.addr, customer);
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.body["fleet"], "sent", "{}", erased.body);
    let mut web = web;
    for node in [&mut web, &mut kiosk] {
        wait_until_forgotten(node, customer);
        assert!(items_seen(node.addr, customer).is_empty());
        let audit = erasures(node.addr);
        assert_eq!(audit[0]["by"], "fleet (app)", "{audit}");
        // The same erasure (each node names her by its own pseudonym).
        assert_eq!(audit[0]["at_ms"], erased.body["at_ms"], "{audit}");
    }
    // Her old events, sent again to the web node, are forgotten there and go nowhere.
    let resent = post_events(web.addr, &page_views(customer, 0..4));
    assert_eq!(resent.body["forgotten"], 4, "{}", resent.body);

    // A node joining now reads the stream from its start: her events, then the erasure.
    // An event posted after the erasure marks how far it has read.
    let marker = "fleet-privacy-marker";
    assert_eq!(post_events(web.addr, &page_views(marker, 0..1)).status, 202);
    let mut late = fleet_node(&scratch.0, "late", &broker);
    wait_for_items(&mut late, marker, 1);
    assert_eq!(source(late.addr, customer), "anonymous");
    assert!(items_seen(late.addr, customer).is_empty());
    assert_eq!(erasures(late.addr)[0]["by"], "fleet (app)");
    assert_eq!(source(kiosk.addr, customer), "anonymous");
}

/// Words no log line may hold: the sample customers' ids, first names and cities.
fn personal(text: &str) -> Vec<String> {
    const NAMES: [&str; 18] = [
        "Ana",
        "Sam",
        "Priya",
        "Lukas",
        "Mei",
        "Omar",
        "Chloe",
        "Tom",
        "Ines",
        "Kwame",
        "Sofia",
        "Ravi",
        "Manchester",
        "Leeds",
        "Bristol",
        "Glasgow",
        "Cardiff",
        "London",
    ];
    let mut found = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric() && c != '-') {
        if word.starts_with("cust-") || NAMES.contains(&word) {
            found.push(word.to_owned());
        }
    }
    found
}

#[test]
fn a_full_run_logs_none_of_the_customers_ids_or_names() {
    let scratch = Scratch::new("privacy-logs");
    let dir = scratch.0.join("node");
    let mut args = NODE_ARGS[..4].to_vec();
    args.extend(["--decision-log-rate", "1", "--log", "debug"]);
    let mut node = spawn_binary(&dir, &args);
    publish_echo(&node);
    for i in 0..60 {
        let customer = format!("cust-{i:06}");
        let reply = decide(
            node.addr,
            &json!({"channel": "kiosk", "unit": {"customer_id": customer, "anonymous_id": format!("cust-anon-{i}")},
                    "context": {"attributes": {"visit": customer}},
                    "slots": [{"id": "hero", "policy": "hero-banner"},
                              {"id": "offers", "policy": "next-best-offer",
                               "candidates": [{"id": "sku-1"}, {"id": "sku-2"}]},
                              {"id": "greet", "policy": "kiosk-greeting"},
                              {"id": "echo", "policy": "echo"}]}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let unknown = decide(
            node.addr,
            &json!({"channel": "web", "unit": {"customer_id": customer},
                    "slots": [{"id": "missing", "policy": "no-such-policy"}]}),
        );
        assert_eq!(unknown.status, 422, "{}", unknown.body);
        let reply = decide(
            node.addr,
            &json!({"channel": "kiosk", "unit": {"customer_id": customer},
                    "slots": [{"id": "hero", "policy": "hero-banner"},
                              {"id": "greet", "policy": "kiosk-greeting"}]}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            post_events(node.addr, &page_views(&customer, 0..2)).status,
            202
        );
    }
    // Bad input naming customers, a snapshot with a name where a number belongs, an erasure.
    let bad = post_events(
        node.addr,
        &json!({"events": [{"event_id": "x", "customer_id": "cust-000001", "kind": "loyalty_change", "at_ms": 1}]}),
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    let broken = scratch.0.join("broken.ndjson");
    std::fs::write(
        &broken,
        "{\"snapshot_version\":\"broken\",\"generated_at_ms\":1}\n\
         {\"customer_id\":\"cust-000007\",\"loyalty\":{\"tier\":\"gold\",\"points\":\"Priya\"}}\n",
    )
    .unwrap();
    let body = json!({ "path": broken }).to_string();
    let refused = admin(
        node.addr,
        "POST",
        "/admin/v1/snapshot",
        Some(ADMIN),
        body.as_bytes(),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(erase(node.addr, "cust-000003").status, 200);
    // Every decision went to the decision log (pseudonymized): the check below has lines to read.
    node.process
        .wait_for_stderr("decide request", 120, PATIENCE);
    node.kill();
    let log = node.process.stderr();
    assert!(
        log.contains("\"p-") || log.contains("p-"),
        "no pseudonyms logged"
    );
    let found = personal(&log);
    assert!(
        found.is_empty(),
        "personal data in the log: {:?}\n{}",
        &found[..found.len().min(20)],
        log.lines()
            .filter(|l| !personal(l).is_empty())
            .take(10)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Files under `dir` (recursively) holding `needle`: every one, the sealed sample snapshot too.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(name);
            }
        }
    }
    found
}

/// Starts `tailor serve` expecting it to refuse, and returns what it said.
fn refused_start(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> String {
    let output = common::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
            .envs(envs.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(NODE_ARGS)
            .args(extra),
    );
    assert!(!output.status.success(), "{}", common::describe(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn with_a_data_key_nothing_personal_is_readable_on_disk_and_the_key_is_required() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new("privacy-at-rest");
    let dir = scratch.0.join("node");
    let secrets = scratch.0.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let key = secrets.join("data.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key_arg = format!("file:{}", key.display());
    let mut args = NODE_ARGS.to_vec();
    args.extend(["--data-key", &key_arg]);

    let mut node = spawn_binary(&dir, &args);
    publish_echo(&node);
    let customer = "cust-000042";
    let visit = json!({"events": [{"event_id": "sealed-visit-1", "customer_id": customer,
        "kind": "page_view", "at_ms": 1_774_000_100_000i64, "item_id": "sku-ONLYINTHELOG",
        "category": "coats"}]});
    assert_eq!(post_events(node.addr, &visit).status, 202);
    assert!(items_seen(node.addr, customer).contains_key("sku-ONLYINTHELOG"));
    // Her exposures go to the outcome log, encrypted too.
    expose_offers(&node, customer, 2);
    for i in 0..50 {
        source(node.addr, &format!("cust-{i:06}"));
    }
    node.process
        .wait_for_stderr("customer data is encrypted at rest", 1, PATIENCE);
    // Killed, so the profile store built from the snapshot is still on disk.
    node.kill();
    assert_eq!(common::profile_stores(&dir), 1);
    for needle in [
        customer,
        "sku-ONLYINTHELOG",
        "sealed-visit-1",
        "Priya",
        "Glasgow",
    ] {
        let holding = files_holding(&dir, needle);
        assert!(holding.is_empty(), "{needle} is readable in {holding:?}");
    }

    // Without the key, with another one, or with a key file others can read: no start,
    // naming what is wrong.
    let without = refused_start(&dir, &[], &[]);
    assert!(without.contains("events.redb is encrypted"), "{without}");
    let other = secrets.join("other.key");
    std::fs::write(&other, "6b".repeat(32)).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong = refused_start(
        &dir,
        &["--data-key", &format!("file:{}", other.display())],
        &[],
    );
    assert!(wrong.contains("the configured data key is"), "{wrong}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = refused_start(&dir, &["--data-key", &key_arg], &[]);
    assert!(open.contains("chmod 600"), "{open}");

    // The kiosk's way: systemd hands the decrypted credential over in CREDENTIALS_DIRECTORY.
    let credentials = scratch.0.join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    let credential = credentials.join("tailor-data-key");
    std::fs::write(&credential, "5a".repeat(32)).unwrap();
    std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o400)).unwrap();
    let mut args = NODE_ARGS.to_vec();
    args.extend(["--data-key", "systemd:tailor-data-key"]);
    let node = common::spawn_binary_with(
        &dir,
        &args,
        &[("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())],
    );
    assert!(items_seen(node.addr, customer).contains_key("sku-ONLYINTHELOG"));
}
