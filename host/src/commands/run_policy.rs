//! `tailor run-policy`: evaluate a policy once against files and print the decision.

use anyhow::{Context as _, bail};
use clap::Args;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tailor_host::{Engine, EngineConfig, Evaluation, Limits, PolicySource, bundled};
use tailor_types::fixture::{Expected, Mismatch};
use tailor_types::{Candidate, Context, Decision, Profile, Reason};

/// Exit status when the policy failed and the fallback was served.
const EXIT_FELL_BACK: u8 = 2;
/// Exit status when the decision differs from the case's `expected.json`.
const EXIT_UNEXPECTED: u8 = 3;

#[derive(Debug, Args)]
pub struct RunPolicyArgs {
    /// A component file (`.wasm`), or the name of a bundled example policy
    /// (hero-banner, next-best-offer, kiosk-greeting).
    pub policy: String,
    /// A fixture case folder: reads context.json, profile.json, candidates.json and config.json
    /// from it (the flags below override each), and compares with its expected.json; an outcome
    /// that differs prints each differing field (its JSON pointer, the expected and the actual
    /// value) on standard error and exits with status 3.
    #[arg(long)]
    pub case: Option<PathBuf>,
    /// Request context JSON file (`-` for standard input).
    #[arg(long)]
    pub context: Option<PathBuf>,
    /// Profile snapshot JSON file; absent means an anonymous visitor.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Candidates JSON file (an array).
    #[arg(long)]
    pub candidates: Option<PathBuf>,
    /// The policy's config JSON; defaults to the bundled policy's own config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Decision served if the policy fails (reason becomes ERROR); defaults to an empty one.
    #[arg(long)]
    pub fallback: Option<PathBuf>,
    /// Deadline of the decision in milliseconds.
    #[arg(long, env = "TAILOR_DEADLINE_MS", default_value_t = 10)]
    pub deadline_ms: u64,
    /// Linear memory cap of the policy in MiB.
    #[arg(long, env = "TAILOR_MAX_MEMORY_MIB", default_value_t = 16)]
    pub max_memory_mib: usize,
    /// Output cap of the decision in KiB.
    #[arg(long, env = "TAILOR_MAX_OUTPUT_KIB", default_value_t = 64)]
    pub max_output_kib: usize,
}

