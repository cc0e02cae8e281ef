//! `tailor new`: write a policy crate that builds outside this repository.

use anyhow::Context as _;
use clap::Args;
use std::io::Write as _;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Name of the policy crate, written to `./<name>` (lowercase letters, digits and `-`).
    pub name: String,
}

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let here = std::env::current_dir().context("reading the current directory")?;
    let dir = tailor_host::authoring::scaffold(&here, &args.name)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "created {} (the guest SDK is vendored under vendor/)\n\n  cd {}\n  cargo test      # the policy and its fixture cases, natively\n  tailor build    # the component, checked as a node checks it\n  tailor test     # the fixture cases against the component",
        dir.display(),
        args.name
    )?;
    Ok(ExitCode::SUCCESS)
}
