//! Fleet distribution against a real OCI registry (Debian's `docker-registry`, the CNCF
//! distribution registry) started on loopback: push and pull of policies and snapshots, and a
//! node following a tag through signed, refused and offline versions; the same over TLS with a
//! private CA and htpasswd credentials (given as flags, the environment, a file or docker's
//! `config.json`); refused credentials and untrusted certificates; blob downloads redirected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::redirect::RedirectingProxy;
use common::registry::{
    Secured, push_args, push_version, push_version_with, start_registry, start_registry_with,
    variant_served, wait_for_refusal, wait_for_variant, write_version,
};
use common::{ADMIN, describe, run, run_tailor as tailor, spawn_binary, spawn_binary_with};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

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

    // About 10 MiB, so the push streams it in several chunks.
    let mut snapshot = b"{\"snapshot_version\":\"s1\",\"generated_at_ms\":1}\n".to_vec();
    for i in 0..12_000 {
        snapshot.extend_from_slice(
            format!(
                "{{\"customer_id\":\"c-{i:06}\",\"traits\":{{\"note\":\"{}\"}}}}\n",
                "x".repeat(800 + i % 97)
            )
            .as_bytes(),
        );
    }
    assert!(snapshot.len() > 2 * (4 << 20));
    std::fs::write(dir.join("snapshot.ndjson"), &snapshot).unwrap();
    let snapshot_ref = format!("{}/retail/profiles:store-42", registry.url);
    tailor(
        &dir,
        &["push", &snapshot_ref, "--snapshot", "snapshot.ndjson"],
    );
    let missing_file = run(Command::new(env!("CARGO_BIN_EXE_tailor"))
        .current_dir(&dir)
        .args(["push", &snapshot_ref, "--snapshot", "no-such.ndjson"]));
    assert!(!missing_file.status.success());
    let stderr = String::from_utf8_lossy(&missing_file.stderr);
    assert!(stderr.contains("no-such.ndjson"), "{stderr}");
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
    assert!(
        !dir.join("pulled-snapshot.ndjson.partial").exists(),
        "the pull streams into a file aside and renames it"
    );
    // A pull that fails leaves the file it would have replaced, and nothing beside it.
    let missing = format!("{}/retail/profiles:no-such-tag", registry.url);
    let failed = run(Command::new(env!("CARGO_BIN_EXE_tailor"))
        .current_dir(&dir)
        .args(["pull", &missing, "--snapshot", "pulled-snapshot.ndjson"]));
    assert!(!failed.status.success());
    assert_eq!(
        std::fs::read(dir.join("pulled-snapshot.ndjson")).unwrap(),
        std::fs::read(dir.join("snapshot.ndjson")).unwrap()
    );
    assert!(!dir.join("pulled-snapshot.ndjson.partial").exists());
}

