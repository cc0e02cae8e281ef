//! Writing policies outside this repository: the crate `tailor new` writes (with the SDK's
//! sources vendored, since the SDK is not published), and building and checking it
//! ([`project`]) for `tailor build` and `tailor test`.

pub mod lock;
pub mod project;

use std::path::{Path, PathBuf};

/// What went wrong writing a new policy crate.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "{name:?} is not a policy crate name: use lowercase letters, digits and `-`, starting with a letter"
    )]
    InvalidName { name: String },
    #[error("{} already exists", .path.display())]
    Exists { path: PathBuf },
    #[error("writing {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the binary's own Cargo.lock cannot be read: {0}")]
    Lock(String),
}

/// The sources of the SDK crates and the contract, as `(path under vendor/, bytes)`: listed by
/// `build.rs`, so a file added to the SDK is vendored without being named here.
const VENDORED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/authoring_sources.rs"));

/// The manifests of the vendored crates (the workspace's own inherit from its root).
const VENDORED_MANIFESTS: &[(&str, &str)] = &[
    (
        "guest-sdk",
        include_str!("authoring/template/guest-sdk.toml.in"),
    ),
    ("types", include_str!("authoring/template/types.toml.in")),
    (
        "bucketing",
        include_str!("authoring/template/bucketing.toml.in"),
    ),
    (
        "guest-build",
        include_str!("authoring/template/guest-build.toml.in"),
    ),
];

/// Dependencies of the vendored crates that only the host uses (`tailor-types`'s `wasmtime`
/// feature): left out of the generated lock.
const HOST_ONLY: &[(&str, &str)] = &[("tailor-types", "wasmtime")];

/// The fixture case the new crate starts with.
pub const FIRST_CASE: &str = "gold-member-gets-the-tier-headline";

/// The crate's own files, as `(path, template)`.
const PROJECT: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("authoring/template/Cargo.toml.in"),
    ),
    (
        ".cargo/config.toml",
        include_str!("authoring/template/cargo-config.toml.in"),
    ),
    // The toolchain this workspace's policies are built with.
    (
        "rust-toolchain.toml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../rust-toolchain.toml"
        )),
    ),
    (
        ".gitignore",
        include_str!("authoring/template/gitignore.in"),
    ),
    ("build.rs", include_str!("authoring/template/build.rs.in")),
    ("src/lib.rs", include_str!("authoring/template/lib.rs.in")),
    (
        "tests/fixtures.rs",
        include_str!("authoring/template/fixtures.rs.in"),
    ),
    (
        "config.json",
        include_str!("authoring/template/config.json.in"),
    ),
];

/// The first case's files, under `fixtures/<FIRST_CASE>/`.
const CASE: &[(&str, &str)] = &[
    (
        "context.json",
        include_str!("authoring/template/context.json.in"),
    ),
    (
        "profile.json",
        include_str!("authoring/template/profile.json.in"),
    ),
    (
        "expected.json",
        include_str!("authoring/template/expected.json.in"),
    ),
];

/// Writes a new policy crate `name` in `parent/name` and returns its directory.
pub fn scaffold(parent: &Path, name: &str) -> Result<PathBuf, NewError> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(NewError::Exists { path: dir });
    }
    let lock =
        lock::Lock::parse(lock::WORKSPACE_LOCK).map_err(|e| NewError::Lock(e.to_string()))?;
    let fill = |template: &str| render(template, name, &lock);

    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (path, template) in PROJECT {
        files.push((PathBuf::from(path), fill(template)?.into_bytes()));
    }
    for (path, template) in CASE {
        let path = Path::new("fixtures").join(FIRST_CASE).join(path);
        files.push((path, fill(template)?.into_bytes()));
    }
    for (krate, template) in VENDORED_MANIFESTS {
        let path = Path::new("vendor").join(krate).join("Cargo.toml");
        files.push((path, fill(template)?.into_bytes()));
    }
    for (path, bytes) in VENDORED {
        files.push((Path::new("vendor").join(path), bytes.to_vec()));
    }
    let root = lock::Package {
        name: name.to_owned(),
        version: "0.1.0".into(),
        source: None,
        checksum: None,
        dependencies: ["serde", "serde_json", "tailor-guest", "tailor-guest-build"]
            .map(String::from)
            .to_vec(),
    };
    let lock_file = lock.subset(&root, HOST_ONLY).map_err(NewError::Lock)?;
    files.push(("Cargo.lock".into(), lock_file.into_bytes()));

    for (path, bytes) in files {
        let path = dir.join(path);
        let write = |path: &Path| {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &bytes)
        };
        write(&path).map_err(|source| NewError::Write { path, source })?;
    }
    Ok(dir)
}

/// A crate name that is also a plain Rust identifier once `-` becomes `_`.
fn check_name(name: &str) -> Result<(), NewError> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.starts_with("tailor-");
    if ok {
        Ok(())
    } else {
        Err(NewError::InvalidName { name: name.into() })
    }
}

/// Fills a template: `@NAME@`, `@CRATE@` (the identifier), `@TYPE@` (the policy's type name),
/// versions, and `@V:<crate>@`, the version the SDK is locked to here.
fn render(template: &str, name: &str, lock: &lock::Lock) -> Result<String, NewError> {
    let ident = name.replace('-', "_");
    let type_name: String = name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let mut text = template
        .replace("@NAME@", name)
        .replace("@CRATE@", &ident)
        .replace("@TYPE@", &type_name)
        .replace("@RUST_VERSION@", env!("CARGO_PKG_RUST_VERSION"))
        .replace("@SDK_VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@TAILOR_VERSION@", env!("CARGO_PKG_VERSION"));
    while let Some(start) = text.find("@V:") {
        let end = text[start + 3..]
            .find('@')
            .map(|i| start + 3 + i)
            .ok_or_else(|| NewError::Lock("unterminated @V: in a template".into()))?;
        let krate = &text[start + 3..end];
        let version = ["tailor-guest", "tailor-types"]
            .iter()
            .find_map(|from| lock.version_of(from, krate))
            .ok_or_else(|| NewError::Lock(format!("the SDK is locked to no {krate}")))?
            .to_owned();
        text.replace_range(start..=end, &version);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_crate_names_and_identifiers() {
        for good in ["hero", "spring-hero", "offer2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Hero",
            "2hero",
            "hero_x",
            "hero-",
            "tailor-guest",
            "a b",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_get_the_locked_versions() {
        let lock = lock::Lock::parse(lock::WORKSPACE_LOCK).unwrap();
        let manifest = render(VENDORED_MANIFESTS[0].1, "x", &lock).unwrap();
        let wit = lock.version_of("tailor-guest", "wit-bindgen").unwrap();
        assert!(
            manifest.contains(&format!("version = \"={wit}\"")),
            "{manifest}"
        );
        let lib = render(PROJECT[5].1, "spring-hero", &lock).unwrap();
        assert!(lib.contains("pub struct SpringHero;"), "{lib}");
    }

    #[test]
    fn every_sdk_source_is_vendored() {
        let names: Vec<&str> = VENDORED.iter().map(|(path, _)| *path).collect();
        for needed in [
            "guest-sdk/src/lib.rs",
            "types/src/lib.rs",
            "bucketing/src/lib.rs",
            "bucketing/test-vectors.tsv",
            "guest-build/src/lib.rs",
            "guest-build/src/fixtures.rs",
            "wit/policy-0.2.0/policy.wit",
        ] {
            assert!(names.contains(&needed), "{needed} not in {names:?}");
        }
    }
}
