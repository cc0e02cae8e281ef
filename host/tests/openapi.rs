//! The OpenAPI document against the real binary: the node serves `docs/openapi.json` at
//! `GET /openapi.json` without a token, openapi-spec-validator (PyPI) accepts it, and
//! schemathesis (PyPI) finds nothing wrong when it drives every operation of a live node on
//! loopback: no 5xx, every status documented, every body and content type as the document says,
//! admin and console routes refusing a request without a token or session (the node has both
//! the admin and the editor token, so every security scheme the document names is live). Its run is bounded (examples per
//! operation, a fixed seed, a wall-clock limit) and its deliberate deviations are listed in
//! `tests/openapi/schemathesis.toml`.
//!
//! Needs `python3` with PyPI access. A missing tool fails the test; it never skips.
mod common;

use common::python::Python;
use common::{ADMIN, Process, Scratch, describe, run, send, spawn_binary};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const PACKAGES: [&str; 2] = ["schemathesis==4.32.5", "openapi-spec-validator==0.9.0"];
/// Test cases schemathesis generates per operation and phase.
const MAX_EXAMPLES: &str = "30";
const SEED: &str = "1";
/// The editor token of the node schemathesis drives (it authenticates with the admin token).
const EDITOR: &str = "editor-token-for-tests-0001";
/// The whole schemathesis run, well above the ~15 s it takes on a loaded machine.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The tools, installed once for the test binary (kept under the target directory, so a second
/// run only checks they are there).
fn python() -> &'static Python {
    static PYTHON: OnceLock<Python> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi-python");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Python::install(&dir, &PACKAGES)
    })
}

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn the_node_serves_the_committed_document_without_a_token_and_it_is_valid_openapi() {
    let scratch = Scratch::new("openapi-serve");
    let node = spawn_binary(
        &scratch.0,
        &[
            "--admin-token",
            ADMIN,
            "--api-token",
            "api-token-for-tests-01",
        ],
    );
    let served = send(node.addr, "GET", "/openapi.json", "", None, b"");
    assert_eq!(served.status, 200, "{}", served.body);
    assert!(
        served.headers.contains("content-type: application/json"),
        "{}",
        served.headers
    );
    assert_eq!(served.body, document(), "the node serves another document");
    assert_eq!(served.body["openapi"], "3.1.0");

    let checked = run(python()
        .script("openapi-spec-validator")
        .args(["--schema", "3.1"])
        .arg(committed()));
    assert!(
        checked.status.success(),
        "openapi-spec-validator refuses docs/openapi.json: {}",
        describe(&checked)
    );
}

#[test]
fn schemathesis_finds_no_failure_in_any_operation_of_a_live_node() {
    let scratch = Scratch::new("openapi-schemathesis");
    let data = scratch.0.join("node");
    let node = spawn_binary(
        &data,
        &[
            "--admin-token",
            ADMIN,
            "--editor-token",
            EDITOR,
            "--sample-profiles",
            "200",
        ],
    );
    let base = format!("http://{}", node.addr);
    let report = scratch.0.join("schemathesis.txt");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi/schemathesis.toml");
    let mut command = python().script("schemathesis");
    command
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        // The committed file (the other test checks the node serves it): loaded from the node's
        // URL, schemathesis leaves out the operation that serves the document.
        .arg(committed())
        .args(["--url", &base])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--workers", "1", "--request-timeout", "30"])
        .args(["--output-truncate", "true", "--warnings", "off"])
        .args(["-H", &format!("Authorization: Bearer {ADMIN}")])
        .current_dir(&scratch.0)
        .stdout(std::fs::File::create(&report).unwrap());
    let mut schemathesis = Process::spawn("schemathesis", &mut command);
    let status = schemathesis.wait(RUN_LIMIT);
    // Its report goes to stdout, its progress and errors to stderr.
    let output = std::fs::read_to_string(&report).unwrap_or_default() + &schemathesis.stderr();
    assert!(
        status.success(),
        "schemathesis found failures ({status}):\n{}",
        tail(&output, 150)
    );
    let tested = format!("Tested: {}", operations());
    assert!(
        output.contains(&tested),
        "schemathesis did not test every operation ({tested}):\n{}",
        tail(&output, 40)
    );
    let mut node = node;
    assert!(
        node.process.exited().is_none(),
        "the node stopped during the run"
    );
    let log = node.process.stderr();
    assert!(!log.contains("panicked"), "the node panicked:\n{log}");
}

/// The committed document.
fn document() -> serde_json::Value {
    let text = std::fs::read_to_string(committed())
        .unwrap_or_else(|e| panic!("{}: {e}", committed().display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.json: {e}"))
}

/// The operations in the committed document.
fn operations() -> usize {
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let doc = document();
    let paths = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values());
    paths
        .map(|item| methods.iter().filter(|m| item.get(**m).is_some()).count())
        .sum()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
