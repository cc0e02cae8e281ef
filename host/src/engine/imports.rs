//! Which imports a policy may have: the contract's host interface and the inert WASI subset
//! that Rust's standard library links (see `std_shim.rs`). Anything else is refused by name.

use super::LoadError;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// Interfaces a policy may import, by name without version, with the versions accepted.
const ALLOWED: &[(&str, &str)] = &[
    ("tailor:policy/host", "0.1."),
    ("tailor:policy/types", "0.1."),
    ("tailor:policy/customer", "0.1."),
    ("tailor:policy/host", "0.2."),
    ("tailor:policy/types", "0.2."),
    ("tailor:policy/customer", "0.2."),
    ("tailor:policy/outcomes", "0.2."),
    ("wasi:io/error", "0.2."),
    ("wasi:io/poll", "0.2."),
    ("wasi:io/streams", "0.2."),
    ("wasi:cli/environment", "0.2."),
    ("wasi:cli/exit", "0.2."),
    ("wasi:cli/stdin", "0.2."),
    ("wasi:cli/stdout", "0.2."),
    ("wasi:cli/stderr", "0.2."),
    ("wasi:cli/terminal-input", "0.2."),
    ("wasi:cli/terminal-output", "0.2."),
    ("wasi:cli/terminal-stdin", "0.2."),
    ("wasi:cli/terminal-stdout", "0.2."),
    ("wasi:cli/terminal-stderr", "0.2."),
    // A constant seed for std's hash maps; no other randomness (see `std_shim.rs`).
    ("wasi:random/insecure-seed", "0.2."),
];

/// Why a known-but-denied interface is refused, for the error message.
fn why_denied(interface: &str) -> &'static str {
    match interface.split('/').next().unwrap_or("") {
        "wasi:filesystem" => "policies get no filesystem",
        "wasi:sockets" | "wasi:http" => "policies get no network",
        "wasi:clocks" => "policies read the time from the context's `now-ms`",
        "wasi:random" => "decisions must be deterministic; use the SDK's bucketing",
        _ if interface.starts_with("tailor:policy/") => "this contract version is not supported",
        _ => "it is not part of the tailor:policy contract",
    }
}

/// How serious a denied import is, so the error leads with the capability that matters most
/// (reading a file pulls in clocks too; the file access is the news).
fn severity(interface: &str) -> u8 {
    match interface.split('/').next().unwrap_or("") {
        "wasi:filesystem" | "wasi:sockets" | "wasi:http" => 0,
        "wasi:random" => 1,
        "wasi:clocks" => 2,
        _ => 3,
    }
}

/// Checks every import of a component against the allow-list. The error names the most
/// serious forbidden import and lists the others.
pub(crate) fn check(
    name: &str,
    component: &Component,
    engine: &wasmtime::Engine,
) -> Result<(), LoadError> {
    let component_type = component.component_type();
    let mut denied: Vec<&str> = component_type
        .imports(engine)
        // A type import (the world's `use customer.{profile}`) grants nothing by itself.
        .filter(|(_, item)| !matches!(item.ty, ComponentItem::Type(_) | ComponentItem::Resource(_)))
        .map(|(import, _)| import)
        .filter(|import| {
            let (interface, version) = import.split_once('@').unwrap_or((import, ""));
            !ALLOWED
                .iter()
                .any(|(allowed, versions)| *allowed == interface && version.starts_with(versions))
        })
        .collect();
    denied.sort_by_key(|import| (severity(import), *import));
    let Some((first, others)) = denied.split_first() else {
        return Ok(());
    };
    let interface = first
        .split_once('@')
        .map_or(*first, |(interface, _)| interface);
    Err(LoadError::ForbiddenImport {
        name: name.to_owned(),
        import: (*first).to_owned(),
        why: why_denied(interface),
        others: others.iter().map(|s| (*s).to_owned()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_reasons_name_the_capability() {
        assert_eq!(
            why_denied("wasi:filesystem/preopens"),
            "policies get no filesystem"
        );
        assert_eq!(why_denied("wasi:sockets/tcp"), "policies get no network");
        assert!(why_denied("wasi:clocks/wall-clock").contains("now-ms"));
        assert!(why_denied("tailor:policy/host").contains("version"));
        assert!(why_denied("acme:evil/thing").contains("not part"));
    }
}
