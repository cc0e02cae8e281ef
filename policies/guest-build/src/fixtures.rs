//! Fixture case folders as tests: lists `fixtures/<case>/` so that each case becomes its own
//! `#[test]`, named after its folder (`gold-member` → `gold_member`), and `cargo test <case>`
//! runs just that case. A new folder gets a test at the next build, a removed one loses it.

use std::path::{Path, PathBuf};

/// One fixture case folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The folder name, which is the case's name.
    pub name: String,
    /// The name of the case's test function.
    pub ident: String,
    pub dir: PathBuf,
}

/// Every case folder directly under `dir`, sorted by name (none if `dir` does not exist).
///
/// Panics when two folders make the same test name (`a-b` and `a_b`), naming both.
pub fn cases_in(dir: &Path) -> Vec<Case> {
    let mut cases: Vec<Case> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir())
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?.to_owned();
                Some(Case {
                    ident: test_ident(&name),
                    name,
                    dir: path,
                })
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    };
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = std::collections::HashMap::new();
    for case in &cases {
        if let Some(twin) = seen.insert(&case.ident, &case.name) {
            panic!(
                "fixture cases {twin:?} and {:?} in {} would both be the test `{}`: rename one",
                case.name,
                dir.display(),
                case.ident
            );
        }
    }
    cases
}

/// The test function name for a case folder: characters that cannot be in an identifier
/// become `_`; a name that would still not be a plain identifier (one starting with a digit,
/// or a keyword) is prefixed with `case_`.
pub fn test_ident(name: &str) -> String {
    let ident: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && ident != "_"
        && !KEYWORDS.contains(&ident.as_str());
    if plain {
        ident
    } else {
        format!("case_{ident}")
    }
}

/// Strict and reserved keywords of Rust 2024.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// For a policy crate's `build.rs`: writes `OUT_DIR/fixture_tests.rs`, one `#[test]` per
/// folder under the crate's `fixtures/` that calls `fixture_case("<name>")`, for
/// `tailor_guest::fixture_tests!` to include. With no case folders it is a single test that
/// fails saying so.
pub fn write_tests() {
    let fixtures = crate::manifest_dir().join("fixtures");
    // A directory: cargo reruns the script when anything under it changes (a folder added or
    // removed included), and only then.
    println!("cargo:rerun-if-changed={}", fixtures.display());
    let cases = cases_in(&fixtures);
    let mut code = String::new();
    for case in &cases {
        code.push_str(&format!(
            "/// Fixture case `{name}`.\n#[test]\nfn {ident}() {{\n    fixture_case({name:?});\n}}\n",
            name = case.name,
            ident = case.ident,
        ));
    }
    if cases.is_empty() {
        code.push_str(&format!(
            "#[test]\nfn fixture_cases_exist() {{\n    panic!({:?});\n}}\n",
            format!(
                "no fixture case folders in {}: add one per case (context.json, expected.json, …)",
                fixtures.display()
            )
        ));
    }
    let out = crate::out_dir().join("fixture_tests.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_become_identifiers() {
        assert_eq!(test_ident("gold-member"), "gold_member");
        assert_eq!(test_ident("Gold member.v2"), "Gold_member_v2");
        assert_eq!(test_ident("2-for-1"), "case_2_for_1");
        assert_eq!(test_ident("match"), "case_match");
        assert_eq!(test_ident("self"), "case_self");
        assert_eq!(test_ident("-"), "case__");
        assert_eq!(test_ident("_private"), "_private");
        assert_eq!(test_ident(""), "case_");
    }
}
