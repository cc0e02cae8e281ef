//! The in-store kiosk deployment (`edge-deploy/kiosk/`): the systemd unit passes
//! `systemd-analyze verify`, and the kiosk config runs the real binary from a watched, signed
//! policies directory and keeps serving its last-known-good policies and snapshot once the
//! network (the sync tool, the signing key) is gone; unsigned drops are never served. The
//! data key comes from the unit's encrypted credential, and the snapshot is sealed with it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{ADMIN, Node, admin, decide, packages, profile_stores};
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tailor_host::config::ServeConfig;

const PLATINUM: &str = "cust-000871";
const REGULAR: &str = "cust-kiosk-0002";
/// The kiosk's broker in the offline test: a loopback address of this test's own where no
/// leaf node runs.
const OFFLINE_BROKER: &str = "nats://127.0.0.65:4222";
/// The snapshot's `generated_at_ms`: events after it overlay the snapshot's profiles.
const GENERATED_AT_MS: i64 = 1_774_000_000_000;

fn kiosk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge-deploy/kiosk")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-kiosk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(kiosk_dir().join("tailor.service")).unwrap();
    let settings: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let exec = "ExecStart=/usr/local/bin/tailor serve --config /etc/tailor/kiosk.toml";
    for wanted in [
        exec,
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "StateDirectory=tailor",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "Restart=on-failure",
        "Environment=TAILOR_LOG=info",
        "EnvironmentFile=-/etc/tailor/secrets.env",
        "LoadCredentialEncrypted=tailor-data-key:/etc/tailor/data-key.cred",
    ] {
        assert!(settings.contains(&wanted), "the unit lacks `{wanted}`");
    }
    // SIGKILL must not cut tailor's 30 s drain short.
    let stop = settings
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("the unit sets TimeoutStopSec");
    let stop_seconds: u64 = stop.trim_end_matches('s').parse().unwrap();
    assert!(stop_seconds > 30, "TimeoutStopSec={stop}");

    // verify checks that the executable exists: point it at the binary under test.
    let dir = scratch("unit");
    let binary = env!("CARGO_BIN_EXE_tailor");
    let rewritten = unit.replace(
        exec,
        &format!("ExecStart={binary} serve --config /etc/tailor/kiosk.toml"),
    );
    let path = dir.join("tailor.service");
    std::fs::write(&path, rewritten).unwrap();
    let output = Command::new(packages::require(packages::SYSTEMD))
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run systemd-analyze: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "verify failed:\n{stderr}");
    // Unknown or misspelt settings are only warned about ("ignoring"), not failed on.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains("tailor.service")
                || l.contains("Unknown")
                || l.contains("ignoring")
                || l.contains("deprecated")
        })
        .collect();
    assert!(complaints.is_empty(), "verify warned:\n{stderr}");
}

#[test]
fn the_kiosk_config_is_loopback_only_and_takes_only_signed_policies() {
    let config = ServeConfig::read(&kiosk_dir().join("kiosk.toml")).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.data_dir, Path::new("/var/lib/tailor"));
    assert_eq!(
        config.snapshot.as_deref(),
        Some(Path::new("/var/lib/tailor/sync/snapshot.sealed"))
    );
    // Customer data at rest under the key systemd hands over (LoadCredentialEncrypted=).
    assert_eq!(
        config.data_key,
        Some(tailor_host::privacy::KeySource::Credential(
            "tailor-data-key".into()
        ))
    );
    assert!(config.snapshot_poll().is_some(), "the snapshot is reloaded");
    assert_eq!(
        config.policies_dir.as_deref(),
        Some(Path::new("/var/lib/tailor/sync/policies"))
    );
    assert_eq!(
        config.trusted_keys,
        [PathBuf::from("/etc/tailor/fleet.pub")]
    );
    assert!(config.signatures_required());
    assert!(!config.seed_bundled);
    // The admin token comes from secrets.env, never from the world-readable config.
    assert!(config.admin_token.is_none());
    // The fleet through the store's leaf node on this device, which takes it without
    // credentials (edge-deploy/nats/leaf.conf.template).
    let fleet = config.fleet().expect("the kiosk joins the fleet");
    assert_eq!(fleet.servers, ["nats://127.0.0.1:4222"]);
    assert!(
        config.node_id.is_some(),
        "a kiosk names its durable consumer"
    );
    assert!(matches!(
        fleet.credentials,
        tailor_host::fleet::Credentials::None
    ));
}

