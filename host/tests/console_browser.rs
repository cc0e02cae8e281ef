//! The console in a real browser: Debian's chromium and chromium-driver, driven headless by
//! selenium (PyPI) against the real `tailor serve` on loopback. The steps are in
//! `tests/console/console_test.py`: a wrong token refused; sign in; edit a headline and see
//! the preview count; a problem named as it is typed; publish as a 10% canary, promote, roll
//! back; the experiments and status pages; an editor refused a component upload.
//!
//! `TAILOR_CONSOLE_SCREENSHOTS=docs/console` keeps the screenshots there (the README's).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;

mod common;
use common::packages::{self, CHROMIUM, CHROMIUM_DRIVER};
use common::python::Python;
use common::{ADMIN, Scratch, describe, spawn_binary};

const EDITOR: &str = "editor-token-for-browser-01";

#[test]
fn a_marketer_previews_publishes_as_a_canary_promotes_and_rolls_back_in_the_console() {
    packages::require(CHROMIUM);
    packages::require(CHROMIUM_DRIVER);
    let scratch = Scratch::new("console-browser");
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    let requirements = std::fs::read_to_string(tests.join("requirements.txt")).unwrap();
    let pinned: Vec<&str> = requirements
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let python = Python::install(&scratch.0, &pinned);

    let node = spawn_binary(
        &scratch.0.join("node"),
        &[
            "--admin-token",
            ADMIN,
            "--editor-token",
            EDITOR,
            "--sample-profiles",
            "2000",
        ],
    );
    visit_hero_bandit(node.addr, 900);
    let component = scratch.0.join("rules.wasm");
    std::fs::write(&component, tailor_policies::RULES.component).unwrap();
    let screenshots = std::env::var_os("TAILOR_CONSOLE_SCREENSHOTS")
        .map(|dir| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir))
        .unwrap_or_else(|| scratch.0.join("screenshots"));
    std::fs::create_dir_all(&screenshots).unwrap();

    let output = common::run(
        python
            .interpreter()
            .arg(tests.join("console_test.py"))
            .args(["--base", &format!("http://{}", node.addr)])
            .args(["--admin-token", ADMIN, "--editor-token", EDITOR])
            .args(["--policy", "rules"])
            .arg("--component")
            .arg(&component)
            .arg("--screenshots")
            .arg(&screenshots),
    );
    assert!(
        output.status.success(),
        "the console's browser test failed (screenshots in {}): {}\nnode log:\n{}",
        screenshots.display(),
        describe(&output),
        node.process.stderr()
    );
}

/// Sample customers shown hero-bandit, some clicking (more on one creative than the others), so
/// the experiment page has results to chart.
fn visit_hero_bandit(addr: SocketAddr, customers: u64) {
    let mut clicks = Vec::new();
    for i in 0..customers {
        let customer = format!("cust-{i:06}");
        let reply = common::decide(
            addr,
            &json!({"channel": "web", "unit": {"customer_id": customer},
                    "slots": [{"id": "hero", "policy": "hero-bandit"}]}),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let rate = match reply.body["slots"][0]["variant"].as_str() {
            Some("summer-preview") => 14,
            Some("spring-lifestyle") => 9,
            _ => 5,
        };
        if (i * 7919 + 13) % 100 < rate {
            clicks.push(json!({
                "event_id": format!("click-{i}"), "customer_id": customer, "kind": "click",
                "at_ms": common::now_ms(), "decision_id": reply.body["decision_id"], "slot": "hero",
            }));
        }
    }
    let posted = common::request(
        addr,
        "POST",
        "/v1/events",
        "application/json",
        json!({ "events": clicks }).to_string().as_bytes(),
    );
    assert_eq!(posted.status, 202, "{}", posted.body);
}
