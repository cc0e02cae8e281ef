//! `tailor test`: build the policy crate in the current directory and run every fixture case
//! against the component in the node's engine.

use anyhow::Context as _;
use clap::Args;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use tailor_types::fixture;

/// Exit status when a case's outcome is not its `expected.json`.
const EXIT_FAILED: u8 = 3;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy crate's directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let (built, _) = super::build::build(&args.dir)?;
    let dir = built.project.fixtures();
    let cases = fixture::load_cases(&dir).with_context(|| format!("loading {}", dir.display()))?;
    anyhow::ensure!(
        !cases.is_empty(),
        "no fixture cases in {}: add one folder per case (context.json, expected.json, …)",
        dir.display()
    );
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for case in &cases {
        match tailor_host::lifecycle::fixtures::check_case(&built.engine, &built.policy, case) {
            Ok(()) => writeln!(out, "ok      {}", case.name)?,
            Err(difference) => {
                failed += 1;
                let expected = dir.join(&case.name).join("expected.json");
                writeln!(
                    out,
                    "FAILED  {}: differs from {}",
                    case.name,
                    expected.display()
                )?;
                for line in difference.lines() {
                    writeln!(out, "          {line}")?;
                }
            }
        }
    }
    writeln!(
        out,
        "\n{} passed, {failed} failed, against {}",
        cases.len() - failed,
        built.path.display()
    )?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
