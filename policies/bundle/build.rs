//! Builds every example policy under `policies/` to a component and embeds it.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use tailor_guest_build as gb;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let policies_dir = manifest.parent().expect("policies/bundle has a parent");
    let workspace = gb::workspace_root(&manifest);
    let guests = gb::guests_in(policies_dir, &["bundle", "guest-build"]);
    let components = gb::build(&workspace, &guests);

    let mut code = String::new();
    let mut all = String::new();
    let mut each = String::new();
    for (guest, component) in guests.iter().zip(&components) {
        let config = guest.dir.join("config.json");
        let config = if config.is_file() { format!("Some(include_str!({:?}))", path(&config)) } else { "None".into() };
        let description = description(&guest.dir.join("Cargo.toml"));
        writeln!(
            code,
            "/// `{name}`: {description}\npub const {konst}: BundledPolicy = BundledPolicy {{ name: {name:?}, description: {description:?}, component: include_bytes!({component:?}), config: {config}, fixtures_dir: {fixtures:?} }};",
            name = guest.package,
            konst = guest.const_name(),
            component = path(component),
            fixtures = path(&guest.dir.join("fixtures")),
        )
        .expect("writing to a String");
        write!(all, "{}, ", guest.const_name()).expect("writing to a String");
        writeln!(each, "        $mac!({}, $crate::{});", guest.ident(), guest.const_name()).expect("writing to a String");
    }
    writeln!(code, "/// Every bundled policy.\npub const ALL: &[BundledPolicy] = &[{all}];").expect("writing to a String");
    writeln!(
        code,
        "/// Calls `$mac!(ident, CONST)` once per bundled policy, so tests cover each one.\n#[macro_export]\nmacro_rules! foreach_policy {{\n    ($mac:ident) => {{\n{each}    }};\n}}"
    )
    .expect("writing to a String");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("bundled.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

fn path(p: &Path) -> String {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display())).to_owned()
}

fn description(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("description = "))
        .map(|d| d.trim_matches('"').to_owned())
        .unwrap_or_default()
}
