//! Builds guest policies to `wasm32-wasip2` components from a build script.
//!
//! The pattern of wasmtime's `test-programs/artifacts`: the build script runs cargo for the wasm
//! target with its own target directory under `OUT_DIR` (so it never waits on the outer cargo's
//! lock), with the outer `RUSTFLAGS` removed (they are for the host), prints `rerun-if-changed`
//! for every input, and generates one constant per component plus a `foreach_…!` macro, so a
//! component that no test names fails to compile the tests.
//!
//! It also turns a policy's fixture case folders into one test each ([`fixtures`]).

#![expect(clippy::print_stdout, reason = "build scripts talk to cargo on stdout")]
#![expect(
    clippy::expect_used,
    reason = "a build script without the variables cargo sets cannot go on"
)]

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target every policy is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Cargo profile the guests are built with (defined in the workspace manifest).
pub const PROFILE: &str = "guest";

/// A guest crate to build.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Cargo package name, for example `hero-banner`.
    pub package: String,
    /// The crate's directory.
    pub dir: PathBuf,
}

impl Guest {
    /// `hero-banner` → `HERO_BANNER`.
    pub fn const_name(&self) -> String {
        self.package.replace('-', "_").to_uppercase()
    }

    /// `hero-banner` → `hero_banner`.
    pub fn ident(&self) -> String {
        self.package.replace('-', "_")
    }
}

/// Every crate directory directly under `dir` that has a `Cargo.toml`, except those named in
/// `skip`, sorted by name.
pub fn guests_in(dir: &Path, skip: &[&str]) -> Vec<Guest> {
    let mut guests: Vec<Guest> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            (!skip.contains(&name.as_str())).then_some(Guest {
                package: name,
                dir: path,
            })
        })
        .collect();
    guests.sort_by(|a, b| a.package.cmp(&b.package));
    guests
}

/// The toolchain to build guests with instead of the outer build's, from
/// `TAILOR_GUEST_TOOLCHAIN` (for example the pinned stable while `cargo +nightly fuzz` builds the
/// host: a nightly may not have the wasm target, and the guests do not need it).
fn guest_toolchain() -> Option<String> {
    println!("cargo:rerun-if-env-changed=TAILOR_GUEST_TOOLCHAIN");
    std::env::var("TAILOR_GUEST_TOOLCHAIN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// A command for a toolchain tool (`cargo`, `rustc`): through `rustup run` when guests have a
/// toolchain of their own, otherwise the outer build's.
fn tool(name: &str, outer: Option<String>) -> Command {
    match guest_toolchain() {
        Some(toolchain) => {
            let mut cmd = Command::new("rustup");
            cmd.args(["run", &toolchain, name]);
            // The outer build's tool choices would override the toolchain's own.
            for var in [
                "RUSTUP_TOOLCHAIN",
                "RUSTC",
                "RUSTDOC",
                "RUSTC_WRAPPER",
                "CARGO",
            ] {
                cmd.env_remove(var);
            }
            cmd
        }
        None => Command::new(outer.unwrap_or_else(|| name.into())),
    }
}

/// Whether the wasm target's standard library is installed.
fn target_installed() -> bool {
    tool("rustc", std::env::var("RUSTC").ok())
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .as_deref()
        .is_some_and(has_std)
}

/// Makes sure the wasm target's standard library is installed, adding it with rustup if not.
///
/// Several build scripts of one build call this at once on a fresh machine, and two rustup
/// downloads of one component into one directory fail each other; so the check and the
/// install hold a lock file, and whoever waited finds the target installed.
pub fn ensure_target() {
    if target_installed() {
        return;
    }
    let lock_path = std::env::temp_dir().join("tailor-guest-target.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));
    if target_installed() {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build policies)");
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Some(toolchain) = guest_toolchain() {
        add.args(["--toolchain", &toolchain]);
    }
    let status = add.status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => {
            panic!("`rustup target add {TARGET}` failed ({status}); install the target and retry")
        }
        Err(e) => panic!(
            "the {TARGET} target is missing and rustup could not be run ({e}); install the target"
        ),
    }
}

fn has_std(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}

/// Builds the guests and returns the path of each component, in the order given.
pub fn build(workspace: &Path, guests: &[Guest]) -> Vec<PathBuf> {
    ensure_target();
    let target_dir = out_dir().join("guests");
    let mut cmd = tool("cargo", std::env::var("CARGO").ok());
    cmd.current_dir(workspace)
        .args(["build", "--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for guest in guests {
        cmd.args(["-p", &guest.package]);
    }
    // The outer build's flags and overrides are for the host, not for the guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    for (var, _) in std::env::vars() {
        if var.starts_with("CARGO_PROFILE_")
            || var.starts_with("CARGO_FEATURE_")
            || var.starts_with("CARGO_CFG_")
        {
            cmd.env_remove(var);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running cargo for the guests: {e}"));
    assert!(
        status.success(),
        "building guest policies failed ({status}); see the cargo output above"
    );

    for path in rerun_inputs(workspace, guests) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=RUSTUP_TOOLCHAIN");

    guests
        .iter()
        .map(|guest| {
            let file = format!("{}.wasm", guest.ident());
            let path = target_dir.join(TARGET).join(PROFILE).join(file);
            assert!(
                path.is_file(),
                "cargo reported success but {} is missing",
                path.display()
            );
            path
        })
        .collect()
}

/// Everything a guest component depends on in this workspace.
fn rerun_inputs(workspace: &Path, guests: &[Guest]) -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = guests.iter().map(|g| g.dir.clone()).collect();
    for shared in [
        "guest-sdk",
        "types",
        "bucketing",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
    ] {
        inputs.push(workspace.join(shared));
    }
    // A missing path would make cargo rerun the script on every build.
    inputs.retain(|path| path.exists());
    inputs
}

/// The workspace root, from a build script's manifest directory.
pub fn workspace_root(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("[workspace]"))
        })
        .unwrap_or_else(|| panic!("no workspace root above {}", manifest_dir.display()))
        .to_path_buf()
}

/// Rust source generated for a set of built guests: one constant each and a `foreach` macro.
#[derive(Debug, Default)]
pub struct Generated {
    code: String,
    arms: String,
}

impl Generated {
    /// Adds a guest's constant (`definition` is the full item) and its arm in the macro.
    pub fn add(&mut self, guest: &Guest, definition: &str) {
        self.code.push_str(definition);
        self.code.push('\n');
        self.arms.push_str(&format!(
            "        $mac!({}, $crate::{});\n",
            guest.ident(),
            guest.const_name()
        ));
    }

    /// Adds an item that is not per guest.
    pub fn item(&mut self, code: &str) {
        self.code.push_str(code);
        self.code.push('\n');
    }

    /// Writes the code and `macro_name!($mac)`, which calls `$mac!(ident, CONST)` once per guest,
    /// to `OUT_DIR/{file}`.
    pub fn write(mut self, file: &str, macro_name: &str) {
        self.code.push_str(&format!(
            "/// Calls `$mac!(ident, CONST)` once per component, so tests must name every one.\n#[macro_export]\nmacro_rules! {macro_name} {{\n    ($mac:ident) => {{\n{}    }};\n}}\n",
            self.arms
        ));
        let out = out_dir().join(file);
        std::fs::write(&out, self.code)
            .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    }
}

/// Where the running build script writes its outputs.
pub fn out_dir() -> PathBuf {
    PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"))
}

/// The directory of the package whose build script is running.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .expect("cargo sets CARGO_MANIFEST_DIR for build scripts"),
    )
}

/// Path as a string for `include_bytes!`/`include_str!`.
pub fn path_str(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
        .to_owned()
}
