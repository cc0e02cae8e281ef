//! The example policies of `policies/`, compiled to `wasm32-wasip2` components when this crate
//! is built and embedded with their configs, so the `tailor` binary ships with working defaults
//! and tests can name every example.

/// An example policy built into the binary.
#[derive(Debug, Clone, Copy)]
pub struct BundledPolicy {
    /// Package name, which is also the policy name, for example `hero-banner`.
    pub name: &'static str,
    pub description: &'static str,
    /// The component's bytes.
    pub component: &'static [u8],
    /// The policy's `config.json`, if it has one.
    pub config: Option<&'static str>,
    /// Where the policy's fixture cases live in the source tree.
    pub fixtures_dir: &'static str,
}

/// Looks a bundled policy up by name.
pub fn find(name: &str) -> Option<&'static BundledPolicy> {
    ALL.iter().find(|p| p.name == name)
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
