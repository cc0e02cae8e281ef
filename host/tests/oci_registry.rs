//! Fleet distribution against a real OCI registry (Debian's `docker-registry`, the CNCF
//! distribution registry) started on loopback: push and pull of policies and snapshots, and a
//! node following a tag through signed, refused and offline versions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{ADMIN, Process, admin, decide, packages, spawn_binary};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A registry on a loopback address of the test's own, stopped when dropped.
struct Registry {
    process: Process,
    url: String,
    dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The port every test's registry listens on, each on its own loopback address.
const REGISTRY_PORT: u16 = 5000;

/// Starts a registry on `host` (a loopback address no other test uses: the tests run in
/// parallel, and a port picked and released on a shared address could be taken by another
/// test's server before the registry binds it).
fn start_registry(tag: &str, host: &str) -> Registry {
    let dir = std::env::temp_dir().join(format!("tailor-registry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}:{REGISTRY_PORT}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let binary = packages::require(packages::DOCKER_REGISTRY);
    let process = Process::spawn(
        "docker-registry",
        Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null()),
    );
    let mut registry = Registry {
        process,
        url: format!("http://{host}:{REGISTRY_PORT}"),
        dir,
    };
    let addr: SocketAddr = format!("{host}:{REGISTRY_PORT}").parse().unwrap();
    registry
        .process
        .wait_listening(addr, Duration::from_secs(30));
    registry
}

use common::run_tailor as tailor;

fn hero() -> &'static tailor_policies::BundledPolicy {
    tailor_policies::find("hero-banner").unwrap()
}

/// Writes `<variant>.wasm`, `<variant>.json` (a hero-banner config whose default is `variant`)
/// and, when `key` is given, `<variant>.sig`.
fn write_version(dir: &Path, variant: &str, key: Option<&str>) {
    let mut config: Value = serde_json::from_str(hero().config.unwrap()).unwrap();
    config["default_variant"] = json!(variant);
    config["variants"][variant] =
        json!({"headline": variant, "image": "/i.jpg", "cta": "Go", "url": "/"});
    config.as_object_mut().unwrap().remove("experiment");
    std::fs::write(dir.join(format!("{variant}.wasm")), hero().component).unwrap();
    std::fs::write(dir.join(format!("{variant}.json")), config.to_string()).unwrap();
    if let Some(key) = key {
        let wasm = format!("{variant}.wasm");
        let json = format!("{variant}.json");
        let sig = format!("{variant}.sig");
        tailor(
            dir,
            &[
                "sign",
                "--key",
                key,
                "--component",
                &wasm,
                "--config",
                &json,
                "--out",
                &sig,
            ],
        );
    }
}

fn push_version(dir: &Path, reference: &str, variant: &str, signed: bool) {
    let wasm = format!("{variant}.wasm");
    let json = format!("{variant}.json");
    let sig = format!("{variant}.sig");
    let mut args = vec!["push", reference, "--component", &wasm, "--config", &json];
    if signed {
        args.extend(["--signature", &sig]);
    }
    tailor(dir, &args);
}

#[test]
fn policies_and_snapshots_round_trip_through_a_registry() {
    let registry = start_registry("round-trip", "127.0.0.21");
    let dir = registry.dir.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    tailor(&dir, &["keygen", "--out", "fleet"]);
    write_version(&dir, "spring", Some("fleet.secret"));
    let reference = format!("{}/retail/hero-banner:v1", registry.url);
    push_version(&dir, &reference, "spring", true);
    tailor(
        &dir,
        &[
            "pull",
            &reference,
            "--out",
            "pulled",
            "--name",
            "hero-banner",
        ],
    );
    // Deterministic artifacts: the same version pushed to another tag has the same digest.
    let again = format!("{}/retail/hero-banner:prod", registry.url);
    let push_spring = |to: &str| {
        let out = tailor(
            &dir,
            &[
                "push",
                to,
                "--component",
                "spring.wasm",
                "--config",
                "spring.json",
                "--signature",
                "spring.sig",
            ],
        );
        out.trim().rsplit('@').next().unwrap().to_owned()
    };
    assert_eq!(push_spring(&reference), push_spring(&again));
    for (pushed, pulled) in [
        ("spring.wasm", "hero-banner.wasm"),
        ("spring.json", "hero-banner.config.json"),
        ("spring.sig", "hero-banner.sig"),
    ] {
        let want = std::fs::read(dir.join(pushed)).unwrap();
        let got = std::fs::read(dir.join("pulled").join(pulled)).unwrap();
        assert!(
            want.trim_ascii() == got.trim_ascii(),
            "{pulled} differs from {pushed}"
        );
    }
    // The manifest is the CNCF Wasm artifact layout.
    let manifest = get_manifest(&registry.url, "/v2/retail/hero-banner/manifests/v1");
    assert_eq!(
        manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json",
        "{manifest}"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");

    std::fs::write(
        dir.join("snapshot.ndjson"),
        b"{\"snapshot_version\":\"s1\"}\n",
    )
    .unwrap();
    let snapshot_ref = format!("{}/retail/profiles:store-42", registry.url);
    tailor(
        &dir,
        &["push", &snapshot_ref, "--snapshot", "snapshot.ndjson"],
    );
    tailor(
        &dir,
        &[
            "pull",
            &snapshot_ref,
            "--snapshot",
            "pulled-snapshot.ndjson",
        ],
    );
    assert_eq!(
        std::fs::read(dir.join("pulled-snapshot.ndjson")).unwrap(),
        std::fs::read(dir.join("snapshot.ndjson")).unwrap()
    );
}

/// A manifest as an OCI client asks for it.
fn get_manifest(registry: &str, path: &str) -> Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: registry\r\naccept: application/vnd.oci.image.manifest.v1+json\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

fn variant_served(addr: SocketAddr) -> Option<String> {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"anonymous_id": "v"}, "consent": {"personalization": true},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    (reply.status == 200).then(|| {
        reply.body["slots"][0]["variant"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

fn wait_for_variant(addr: SocketAddr, variant: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while variant_served(addr).as_deref() != Some(variant) {
        assert!(
            Instant::now() < deadline,
            "{variant} never served (now {:?})",
            variant_served(addr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_follows_a_tag_verifies_it_and_keeps_the_last_good_version() {
    let registry = start_registry("follow", "127.0.0.22");
    // Keys and the node's data outlive the registry (which is stopped below).
    let base = std::env::temp_dir().join(format!("tailor-follow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    tailor(&dir, &["keygen", "--out", "fleet"]);
    let reference = format!("{}/retail/hero-banner:prod", registry.url);
    write_version(&dir, "first", Some("fleet.secret"));
    push_version(&dir, &reference, "first", true);

    let data = base.join("node");
    let follow = format!("hero-banner={reference}");
    let trusted = dir.join("fleet.pub");
    let args = [
        "--sample-profiles",
        "100",
        "--admin-token",
        ADMIN,
        "--follow",
        &follow,
        "--follow-poll-seconds",
        "1",
        "--trusted-key",
        trusted.to_str().unwrap(),
    ];
    let mut node = spawn_binary(&data, &args);
    let addr = node.addr;
    wait_for_variant(addr, "first");

    write_version(&dir, "second", Some("fleet.secret"));
    push_version(&dir, &reference, "second", true);
    wait_for_variant(addr, "second");

    // An unsigned version on the tag is refused; the signed one keeps serving.
    write_version(&dir, "unsigned", None);
    push_version(&dir, &reference, "unsigned", false);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let detail = admin(
            addr,
            "GET",
            "/admin/v1/policies/hero-banner",
            Some(ADMIN),
            b"",
        );
        let refused = detail.body["refused"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if refused.iter().any(|r| {
            r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("unsigned")
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unsigned version was never refused: {}",
            detail.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(variant_served(addr).as_deref(), Some("second"));

    // The registry goes away, then the node restarts: last-known-good, offline.
    drop(registry);
    node.kill();
    let mut node = spawn_binary(&data, &args);
    let served = variant_served(node.addr);
    node.kill();
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(served.as_deref(), Some("second"));
}
