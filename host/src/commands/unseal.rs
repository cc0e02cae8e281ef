//! `tailor unseal`: write a sealed file's plaintext to stdout, for an operator to look into a
//! sealed snapshot (`tailor unseal --data-key … snapshot.sealed | gunzip | head`).

use super::seal::DataKeyOption;
use anyhow::Context as _;
use clap::Args;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use tailor_host::privacy::SealedReader;

#[derive(Debug, Args)]
pub struct UnsealArgs {
    #[command(flatten)]
    pub key: DataKeyOption,
    /// The sealed file; its plaintext (gzip stays gzip) goes to stdout, never to a file.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
}

pub fn run(args: UnsealArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.load()?;
    let input = &args.input;
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut reader = SealedReader::new(
        std::io::BufReader::new(file),
        &key,
        &input.display().to_string(),
    )?;
    let mut out = std::io::stdout().lock();
    // Errors from the reader name the file; a closed stdout (`| head`) ends quietly.
    match std::io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(error) => Err(error.into()),
    }
}
