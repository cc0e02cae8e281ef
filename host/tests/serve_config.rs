//! `tailor serve`'s configuration as a user meets it, through the real binary: flags win over
//! `TAILOR_…` variables, variables over the `--config` file, the file over the defaults; a bad
//! value or an unknown key stops start-up naming it, and the error is printed once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("tailor-serve-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `tailor serve --config <file> <args>` with only the variables in `env` (and
/// `TAILOR_LOG=info`, so that a logged error would show, and an ephemeral `TAILOR_LISTEN`).
/// Should a configuration be accepted, the missing snapshot stops start-up all the same.
fn serve(dir: &Path, file: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let config = dir.join("serve.toml");
    std::fs::write(&config, file).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tailor"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TAILOR_") {
            command.env_remove(key);
        }
    }
    command
        .env("TAILOR_LOG", "info")
        .env("TAILOR_LISTEN", "127.0.0.1:0")
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--snapshot")
        .arg(dir.join("no-such-snapshot.ndjson"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Start-up stopped with exactly `message` on stderr: one line, no log line repeating it.
#[track_caller]
fn refused_with(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert_eq!(stderr(output), format!("error: {message}\n"));
}

#[test]
fn each_layer_wins_over_the_next_and_a_bad_value_is_named_once() {
    let scratch = Scratch::new("layers");
    let dir = &scratch.0;
    let max_slots = "config key `max_slots`: must be greater than zero";
    let deadline = "config key `deadline_ms`: must be greater than zero";
    // The file over the defaults.
    refused_with(&serve(dir, "max_slots = 0\n", &[], &[]), max_slots);
    // A variable over the file: the file's bad value is not used, the variable's is.
    let file = "max_slots = 0\ndeadline_ms = 0\n";
    refused_with(
        &serve(dir, file, &[("TAILOR_MAX_SLOTS", "5")], &[]),
        deadline,
    );
    refused_with(
        &serve(dir, "max_slots = 5\n", &[("TAILOR_MAX_SLOTS", "0")], &[]),
        max_slots,
    );
    // A flag over the variable.
    refused_with(
        &serve(
            dir,
            file,
            &[("TAILOR_MAX_SLOTS", "0")],
            &["--max-slots", "5"],
        ),
        deadline,
    );
    refused_with(
        &serve(dir, "", &[("TAILOR_MAX_SLOTS", "5")], &["--max-slots", "0"]),
        max_slots,
    );
    // Accepted all the way to the missing snapshot: the flag's valid value hid the file's.
    let output = serve(
        dir,
        "max_slots = 0\n",
        &[("TAILOR_REQUIRE_SIGNATURES", "0")],
        &["--max-slots", "5"],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("no-such-snapshot.ndjson"), "{err}");
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
}

#[test]
fn unknown_keys_bad_types_and_bad_switches_are_named() {
    let scratch = Scratch::new("names");
    let dir = &scratch.0;
    let config = dir.join("serve.toml");
    refused_with(
        &serve(dir, "max_slotz = 3\n", &[], &[]),
        &format!("config file {}: unknown key `max_slotz`", config.display()),
    );
    refused_with(
        &serve(dir, "seed_bundled = \"no\"\n", &[], &[]),
        "config key `seed_bundled`: invalid type: string \"no\", expected a boolean",
    );
    refused_with(
        &serve(dir, "", &[("TAILOR_REQUIRE_SIGNATURES", "1")], &[]),
        "config key `require_signatures`: signatures are required but no trusted_keys are configured",
    );
    // Values clap refuses name the flag, whether given as one or as its variable.
    for (env, args, flag) in [
        (&[][..], &["--listen", "nowhere"][..], "--listen"),
        (&[("TAILOR_DEADLINE_MS", "ten")], &[], "--deadline-ms"),
        (&[("TAILOR_SEED_BUNDLED", "maybe")], &[], "--seed-bundled"),
        (&[("TAILOR_LOG", "tailor=loud")], &[], "--log"),
        (&[], &["--log", "tailor=loud"], "--log"),
    ] {
        let output = serve(dir, "", env, args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{err}");
        assert!(err.starts_with("error: invalid value"), "{err}");
        assert!(err.contains(flag), "{flag}: {err}");
    }
}
