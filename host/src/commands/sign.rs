//! `tailor sign`: sign a policy version (component and config) with a secret key.

use anyhow::Context as _;
use clap::Args;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailor_host::lifecycle::signing::SecretKey;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Secret key file (`ed25519-secret:…`, as written by `tailor keygen`).
    #[arg(long, env = "TAILOR_SIGN_KEY")]
    pub key: PathBuf,
    /// The policy's component file (`.wasm`).
    #[arg(long, env = "TAILOR_SIGN_COMPONENT")]
    pub component: PathBuf,
    /// The policy's config JSON file, exactly as it will be published.
    #[arg(long, env = "TAILOR_SIGN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where to write the signature; standard output when absent.
    #[arg(long, env = "TAILOR_SIGN_OUT")]
    pub out: Option<PathBuf>,
}

pub fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key_text = read_text(&args.key, "secret key")?;
    let key = SecretKey::parse(&key_text)
        .with_context(|| format!("invalid secret key file {}", args.key.display()))?;
    let component = std::fs::read(&args.component)
        .with_context(|| format!("cannot read component {}", args.component.display()))?;
    let config = match &args.config {
        Some(path) => Some(read_text(path, "config")?),
        None => None,
    };

    let digest = tailor_host::registry::digest(&component, config.as_deref());
    let signature = key.sign(&digest);
    match &args.out {
        Some(path) => std::fs::write(path, format!("{signature}\n"))
            .with_context(|| format!("cannot write signature to {}", path.display()))?,
        None => writeln!(std::io::stdout().lock(), "{signature}")?,
    }
    writeln!(
        std::io::stderr().lock(),
        "signed {digest} with key {}",
        key.public().key_id()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))
}
