//! Sealed profile snapshots with the real binary: `tailor seal` seals the customer data
//! platform's export, `tailor serve` with the data key serves its profiles (a damaged one on
//! reload leaves the previous one serving), and without the key or with another start-up stops
//! naming the file; `tailor unseal` gives the export back; with a data key the sample snapshot
//! is sealed and a plaintext snapshot is read but warned about.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{ADMIN, Scratch, admin, decide, run_tailor, spawn_binary};
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tailor_host::privacy::sealed::MAGIC;

/// A customer only the export holds (the sample snapshot's ids are `cust-NNNNNN`).
const CUSTOMER: &str = "store-0042-member-7";
const VERSION: &str = "sealed-export-1";

/// A key file as the operator keeps it (mode 0600), and the `--data-key` naming it.
fn key_file(dir: &Path, name: &str, byte: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", byte.repeat(32))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!("file:{}", path.display())
}

/// The platform's export, gzip NDJSON: the header and two profiles.
fn export(path: &Path) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(
        gz,
        "{}\n{}\n{}",
        json!({"snapshot_version": VERSION, "generated_at_ms": 1_774_000_000_000i64}),
        json!({"customer_id": CUSTOMER, "segments": ["high_value"],
               "consent": {"personalization": true}}),
        json!({"customer_id": "store-0042-member-8", "consent": {"personalization": true}}),
    )
    .unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// The profile a decision for `customer` used.