#[test]
fn a_snapshot_is_published_as_each_partitions_share() {
    let registry = start_registry("shares", "127.0.0.27");
    let dir = registry.dir.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let mut export = String::from("{\"snapshot_version\":\"s7\",\"generated_at_ms\":7}\n");
    let mut regions = Vec::new();
    for i in 0..60 {
        let region = ["north", "south", "east"][i % 3];
        regions.push(region);
        export.push_str(&format!(
            "{{\"customer_id\":\"c-{i}\",\"traits\":{{\"region\":\"{region}\"}}}}\n"
        ));
    }
    std::fs::write(dir.join("export.ndjson"), export).unwrap();
    let base = format!("{}/retail/profiles:s7", registry.url);
    let out = tailor(
        &dir,
        &[
            "push",
            &base,
            "--snapshot",
            "export.ndjson",
            "--partition",
            "trait:region=north,east",
            "--partition",
            "hash:0/2",
            "--partition",
            "hash:1/2",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains("trait:region=north,east 40 profiles"),
        "{out}"
    );
    let mut hashed = Vec::new();
    for (tag, line) in [
        ("s7-region-north-east", lines[0]),
        ("s7-hash-0-of-2", lines[1]),
        ("s7-hash-1-of-2", lines[2]),
    ] {
        assert!(
            line.starts_with(&format!("{}/retail/profiles:{tag}@sha256:", registry.url)),
            "{line}"
        );
        let reference = format!("{}/retail/profiles:{tag}", registry.url);
        tailor(&dir, &["pull", &reference, "--snapshot", "share.ndjson.gz"]);
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(
                std::fs::File::open(dir.join("share.ndjson.gz")).unwrap(),
            ),
            &mut text,
        )
        .unwrap();
        let mut share = text.lines();
        assert_eq!(
            share.next(),
            Some("{\"snapshot_version\":\"s7\",\"generated_at_ms\":7}")
        );
        let ids: Vec<usize> = share
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["customer_id"]
                    .as_str()
                    .unwrap()[2..]
                    .parse()
                    .unwrap()
            })
            .collect();
        if tag.contains("region") {
            assert_eq!(
                ids,
                (0..60)
                    .filter(|&i| regions[i] != "south")
                    .collect::<Vec<_>>()
            );
        } else {
            hashed.extend(ids);
        }
    }
    hashed.sort_unstable();
    assert_eq!(
        hashed,
        (0..60).collect::<Vec<_>>(),
        "each customer in one hash share"
    );
    // A sealed export: opened with the data key, each share sealed with it on the way.
    let key_path = dir.join("data.key");
    std::fs::write(&key_path, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(
        &key_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let key = format!("file:{}", key_path.display());
    tailor(
        &dir,
        &["seal", "--data-key", &key, "export.ndjson", "export.sealed"],
    );
    let out = tailor(
        &dir,
        &[
            "push",
            &base,
            "--snapshot",
            "export.sealed",
            "--data-key",
            &key,
            "--partition",
            "trait:region=south",
        ],
    );
    assert!(out.contains("trait:region=south 20 profiles"), "{out}");
    let reference = format!("{}/retail/profiles:s7-region-south", registry.url);
    tailor(&dir, &["pull", &reference, "--snapshot", "south.sealed"]);
    let pulled = std::fs::read(dir.join("south.sealed")).unwrap();
    assert!(
        tailor_host::privacy::is_sealed(&pulled),
        "the share travels sealed"
    );
    let unsealed = run(Command::new(env!("CARGO_BIN_EXE_tailor"))
        .current_dir(&dir)
        .args(["unseal", "--data-key", &key, "south.sealed"]));
    assert!(unsealed.status.success(), "{}", describe(&unsealed));
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(&unsealed.stdout[..]),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.lines().count(), 1 + 20, "{text}");
    assert!(
        text.lines().skip(1).all(|l| l.contains("\"south\"")),
        "{text}"
    );
    // A tag a registry would refuse is refused before anything is pushed.
    let refused = run(Command::new(env!("CARGO_BIN_EXE_tailor"))
        .current_dir(&dir)
        .args([
            "push",
            &base,
            "--snapshot",
            "export.ndjson",
            "--partition",
            "trait:region=north west",
        ]));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--partition trait:region=north west")
            && stderr.contains("not a valid OCI tag"),
        "{stderr}"
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

const CI: Secured = Secured {
    user: "ci",
    password: "registry-s3cret",
};

/// Runs `tailor` in `dir` with `envs` (and no docker config but the one they name).
fn tailor_output(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .current_dir(dir)
        .env("DOCKER_CONFIG", dir.join("no-docker-config"))
        .envs(envs.iter().copied()))
}

fn push_spring(dir: &Path, reference: &str, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let args = push_args(reference, "spring", true, extra);
    tailor_output(
        dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        envs,
    )
}

