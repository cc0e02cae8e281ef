//! A policy author outside this repository: `tailor new` writes a crate in a scratch directory
//! under the system's temp dir, `tailor build` builds and checks it, `tailor test` runs its
//! fixture cases against the component (and shows the difference once a case is broken), plain
//! `cargo test` runs them natively, and `tailor publish` sends the component to a running node
//! that then decides with it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod common;

use common::{ADMIN, decide, describe, spawn_binary};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NAME: &str = "spring-hero";
const CASE: &str = "gold-member-gets-the-tier-headline";

/// `tailor <args>` in `dir`, with the environment a policy author's shell would have: no
/// outer build's flags, and a target directory under this build's, so a rerun does not compile
/// wit-bindgen and its dependencies again.
fn tailor(dir: &Path, args: &[&str]) -> Output {
    author(Command::new(env!("CARGO_BIN_EXE_tailor")).args(args), dir)
}

/// `cargo <args>` in `dir`, as [`tailor`] runs it.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    author(Command::new(cargo).args(args), dir)
}

/// Runs `command` in `dir` with a policy author's environment (see [`tailor`]).
fn author(command: &mut Command, dir: &Path) -> Output {
    command
        .current_dir(dir)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("authoring-guest"),
        )
        .env("TAILOR_LOG", "warn");
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_MANIFEST_DIR",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        command.env_remove(var);
    }
    common::run(command)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value printed after `label` by `tailor build`.
fn field(report: &str, label: &str) -> String {
    report
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {report}"))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Registry packages of a lock file as (name, version).
fn registry_packages(lock: &str) -> BTreeSet<(String, String)> {
    let lock: toml::Table = toml::from_str(lock).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("source").is_some())
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_policy_written_outside_the_workspace_builds_tests_and_publishes() {
    let scratch = common::Scratch::new("authoring");
    let outside = scratch.0.clone();
    assert!(
        !outside.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")),
        "{} is inside the workspace",
        outside.display()
    );

    let created = tailor(&outside, &["new", NAME]);
    assert!(created.status.success(), "{}", describe(&created));
    let dir = outside.join(NAME);
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "src/lib.rs",
        "build.rs",
        "tests/fixtures.rs",
        "config.json",
        "vendor/guest-sdk/Cargo.toml",
        "vendor/wit/policy-0.2.0/policy.wit",
    ] {
        assert!(dir.join(file).is_file(), "tailor new wrote no {file}");
    }
    let again = tailor(&outside, &["new", NAME]);
    assert!(!again.status.success(), "{}", describe(&again));

    let built = tailor(&dir, &["build"]);
    assert!(built.status.success(), "{}", describe(&built));
    let report = stdout(&built);
    let component = PathBuf::from(field(&report, "component"));
    assert!(component.is_file(), "{report}");
    assert!(
        report.contains("contract   tailor:policy@0.2.0"),
        "{report}"
    );
    let size: usize = field(&report, "size").parse().unwrap();
    assert_eq!(size, std::fs::metadata(&component).unwrap().len() as usize);
    let digest = field(&report, "digest");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let bytes = std::fs::read(&component).unwrap();
    assert_eq!(digest, tailor_host::registry::digest(&bytes, Some(&config)));

    // Built with exactly the versions this workspace locks.
    let ours = registry_packages(include_str!("../../Cargo.lock"));
    let theirs = registry_packages(&std::fs::read_to_string(dir.join("Cargo.lock")).unwrap());
    let unlocked: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        unlocked.is_empty(),
        "versions not in the workspace's lock: {unlocked:?}"
    );
    assert!(theirs.iter().any(|(name, _)| name == "wit-bindgen"));

    let tested = tailor(&dir, &["test"]);
    assert!(tested.status.success(), "{}", describe(&tested));
    assert!(
        stdout(&tested).contains(&format!("ok      {CASE}")),
        "{}",
        describe(&tested)
    );
    // The same case natively, with plain `cargo test` in the crate.
    let native = cargo(&dir, &["test"]);
    assert!(native.status.success(), "{}", describe(&native));
    let native_out = stdout(&native);
    assert!(
        native_out.contains(&format!("test {} ... ok", CASE.replace('-', "_"))),
        "{native_out}"
    );

    // A broken expectation fails, naming the field, what was expected and what came out.
    let expected_path = dir.join("fixtures").join(CASE).join("expected.json");
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    std::fs::write(
        &expected_path,
        expected.replace("\"variant\": \"member\"", "\"variant\": \"vip\""),
    )
    .unwrap();
    let failed = tailor(&dir, &["test"]);
    assert_eq!(failed.status.code(), Some(3), "{}", describe(&failed));
    let out = stdout(&failed);
    assert!(out.contains(&format!("FAILED  {CASE}")), "{out}");
    assert!(
        out.contains("/decision/variant: expected \"vip\", got \"member\""),
        "{out}"
    );
    std::fs::write(&expected_path, expected).unwrap();

    // Publish the built component, with its fixtures, to a node and decide with it.
    let mut node = spawn_binary(
        &outside.join("node"),
        &["--sample-profiles", "200", "--admin-token", ADMIN],
    );
    let url = format!("http://{}", node.addr);
    let published = tailor(
        &dir,
        &[
            "publish",
            "--node",
            &url,
            "--token",
            ADMIN,
            "--name",
            NAME,
            "--component",
            component.to_str().unwrap(),
            "--config",
            "config.json",
            "--fixtures",
            "fixtures",
        ],
    );
    let reply = decide(
        node.addr,
        &json!({"channel": "web", "unit": {"anonymous_id": "visitor-1"},
                "consent": {"personalization": true},
                "slots": [{"id": "hero", "policy": NAME}]}),
    );
    node.kill();
    assert!(published.status.success(), "{}", describe(&published));
    let outcome: Value = serde_json::from_str(&stdout(&published)).unwrap();
    assert_eq!(outcome["status"], "active", "{outcome}");
    assert_eq!(outcome["digest"], digest.as_str(), "{outcome}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let slot = &reply.body["slots"][0];
    assert_eq!(slot["version"], digest.as_str(), "{}", reply.body);
    assert_eq!(slot["variant"], "hello", "{}", reply.body);
    assert_eq!(
        slot["render"]["headline"], "Welcome to the spring collection",
        "{}",
        reply.body
    );
}