fn profile(addr: SocketAddr, customer: &str) -> Value {
    let reply = decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": customer},
                "slots": [{"id": "hero", "policy": "hero-banner"}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["profile"].clone()
}

fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `tailor serve` that must refuse to start; returns its stderr.
fn refused_start(data_dir: &Path, extra: &[&str]) -> String {
    let output = common::run(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("TAILOR_DATA_KEY"),
    );
    assert!(!output.status.success(), "{}", common::describe(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_snapshot_sealed_by_tailor_seal_is_served_and_needs_its_key() {
    let scratch = Scratch::new("sealed-snapshot");
    let dir = &scratch.0;
    let key = key_file(dir, "data.key", "5a");
    let plain = export(&dir.join("export.ndjson.gz"));
    std::fs::create_dir_all(dir.join("sync")).unwrap();

    let said = run_tailor(
        dir,
        &[
            "seal",
            "--data-key",
            &key,
            "export.ndjson.gz",
            "sync/snapshot.sealed",
        ],
    );
    assert!(said.contains("sync/snapshot.sealed"), "{said}");
    let sealed_path = dir.join("sync/snapshot.sealed");
    let sealed = std::fs::read(&sealed_path).unwrap();
    assert!(sealed.starts_with(MAGIC));
    // Nothing but the sealed file in the drop directory: no temporary file left.
    assert_eq!(std::fs::read_dir(dir.join("sync")).unwrap().count(), 1);
    // Sealing what is sealed already is refused, naming the file.
    let again = common::run(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .current_dir(dir)
            .args(["seal", "--data-key", &key])
            .args(["sync/snapshot.sealed", "twice.sealed"]),
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && stderr.contains("snapshot.sealed is sealed already"),
        "{}",
        common::describe(&again)
    );

    // `tailor unseal` gives the export back, byte for byte.
    let unsealed = common::run(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["unseal", "--data-key", &key])
            .arg(&sealed_path),
    );
    assert!(unsealed.status.success(), "{}", common::describe(&unsealed));
    assert_eq!(unsealed.stdout, plain);

    // From stdin, as a sync tool piping its download: the same plaintext inside.
    let mut piped = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .current_dir(dir)
        .args(["seal", "--data-key", &key, "-", "piped.sealed"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    piped.stdin.take().unwrap().write_all(&plain).unwrap();
    let piped = piped.wait_with_output().unwrap();
    assert!(piped.status.success(), "{}", common::describe(&piped));
    let from_stdin = common::run(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["unseal", "--data-key", &key])
            .arg(dir.join("piped.sealed")),
    );
    assert!(
        from_stdin.status.success(),
        "{}",
        common::describe(&from_stdin)
    );
    assert_eq!(from_stdin.stdout, plain);

    // Served with the key: the export's profiles.
    let data_dir = dir.join("node");
    let snapshot = sealed_path.to_str().unwrap();
    let node = spawn_binary(
        &data_dir,
        &[
            "--data-key",
            &key,
            "--snapshot",
            snapshot,
            "--snapshot-poll-seconds",
            "0",
            "--admin-token",
            ADMIN,
        ],
    );
    let found = profile(node.addr, CUSTOMER);
    assert_eq!(found["source"], "snapshot_store", "{found}");
    assert_eq!(found["snapshot_version"], VERSION, "{found}");

    // A damaged sealed snapshot is refused on reload, naming it; the sealed one keeps serving.
    // Damaged in its last chunk, so the import fails part way through.
    let mut big =
        json!({"snapshot_version": "big", "generated_at_ms": 1_774_000_000_000i64}).to_string();
    for i in 0..3000 {
        big.push_str(&format!(
            "\n{{\"customer_id\":\"bulk-member-{i:06}\",\"segments\":[\"newsletter\"]}}"
        ));
    }
    std::fs::write(dir.join("big.ndjson"), big).unwrap();
    run_tailor(
        dir,
        &["seal", "--data-key", &key, "big.ndjson", "big.sealed"],
    );
    let mut damaged = std::fs::read(dir.join("big.sealed")).unwrap();
    assert!(damaged.len() > 2 * (64 << 10), "{} bytes", damaged.len());
    let end = damaged.len() - 10;
    damaged[end] ^= 0x40;
    let damaged_path = dir.join("sync/damaged.sealed");
    std::fs::write(&damaged_path, damaged).unwrap();
    let body = json!({"path": damaged_path}).to_string();
    let reply = admin(
        node.addr,
        "POST",
        "/admin/v1/snapshot",
        Some(ADMIN),
        body.as_bytes(),
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("damaged.sealed") && message.contains("fails authentication"),
        "{}",
        reply.body
    );
    let found = profile(node.addr, CUSTOMER);
    assert_ne!(found["source"], "anonymous", "{found}");
    assert_eq!(found["snapshot_version"], VERSION, "{found}");
    drop(node);
    // No profile store half-built from the damaged file was left behind.
    assert_eq!(
        common::profile_stores(&data_dir),
        1,
        "a store half-built from the damaged snapshot is left"
    );

    // Without the key, or with another, the node does not start, and says which file.
    let without = refused_start(&dir.join("keyless"), &["--snapshot", snapshot]);
    assert!(
        without.contains("snapshot.sealed") && without.contains("needs the data key"),
        "{without}"
    );
    let other = key_file(dir, "other.key", "6b");
    let wrong = refused_start(
        &dir.join("other-key"),
        &["--snapshot", snapshot, "--data-key", &other],
    );
    assert!(
        wrong.contains("snapshot.sealed") && wrong.contains("the configured data key is"),
        "{wrong}"
    );
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names
}

#[test]
fn with_a_data_key_the_sample_is_sealed_and_a_plaintext_snapshot_is_warned_about() {
    let scratch = Scratch::new("sealed-sample");
    let dir = &scratch.0;
    let key = key_file(dir, "data.key", "5a");
    let data_dir = dir.join("node");
    std::fs::create_dir_all(&data_dir).unwrap();
    // A plaintext sample from an earlier run without the key.
    let plain_sample = data_dir.join("sample-50.ndjson");
    tailor_host::profiles::sample::write(&plain_sample, 50).unwrap();

    let node = spawn_binary(&data_dir, &["--data-key", &key, "--sample-profiles", "50"]);
    let found = profile(node.addr, "cust-000042");
    assert_eq!(found["source"], "snapshot_store", "{found}");
    assert_eq!(found["snapshot_version"], "sample-50", "{found}");
    drop(node);
    assert!(
        !plain_sample.exists(),
        "the plaintext sample is still there"
    );
    let samples: Vec<PathBuf> = files(&data_dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sample-")
        })
        .collect();
    assert_eq!(samples.len(), 1, "{samples:?}");
    let sample = std::fs::read(&samples[0]).unwrap();
    assert!(sample.starts_with(MAGIC), "{}", samples[0].display());
    assert!(!contains(&sample, "cust-000042"));

    // The platform's plaintext export is still served with a key, with one warning naming it.
    let export_path = dir.join("export.ndjson.gz");
    export(&export_path);
    let mut node = spawn_binary(
        &dir.join("plaintext-node"),
        &[
            "--data-key",
            &key,
            "--snapshot",
            export_path.to_str().unwrap(),
        ],
    );
    assert_eq!(profile(node.addr, CUSTOMER)["snapshot_version"], VERSION);
    node.process
        .wait_for_stderr("is not sealed", 1, Duration::from_secs(30));
    let stderr = node.process.stderr();
    let warning = stderr
        .lines()
        .find(|l| l.contains("is not sealed"))
        .unwrap();
    assert!(
        warning.contains("WARN")
            && warning.contains("export.ndjson.gz")
            && warning.contains("tailor seal"),
        "{warning}"
    );
    assert_eq!(stderr.matches("is not sealed").count(), 1, "{stderr}");
}