#[test]
fn a_tls_registry_with_credentials_serves_push_pull_and_follow() {
    let registry = start_registry_with("secure", "127.0.0.23", Some(CI));
    let ca = registry.ca.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let dir = registry.dir.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    tailor(&dir, &["keygen", "--out", "fleet"]);
    write_version(&dir, "spring", Some("fleet.secret"));
    let reference = format!("{}/retail/hero-banner:v1", registry.url);
    assert!(
        reference.starts_with("https://127.0.0.23:5000/"),
        "{reference}"
    );
    let auth = format!("{}:{}", CI.user, CI.password);

    // Credentials as a flag; the CA as a flag.
    let pushed = push_spring(
        &dir,
        &reference,
        &["--registry-auth", &auth, "--registry-ca", ca],
        &[],
    );
    assert!(pushed.status.success(), "{}", describe(&pushed));
    let digest = String::from_utf8_lossy(&pushed.stdout)
        .trim()
        .rsplit('@')
        .next()
        .unwrap()
        .to_owned();
    // The same version on another tag, credentials and CA from the environment: same digest.
    let prod = format!("{}/retail/hero-banner:prod", registry.url);
    let again = push_spring(
        &dir,
        &prod,
        &[],
        &[
            ("TAILOR_REGISTRY_USERNAME", CI.user),
            ("TAILOR_REGISTRY_PASSWORD", CI.password),
            ("TAILOR_REGISTRY_CA", ca),
        ],
    );
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .trim()
            .ends_with(&digest),
        "{}",
        describe(&again)
    );

    // Pull with docker's config.json (`auths.<host>.auth`, base64 user:password).
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&auth)
    };
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths": {{"127.0.0.23:5000": {{"auth": "{encoded}"}}}}}}"#),
    )
    .unwrap();
    let pulled = tailor_output(
        &dir,
        &[
            "pull",
            &reference,
            "--out",
            "pulled",
            "--name",
            "hero-banner",
            "--registry-ca",
            ca,
        ],
        &[("DOCKER_CONFIG", docker.to_str().unwrap())],
    );
    assert!(pulled.status.success(), "{}", describe(&pulled));
    assert_eq!(
        std::fs::read(dir.join("pulled/hero-banner.wasm")).unwrap(),
        std::fs::read(dir.join("spring.wasm")).unwrap()
    );

    // A node follows the tag, credentials from a file.
    std::fs::write(dir.join("registry.auth"), format!("{auth}\n")).unwrap();
    let auth_file = format!("@{}", dir.join("registry.auth").display());
    let follow = format!("hero-banner={prod}");
    let trusted = dir.join("fleet.pub");
    let node = spawn_binary_with(
        &registry.dir.join("node"),
        &[
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
            "--registry-ca",
            ca,
        ],
        &[("TAILOR_REGISTRY_AUTH", &auth_file)],
    );
    wait_for_variant(node.addr, "spring");
    write_version(&dir, "summer", Some("fleet.secret"));
    push_version_with(
        &dir,
        &prod,
        "summer",
        true,
        &["--registry-auth", &auth, "--registry-ca", ca],
    );
    wait_for_variant(node.addr, "summer");
}

#[test]
fn refused_credentials_and_an_unknown_ca_say_so_naming_the_registry() {
    let registry = start_registry_with("refusing", "127.0.0.24", Some(CI));
    let ca = registry.ca.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let dir = registry.dir.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    tailor(&dir, &["keygen", "--out", "fleet"]);
    write_version(&dir, "spring", Some("fleet.secret"));
    let reference = format!("{}/retail/hero-banner:v1", registry.url);
    let failed = |output: Output| {
        assert!(!output.status.success(), "{}", describe(&output));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    let wrong = failed(push_spring(
        &dir,
        &reference,
        &[
            "--registry-auth",
            "ci:not-the-password",
            "--registry-ca",
            ca,
        ],
        &[],
    ));
    assert!(
        wrong.contains("https://127.0.0.24:5000") && wrong.contains("refused the credentials"),
        "{wrong}"
    );
    let none = failed(push_spring(&dir, &reference, &["--registry-ca", ca], &[]));
    assert!(
        none.contains("https://127.0.0.24:5000") && none.contains("refused the credentials"),
        "{none}"
    );
    let pull = failed(tailor_output(
        &dir,
        &[
            "pull",
            &reference,
            "--snapshot",
            "s.ndjson",
            "--registry-ca",
            ca,
        ],
        &[],
    ));
    assert!(pull.contains("refused the credentials"), "{pull}");

    let untrusted = failed(push_spring(
        &dir,
        &reference,
        &["--registry-auth", &format!("{}:{}", CI.user, CI.password)],
        &[],
    ));
    assert!(
        untrusted.contains("https://127.0.0.24:5000")
            && untrusted.contains("certificate is not trusted"),
        "{untrusted}"
    );

    // Plain HTTP off loopback is refused before anything is sent.
    let plain = failed(push_spring(
        &dir,
        "http://registry.invalid:5000/hero:v1",
        &[],
        &[],
    ));
    assert!(plain.contains("--registry-insecure"), "{plain}");
}

#[test]
fn blob_downloads_redirected_elsewhere_are_followed() {
    let registry = start_registry("redirect", "127.0.0.25");
    let dir = registry.dir.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    tailor(&dir, &["keygen", "--out", "fleet"]);
    write_version(&dir, "spring", Some("fleet.secret"));
    push_version(
        &dir,
        &format!("{}/retail/hero-banner:v1", registry.url),
        "spring",
        true,
    );

    let proxy = RedirectingProxy::start("127.0.0.25:5000".parse().unwrap());
    let through = format!("http://{}/retail/hero-banner:v1", proxy.addr);
    tailor(
        &dir,
        &["pull", &through, "--out", "pulled", "--name", "hero-banner"],
    );
    assert!(proxy.redirects() >= 1, "no blob download was redirected");
    assert_eq!(
        std::fs::read(dir.join("pulled/hero-banner.wasm")).unwrap(),
        std::fs::read(dir.join("spring.wasm")).unwrap()
    );
}