#[derive(Serialize)]
struct Report<'a> {
    policy: &'a str,
    decision: &'a Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a tailor_host::DecisionError>,
    elapsed_us: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    matches_expected: Option<bool>,
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("reading standard input");
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = read_text(path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// The flag's file, else the case folder's file if it exists.
fn input(flag: &Option<PathBuf>, case: &Option<PathBuf>, file: &str) -> Option<PathBuf> {
    flag.clone().or_else(|| {
        case.as_ref()
            .map(|dir| dir.join(file))
            .filter(|p| p.is_file())
    })
}

pub fn run(args: RunPolicyArgs) -> anyhow::Result<ExitCode> {
    let (component, bundled_config) = if Path::new(&args.policy).is_file() {
        let bytes =
            std::fs::read(&args.policy).with_context(|| format!("reading {}", args.policy))?;
        (bytes, None)
    } else if let Some(policy) = bundled::find(&args.policy) {
        (policy.component.to_vec(), policy.config)
    } else {
        let names: Vec<&str> = bundled::ALL.iter().map(|p| p.name).collect();
        bail!(
            "`{}` is neither a component file nor a bundled policy ({})",
            args.policy,
            names.join(", ")
        );
    };

    let Some(context_path) = input(&args.context, &args.case, "context.json") else {
        bail!("a context is required: pass --context FILE or --case DIR");
    };
    let context: Context = read_json(&context_path)?;
    let profile: Profile = input(&args.profile, &args.case, "profile.json")
        .map(|p| read_json(&p))
        .transpose()?
        .unwrap_or_default();
    let candidates: Vec<Candidate> = input(&args.candidates, &args.case, "candidates.json")
        .map(|p| read_json(&p))
        .transpose()?
        .unwrap_or_default();
    let config = match input(&args.config, &args.case, "config.json") {
        Some(path) => Some(read_text(&path)?),
        None => bundled_config.map(str::to_owned),
    };
    let fallback: Decision = match &args.fallback {
        Some(path) => read_json(path)?,
        None => Decision::new(Reason::Default),
    };

    let limits = Limits {
        deadline: Duration::from_millis(args.deadline_ms),
        max_memory_bytes: args.max_memory_mib << 20,
        max_output_bytes: args.max_output_kib << 10,
        ..Limits::default()
    };
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 1,
        default_limits: limits,
        max_memory_bytes_ceiling: limits.max_memory_bytes.max(16 << 20),
        ..EngineConfig::default()
    })?;
    let name = Path::new(&args.policy)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(&args.policy);
    let policy = engine.load(PolicySource {
        name,
        component: &component,
        config: config.as_deref(),
        limits: None,
    })?;

    let started = Instant::now();
    let Evaluation {
        decision, error, ..
    } = engine.evaluate(&policy, &context, &profile.into(), &candidates, &fallback);
    let elapsed_us = started.elapsed().as_micros();

    let expected_path = args
        .case
        .as_ref()
        .map(|dir| dir.join("expected.json"))
        .filter(|p| p.is_file());
    let expected = match &expected_path {
        Some(path) => Some(read_json::<Expected>(path)?),
        None => None,
    };
    let outcome = match &error {
        Some(e) if e.code == tailor_host::ErrorCode::PolicyError => {
            Err(tailor_types::PolicyError::new(
                e.message.split(':').next().unwrap_or_default(),
                e.message.clone(),
            ))
        }
        Some(e) => Err(tailor_types::PolicyError::new(
            e.code.as_str(),
            e.message.clone(),
        )),
        None => Ok(decision.clone()),
    };
    let mismatch = expected.as_ref().map(|want| want.compare(&outcome));
    let matches_expected = mismatch.as_ref().map(Result::is_ok);

    let report = Report {
        policy: name,
        decision: &decision,
        error: error.as_ref(),
        elapsed_us,
        matches_expected,
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    if let (Some(Err(mismatch)), Some(path)) = (&mismatch, &expected_path) {
        std::io::stderr()
            .lock()
            .write_all(mismatch_report(path, mismatch).as_bytes())?;
    }

    Ok(match (matches_expected, &error) {
        (Some(false), _) => ExitCode::from(EXIT_UNEXPECTED),
        (Some(true), _) => ExitCode::SUCCESS,
        (None, Some(_)) => ExitCode::from(EXIT_FELL_BACK),
        (None, None) => ExitCode::SUCCESS,
    })
}

/// What a failed case prints: which file it was checked against, then one indented line per
/// difference (the JSON pointer into `expected.json`, the expected and the actual value).
fn mismatch_report(expected_path: &Path, mismatch: &Mismatch) -> String {
    let mut report = format!("the outcome differs from {}:\n", expected_path.display());
    for line in mismatch.to_string().lines() {
        report.push_str("  ");
        report.push_str(line);
        report.push('\n');
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_types::fixture::Difference;

    #[test]
    fn a_mismatch_prints_one_line_per_differing_field() {
        let mismatch = Mismatch::Decision(vec![
            Difference::Value {
                pointer: "/decision/variant".into(),
                expected: Some("gold".into()),
                actual: Some("silver".into()),
            },
            Difference::Value {
                pointer: "/decision/ttl_seconds".into(),
                expected: Some(60.into()),
                actual: None,
            },
        ]);
        assert_eq!(
            mismatch_report(Path::new("case/expected.json"), &mismatch),
            "the outcome differs from case/expected.json:\n\
             \x20 /decision/variant: expected \"gold\", got \"silver\"\n\
             \x20 /decision/ttl_seconds: expected 60, got (absent)\n"
        );
    }
}