/// The fleet's side: a key pair, and `hero-banner` signed with it.
struct Fleet {
    dir: PathBuf,
    key_id: String,
    config: String,
}

fn tailor(args: &[&str], dir: &Path) -> String {
    common::run_tailor(dir, args)
}

fn sign_hero(dir: &Path) -> Fleet {
    std::fs::create_dir_all(dir).unwrap();
    let out = tailor(&["keygen", "--out", "fleet"], dir);
    let key_id = out
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .unwrap()
        .trim()
        .to_owned();
    let hero = tailor_policies::find("hero-banner").unwrap();
    let config = hero.config.unwrap().to_owned();
    std::fs::write(dir.join("hero-banner.wasm"), hero.component).unwrap();
    std::fs::write(dir.join("hero-banner.config.json"), &config).unwrap();
    tailor(
        &[
            "sign",
            "--key",
            "fleet.secret",
            "--component",
            "hero-banner.wasm",
            "--config",
            "hero-banner.config.json",
            "--out",
            "hero-banner.sig",
        ],
        dir,
    );
    Fleet {
        dir: dir.to_owned(),
        key_id,
        config,
    }
}

/// What the device sync tool does: each file written aside, then renamed into place, the
/// `.wasm` last (a set is keyed on it).
fn sync_drop(policies: &Path, name: &str, files: &[(&str, &[u8])]) {
    std::fs::create_dir_all(policies).unwrap();
    for (suffix, bytes) in files {
        let aside = policies.join(format!(".{name}{suffix}.partial"));
        std::fs::write(&aside, bytes).unwrap();
        std::fs::rename(&aside, policies.join(format!("{name}{suffix}"))).unwrap();
    }
}

/// A gzip NDJSON snapshot as the platform exports it: the header line, then a platinum member
/// and a member with no tier.
fn write_export(path: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../policies/hero-banner/fixtures/platinum-member-sees-vip-early-access/profile.json",
    );
    let platinum: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    assert_eq!(platinum["customer_id"], PLATINUM);
    let regular = json!({"customer_id": REGULAR, "consent": {"personalization": true}});
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    writeln!(
        gz,
        "{}",
        json!({"snapshot_version": "kiosk-store-0042", "generated_at_ms": GENERATED_AT_MS})
    )
    .unwrap();
    writeln!(gz, "{platinum}\n{regular}").unwrap();
    gz.finish().unwrap().sync_all().unwrap();
}

/// What systemd hands the unit for `LoadCredentialEncrypted=tailor-data-key:…`: a credentials
/// directory holding the decrypted key (here 32 raw bytes, as `head -c 32 /dev/urandom` made
/// it), readable by the service only.
fn credentials(root: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = root.join("run/credentials/tailor.service");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("tailor-data-key");
    std::fs::write(&key, [0x4b_u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    dir
}

/// What the sync tool does with the platform's export: seals it with the device's data key
/// (`tailor seal`, run with the same credential) straight into the inbox.
fn sync_snapshot(export: &Path, snapshot: &Path, credentials: &Path) {
    std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
    let output = common::run(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["seal", "--data-key", "systemd:tailor-data-key"])
            .arg(export)
            .arg(snapshot)
            .env("CREDENTIALS_DIRECTORY", credentials),
    );
    assert!(output.status.success(), "{}", common::describe(&output));
    let sealed = std::fs::read(snapshot).unwrap();
    assert!(sealed.starts_with(tailor_host::privacy::sealed::MAGIC));
    assert!(
        !sealed
            .windows(PLATINUM.len())
            .any(|w| w == PLATINUM.as_bytes()),
        "the sealed snapshot holds a customer id"
    );
}

/// The real `tailor serve --config …` with the unit's credentials, killed (SIGKILL) and reaped
/// when dropped.
fn serve(config: &Path, credentials: &Path) -> Node {
    Node::start(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["serve", "--config"])
            .arg(config)
            // An ephemeral port, and deadlines long enough for a test machine's shared cores.
            .args(["--listen", "127.0.0.1:0", "--deadline-ms", "5000"])
            // What the unit's EnvironmentFile (/etc/tailor/secrets.env) gives the service.
            .env("TAILOR_ADMIN_TOKEN", ADMIN)
            // What the unit's LoadCredentialEncrypted= gives the service.
            .env("CREDENTIALS_DIRECTORY", credentials),
    )
}

