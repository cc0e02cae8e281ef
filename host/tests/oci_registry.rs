//! Fleet distribution against a real OCI registry (Debian's `docker-registry`, the CNCF
//! distribution registry) started on loopback: push and pull of policies and snapshots, and a
//! node following a tag through signed, refused and offline versions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::registry::{
    push_version, start_registry, variant_served, wait_for_refusal, wait_for_variant, write_version,
};
use common::{ADMIN, run_tailor as tailor, spawn_binary};
use serde_json::Value;

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
    wait_for_refusal(addr, "hero-banner", "unsigned").unwrap();
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
