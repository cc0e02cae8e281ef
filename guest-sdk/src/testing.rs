//! Running a policy natively, with no host and no wasm: for `cargo test` in a policy crate.

use crate::log::Level;
use crate::{
    Candidate, Config, Context, Decision, Policy, PolicyError, Profile, ProfileData, Request,
};
use std::cell::RefCell;
use std::path::Path;
use tailor_types::fixture;

thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn capture_log(level: Level, message: &str) {
    LOGS.with(|logs| logs.borrow_mut().push((level, message.to_owned())));
}

/// The log lines this thread's policy runs wrote since the last call.
pub fn take_logs() -> Vec<(Level, String)> {
    LOGS.with(|logs| std::mem::take(&mut *logs.borrow_mut()))
}

/// A request as the host would hand it to a policy, for calling `Policy::decide` directly.
pub fn request(
    context: Context,
    profile: ProfileData,
    candidates: Vec<Candidate>,
    config: serde_json::Value,
) -> Request<'static> {
    Request {
        context,
        profile: Profile::local(profile),
        candidates,
        config: Config::from_json(config),
    }
}

/// Runs a policy once, natively.
pub fn decide<P: Policy>(
    context: Context,
    profile: ProfileData,
    candidates: Vec<Candidate>,
    config: serde_json::Value,
) -> Result<Decision, PolicyError> {
    P::decide(&request(context, profile, candidates, config))
}

/// Reads a policy crate's `config.json` (`null` when it has none).
pub fn load_config(crate_dir: &Path) -> serde_json::Value {
    match std::fs::read_to_string(crate_dir.join("config.json")) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}/config.json: {e}", crate_dir.display())),
        Err(_) => serde_json::Value::Null,
    }
}

/// Runs every fixture case under `{crate_dir}/fixtures` natively and panics with a report of
/// each case whose outcome differs from its `expected.json`. Returns how many cases passed.
pub fn check_fixtures<P: Policy>(crate_dir: &Path) -> usize {
    let config = load_config(crate_dir);
    let cases = fixture::load_cases(&crate_dir.join("fixtures")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !cases.is_empty(),
        "no fixture cases in {}/fixtures",
        crate_dir.display()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let config = case.config.clone().unwrap_or_else(|| config.clone());
            let outcome = decide::<P>(
                case.context.clone(),
                case.profile.clone(),
                case.candidates.clone(),
                config,
            );
            case.expected
                .check(&outcome)
                .err()
                .map(|diff| format!("case {}: {diff}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// Generates a `#[test]` that runs every fixture case of the calling crate natively:
/// `tailor_guest::fixture_tests!(MyPolicy);` in `tests/fixtures.rs`.
#[macro_export]
macro_rules! fixture_tests {
    ($policy:ty) => {
        #[test]
        fn fixture_cases_pass_natively() {
            let passed =
                $crate::testing::check_fixtures::<$policy>(env!("CARGO_MANIFEST_DIR").as_ref());
            assert!(passed > 0, "no fixture cases ran");
        }
    };
}
