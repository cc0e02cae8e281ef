//! Builds every test policy under `host/test-policies/` to a component.

use tailor_guest_build as gb;

fn main() {
    let manifest = gb::manifest_dir();
    let dir = manifest.parent().unwrap_or(&manifest);
    let workspace = gb::workspace_root(&manifest);
    let guests = gb::guests_in(dir, &["artifacts"]);
    let components = gb::build(&workspace, &guests);

    let mut generated = gb::Generated::default();
    for (guest, component) in guests.iter().zip(&components) {
        generated.add(
            guest,
            &format!(
                "/// {}\npub const {}: &[u8] = include_bytes!({:?});",
                guest.package,
                guest.const_name(),
                gb::path_str(component)
            ),
        );
    }
    generated.write("test_policies.rs", "foreach_test_policy");
}
