//! Embeds the console (`console/`): one table entry per file, so a file added there is served
//! without being listed anywhere else.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
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
