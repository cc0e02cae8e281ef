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
