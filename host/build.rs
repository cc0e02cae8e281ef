//! Embeds the console (`console/`): one table entry per file, so a file added there is served
//! without being listed anywhere else. Embeds the guest SDK's sources the same way, for
//! `tailor new` to write into a policy crate outside this workspace.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    console();
    authoring_sources();
}

fn console() {
    // Read when the script runs (not `env!`, fixed when it was compiled): cargo may reuse a
    // compiled build script for a copy of the package elsewhere.
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|e| panic!("CARGO_MANIFEST_DIR: {e}"));
    let dir = Path::new(&manifest).join("console");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    let mut table = String::from("&[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("json") => "application/json",
            _ => panic!("console/{name}: no content type for this kind of file"),
        };
        let _ = writeln!(
            table,
            "    ({name:?}, {content_type:?}, include_bytes!({path:?})),"
        );
    }
    table.push(']');
    let out = std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
    let target = Path::new(&out).join("console_assets.rs");
    std::fs::write(&target, table).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
}

/// The sources `tailor new` vendors into a policy crate (`vendor/<dir>/…`): the SDK, the types
/// and bucketing crates it depends on, the build-script helper and the WIT contract. Their
/// manifests are written by `tailor new` itself (these use the workspace's inheritance).
fn authoring_sources() {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|e| panic!("CARGO_MANIFEST_DIR: {e}"));
    let root = Path::new(&manifest).join("..");
    // (directory in this workspace, directory under vendor/)
    let trees = [
        ("guest-sdk/src", "guest-sdk/src"),
        ("types/src", "types/src"),
        ("bucketing/src", "bucketing/src"),
        ("bucketing/test-vectors.tsv", "bucketing/test-vectors.tsv"),
        ("policies/guest-build/src", "guest-build/src"),
        ("wit", "wit"),
    ];
    let mut table = String::from("&[\n");
    for (from, to) in trees {
        let path = root.join(from);
        println!("cargo:rerun-if-changed={}", path.display());
        let mut files = Vec::new();
        collect(&path, Path::new(to), &mut files);
        files.sort();
        for (vendored, source) in files {
            let vendored = vendored
                .to_str()
                .unwrap_or_else(|| panic!("non-UTF-8 path"));
            let _ = writeln!(table, "    ({vendored:?}, include_bytes!({source:?})),");
        }
    }
    table.push(']');
    let out = std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
    let target = Path::new(&out).join("authoring_sources.rs");
    std::fs::write(&target, table).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
}

/// Every file under `path` (or `path` itself), as (its name under `name`, its full path).
fn collect(path: &Path, name: &Path, files: &mut Vec<(std::path::PathBuf, std::path::PathBuf)>) {
    if path.is_file() {
        let full = path
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files.push((name.to_path_buf(), full));
        return;
    }
    for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        collect(&entry.path(), &name.join(entry.file_name()), files);
    }
}
