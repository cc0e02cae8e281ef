//! Builds every test policy under `host/test-policies/` to a component.

use std::fmt::Write;
use std::path::PathBuf;
use tailor_guest_build as gb;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.parent().expect("artifacts has a parent");
    let workspace = gb::workspace_root(&manifest);
    let guests = gb::guests_in(dir, &["artifacts"]);
    let components = gb::build(&workspace, &guests);

    let mut code = String::new();
    let mut each = String::new();
    for (guest, component) in guests.iter().zip(&components) {
        let component = component.to_str().expect("UTF-8 path");
        writeln!(code, "pub const {}: &[u8] = include_bytes!({component:?});", guest.const_name())
            .expect("writing to a String");
        writeln!(each, "        $mac!({}, $crate::{});", guest.ident(), guest.const_name())
            .expect("writing to a String");
    }
    writeln!(
        code,
        "/// Calls `$mac!(ident, CONST)` once per test policy: a test policy no test uses fails to compile.\n#[macro_export]\nmacro_rules! foreach_test_policy {{\n    ($mac:ident) => {{\n{each}    }};\n}}"
    )
    .expect("writing to a String");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("test_policies.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
