//! `tailor push`: publish a policy version or a profile snapshot to an OCI registry.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tailor_host::distribution::{PolicyArtifact, Reference, oci};
use tailor_host::http_client::HttpClient;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where to push: `http://<registry>/<repository>:<tag>`.
    pub reference: String,
    /// The policy component (`.wasm`).
    #[arg(long, env = "TAILOR_PUSH_COMPONENT", conflicts_with = "snapshot")]
    pub component: Option<PathBuf>,
    /// The policy's config document (sent byte for byte, as signed).
    #[arg(long, env = "TAILOR_PUSH_CONFIG", requires = "component")]
    pub config: Option<PathBuf>,
    /// The signature file from `tailor sign`.
    #[arg(long, env = "TAILOR_PUSH_SIGNATURE", requires = "component")]
    pub signature: Option<PathBuf>,
    /// A profile snapshot file (NDJSON, gzip or not) instead of a policy.
    #[arg(long, env = "TAILOR_PUSH_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: PushArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = HttpClient::default();
    let digest = match (&args.component, &args.snapshot) {
        (Some(component), None) => {
            let config = args
                .config
                .as_ref()
                .map(|p| String::from_utf8(read(p)?).context("the config is not UTF-8"))
                .transpose()?;
            let signature = args
                .signature
                .as_ref()
                .map(|p| String::from_utf8(read(p)?).context("the signature is not UTF-8"))
                .transpose()?;
            let artifact = PolicyArtifact {
                component: read(component)?,
                config,
                signature,
            };
            runtime.block_on(oci::push_policy(&client, &reference, &artifact))?
        }
        (None, Some(snapshot)) => {
            let bytes = read(snapshot)?;
            runtime.block_on(oci::push_snapshot(&client, &reference, &bytes))?
        }
        _ => anyhow::bail!("give --component (a policy) or --snapshot (a profile snapshot)"),
    };
    writeln!(std::io::stdout(), "{reference}@{digest}")?;
    Ok(ExitCode::SUCCESS)
}
