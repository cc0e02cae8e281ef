//! Builds every example policy under `policies/` to a component and embeds it.

use std::path::Path;
use tailor_guest_build as gb;

fn main() {
    let manifest = gb::manifest_dir();
    let policies_dir = manifest.parent().unwrap_or(&manifest);
    let workspace = gb::workspace_root(&manifest);
    let guests = gb::guests_in(policies_dir, &["bundle", "guest-build"]);
    // A policy added or removed changes what is bundled (the directory's listing).
    println!("cargo:rerun-if-changed={}", policies_dir.display());
    let components = gb::build(&workspace, &guests);

    let mut generated = gb::Generated::default();
    let mut all = Vec::new();
    let mut fixture_arms = String::new();
    for (guest, component) in guests.iter().zip(&components) {
        let config = guest.dir.join("config.json");
        let config = if config.is_file() {
            format!("Some(include_str!({:?}))", gb::path_str(&config))
        } else {
            "None".into()
        };
        let description = description(&guest.dir.join("Cargo.toml"));
        generated.add(
            guest,
            &format!(
                "/// `{name}`: {description}\npub const {konst}: BundledPolicy = BundledPolicy {{ name: {name:?}, description: {description:?}, component: include_bytes!({component:?}), config: {config}, fixtures_dir: {fixtures:?} }};",
                name = guest.package,
                konst = guest.const_name(),
                component = gb::path_str(component),
                fixtures = gb::path_str(&guest.dir.join("fixtures")),
            ),
        );
        all.push(guest.const_name());
        let cases: Vec<String> = gb::fixtures::cases_in(&guest.dir.join("fixtures"))
            .iter()
            .map(|case| format!("{} => {:?}", case.ident, case.name))
            .collect();
        fixture_arms.push_str(&format!(
            "        $mac!({}, $crate::{}, [{}]);\n",
            guest.ident(),
            guest.const_name(),
            cases.join(", ")
        ));
    }
    generated.item(&format!(
        "/// Every bundled policy.\npub const ALL: &[BundledPolicy] = &[{}];",
        all.join(", ")
    ));
    generated.item(&format!(
        "/// Calls `$mac!(ident, CONST, [case_ident => \"case-name\", …])` once per policy, with\n/// one entry per fixture case folder, so that each case can be its own test.\n#[macro_export]\nmacro_rules! foreach_fixture_case {{\n    ($mac:ident) => {{\n{fixture_arms}    }};\n}}"
    ));
    generated.write("bundled.rs", "foreach_policy");
}

fn description(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("description = "))
        .map(|d| d.trim_matches('"').to_owned())
        .unwrap_or_default()
}
