//! Running a policy natively, with no host and no wasm: for `cargo test` in a policy crate.

use crate::log::Level;
use crate::{
    Candidate, Config, Context, Decision, OutcomeData, Outcomes, Policy, PolicyError, Profile,
    ProfileData, Request,
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
    request_with_outcomes(context, profile, candidates, config, OutcomeData::default())
}

/// A request whose policy reads these outcome counts (what a node would have recorded).
pub fn request_with_outcomes(
    context: Context,
    profile: ProfileData,
    candidates: Vec<Candidate>,
    config: serde_json::Value,
    outcomes: OutcomeData,
) -> Request<'static> {
    Request {
        context,
        profile: Profile::local(profile),
        candidates,
        config: Config::from_json(config),
        outcomes: Outcomes::local(outcomes),
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

/// Checks a config document as the host does before publishing it (`Policy::check_config`).
pub fn check_config<P: Policy>(config: serde_json::Value) -> Vec<crate::ConfigProblem> {
    P::check_config(&Config::from_json(config))
}

/// Reads a policy crate's `config.json` (`null` when it has none).
pub fn load_config(crate_dir: &Path) -> serde_json::Value {
    match std::fs::read_to_string(crate_dir.join("config.json")) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}/config.json: {e}", crate_dir.display())),
        Err(_) => serde_json::Value::Null,
    }
}

/// Runs one fixture case, `{crate_dir}/fixtures/{case}`, natively (with the crate's
/// `config.json` unless the case has its own) and panics with the differences from its
/// `expected.json`, one line per differing field.
pub fn check_case<P: Policy>(crate_dir: &Path, case: &str) {
    let dir = crate_dir.join("fixtures").join(case);
    let case = fixture::load_case(&dir).unwrap_or_else(|e| panic!("{e}"));
    if let Err(mismatch) = run_case::<P>(&case, || load_config(crate_dir)) {
        let lines: Vec<String> = mismatch
            .to_string()
            .lines()
            .map(|line| format!("  {line}"))
            .collect();
        panic!(
            "fixture case {} differs from {}:\n{}",
            case.name,
            dir.join("expected.json").display(),
            lines.join("\n")
        );
    }
}

fn run_case<P: Policy>(
    case: &fixture::FixtureCase,
    config: impl FnOnce() -> serde_json::Value,
) -> Result<(), fixture::Mismatch> {
    let config = case.config.clone().unwrap_or_else(config);
    let outcome = decide::<P>(
        case.context.clone(),
        case.profile.clone(),
        case.candidates.clone(),
        config,
    );
    case.expected.compare(&outcome)
}

/// Runs every fixture case under `{crate_dir}/fixtures` natively and panics with a report of
/// each case whose outcome differs from its `expected.json`. Returns how many cases passed.
///
/// [`fixture_tests!`](crate::fixture_tests) makes one test per case instead; this is for tools
/// that check a whole folder at once.
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
            run_case::<P>(case, || config.clone())
                .err()
                .map(|mismatch| format!("case {}:\n{mismatch}", case.name))
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

/// Generates one `#[test]` per fixture case folder of the calling crate, named after the folder
/// (`fixtures/gold-member/` → `fn gold_member`), each running its case natively:
///
/// ```ignore
/// // tests/fixtures.rs
/// tailor_guest::fixture_tests!(MyPolicy);
/// ```
///
/// `cargo test gold_member` then runs that one case. The list of folders comes from the crate's
/// build script, a single line with `tailor-guest-build` as a build dependency:
///
/// ```ignore
/// // build.rs
/// fn main() {
///     tailor_guest_build::fixtures::write_tests();
/// }
/// ```
///
/// It reruns whenever `fixtures/` changes, so a new case folder gets its test without touching
/// code, and a removed one takes its test with it.
#[macro_export]
macro_rules! fixture_tests {
    ($policy:ty) => {
        /// Runs the named case of `fixtures/` (called by the generated tests).
        fn fixture_case(case: &str) {
            $crate::testing::check_case::<$policy>(env!("CARGO_MANIFEST_DIR").as_ref(), case);
        }

        include!(concat!(
            env!(
                "OUT_DIR",
                "fixture_tests! needs the crate's build.rs to call \
                 tailor_guest_build::fixtures::write_tests()"
            ),
            "/fixture_tests.rs"
        ));
    };
}