/// Retries `probe` until it answers, for at most 30 s.
fn within_30s<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) => assert!(Instant::now() < deadline, "{what} after 30 s: {last}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hero_slot(addr: SocketAddr, customer: &str) -> Result<Value, String> {
    let reply = decide(
        addr,
        &json!({"channel": "kiosk", "unit": {"customer_id": customer},
                "context": {"page": {"kind": "home"}, "store_id": "store-0042", "device": "kiosk_screen"},
                "slots": [{"id": "welcome", "policy": "hero-banner"}]}),
    );
    if reply.status != 200 {
        return Err(format!("{} {}", reply.status, reply.body));
    }
    let slot = reply.body["slots"][0].clone();
    if !slot["error"].is_null() {
        return Err(format!("the slot failed: {}", reply.body));
    }
    Ok(slot)
}

fn detail(addr: SocketAddr, name: &str) -> common::Reply {
    admin(
        addr,
        "GET",
        &format!("/admin/v1/policies/{name}"),
        Some(ADMIN),
        b"",
    )
}

#[test]
fn the_kiosk_serves_its_last_known_good_policies_and_snapshot_offline() {
    let root = scratch("offline");
    let etc = root.join("etc/tailor");
    let state = root.join("var/lib/tailor");
    let policies = state.join("sync/policies");
    std::fs::create_dir_all(&etc).unwrap();

    // The kiosk's config with its paths moved under the scratch directory.
    let shipped = std::fs::read_to_string(kiosk_dir().join("kiosk.toml")).unwrap();
    let config = etc.join("kiosk.toml");
    // The store's leaf node is away for the whole test: nothing listens on this test's own
    // address in its place.
    let moved = shipped
        .replace("\"/var/lib/tailor", &format!("\"{}", state.display()))
        .replace("\"/etc/tailor", &format!("\"{}", etc.display()))
        .replace("nats://127.0.0.1:4222", OFFLINE_BROKER);
    std::fs::write(&config, moved).unwrap();
    let file = ServeConfig::read(&config).unwrap();
    for path in [
        file.data_dir.clone(),
        file.snapshot.clone().unwrap(),
        file.policies_dir.clone().unwrap(),
        file.trusted_keys[0].clone(),
    ] {
        assert!(path.starts_with(&root), "{} was not moved", path.display());
    }

    // Provisioning: the fleet's public key; the sync tool's first snapshot and policy set.
    let fleet = sign_hero(&root.join("fleet-signing"));
    std::fs::copy(fleet.dir.join("fleet.pub"), etc.join("fleet.pub")).unwrap();
    let credentials = credentials(&root);
    let export = root.join("sync-tool/export.ndjson.gz");
    write_export(&export);
    sync_snapshot(&export, &file.snapshot.unwrap(), &credentials);
    let read = |f: &str| std::fs::read(fleet.dir.join(f)).unwrap();
    sync_drop(
        &policies,
        "hero-banner",
        &[
            (".config.json", &read("hero-banner.config.json")),
            (".sig", &read("hero-banner.sig")),
            (".wasm", &read("hero-banner.wasm")),
        ],
    );
    let hero = tailor_policies::find("hero-banner").unwrap();
    let digest = tailor_host::registry::digest(hero.component, Some(&fleet.config));

    // Online: the watched directory publishes the signed set.
    let node = serve(&config, &credentials);
    let slot = within_30s("hero-banner is not served from the policies dir", || {
        hero_slot(node.addr, PLATINUM)
    });
    assert_eq!(slot["version"], digest.as_str(), "{slot}");
    assert_eq!(slot["variant"], "vip-early-access", "{slot}");
    let published = detail(node.addr, "hero-banner");
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(published.body["active"]["signed_by"], fleet.key_id.as_str());
    // An event acknowledged while online is on disk (fsync'd) before the 202.
    let event = json!({"events": [{"event_id": "kiosk-evt-1", "customer_id": REGULAR,
        "kind": "loyalty_change", "at_ms": GENERATED_AT_MS + 1_000,
        "loyalty": {"tier": "gold", "points": 1200}}]});
    let ack = common::request(
        node.addr,
        "POST",
        "/v1/events",
        "application/json",
        event.to_string().as_bytes(),
    );
    assert_eq!(ack.status, 202, "{}", ack.body);

    // The network goes: kill -9, no sync tool (its directory is gone), no signing key.
    drop(node);
    std::fs::remove_dir_all(&policies).unwrap();
    std::fs::remove_dir_all(&fleet.dir).unwrap();
    // The kill left its profile store behind; the restart below removes it itself.
    assert_eq!(profile_stores(&state), 1);
    assert!(state.join("events.redb").is_file() && state.join("policies").is_dir());

    let node = serve(&config, &credentials);
    assert_eq!(
        profile_stores(&state),
        1,
        "the killed run's profile store is still there"
    );
    let slot = hero_slot(node.addr, PLATINUM).unwrap();
    assert_eq!(slot["version"], digest.as_str(), "{slot}");
    assert_eq!(
        slot["variant"], "vip-early-access",
        "from the last snapshot: {slot}"
    );
    let slot = hero_slot(node.addr, REGULAR).unwrap();
    assert_eq!(
        slot["variant"], "gold-double-points",
        "the event survived: {slot}"
    );
    // And it still waits for the fleet, in the outbox, across the kill. (The link starts beside
    // serving, not before it: wait for it to report.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = admin(node.addr, "GET", "/admin/v1/status", Some(ADMIN), b"");
        assert_eq!(status.status, 200, "{}", status.body);
        if !status.body["fleet"].is_null() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no fleet link after 30 s: {}",
            status.body
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let link = &status.body["fleet"];
    assert_ne!(link["broker"], "connected", "{link}");
    assert_eq!(link["outbox_depth"], 1, "{link}");
    assert_eq!(
        common::policy_names(node.addr),
        ["hero-banner"],
        "nothing bundled was seeded"
    );

    // Unsigned sets dropped in the directory: a new name, and a change to hero-banner.
    let mut tampered: Value = serde_json::from_str(&fleet.config).unwrap();
    tampered["default_variant"] = json!("spring-lifestyle");
    let tampered = tampered.to_string();
    sync_drop(
        &policies,
        "unsigned-offer",
        &[
            (".config.json", fleet.config.as_bytes()),
            (".wasm", hero.component),
        ],
    );
    sync_drop(
        &policies,
        "hero-banner",
        &[
            (".config.json", tampered.as_bytes()),
            (".wasm", hero.component),
        ],
    );
    let refusal = within_30s("the unsigned hero-banner is not refused", || {
        let refused = &detail(node.addr, "hero-banner").body["refused"];
        match refused.as_array().and_then(|r| r.last()) {
            Some(last) => Ok(last["detail"].as_str().unwrap_or_default().to_owned()),
            None => Err(refused.to_string()),
        }
    });
    assert!(refusal.contains("unsigned"), "{refusal}");
    within_30s("the unsigned new policy is not refused", || {
        let metrics = common::request(node.addr, "GET", "/metrics", "text/plain", b"").body;
        let metrics = metrics.as_str().unwrap_or_default();
        let line = "tailor_policy_publishes_total{policy=\"(new)\",outcome=\"refused\"}";
        if metrics.contains(line) {
            Ok(())
        } else {
            Err(metrics.to_owned())
        }
    });
    let unknown = detail(node.addr, "unsigned-offer");
    assert_eq!(
        unknown.status, 404,
        "an unsigned set is never served: {}",
        unknown.body
    );
    let reply = decide(
        node.addr,
        &json!({"channel": "kiosk", "unit": {"customer_id": PLATINUM},
                "slots": [{"id": "offer", "policy": "unsigned-offer"}]}),
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["code"], "unknown_policy",
        "{}",
        reply.body
    );
    let slot = hero_slot(node.addr, PLATINUM).unwrap();
    assert_eq!(
        slot["version"],
        digest.as_str(),
        "the signed version still serves: {slot}"
    );

    drop(node);
    let _ = std::fs::remove_dir_all(&root);
}
