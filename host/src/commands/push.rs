//! `tailor push`: publish a policy version or a profile snapshot to an OCI registry.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tailor_host::distribution::{PolicyArtifact, Reference, RegistryAccess, oci};
use tailor_host::fleet::{PolicyNotice, notice_subject};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where to push: `https://<registry>/<repository>:<tag>` (`http://` for plain HTTP).
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
    /// Once pushed, announce the tag on the fleet's broker (`nats://host:port`), so every node
    /// following it checks it at once instead of at its next poll.
    #[arg(
        long,
        env = "TAILOR_PUSH_ANNOUNCE",
        value_name = "URL",
        requires = "component"
    )]
    pub announce: Option<String>,
    /// Token on the broker, for `--announce`.
    #[arg(long, env = "TAILOR_PUSH_ANNOUNCE_TOKEN", hide_env_values = true)]
    pub announce_token: Option<String>,
    /// The fleet's subject prefix (the nodes' `--events-subject-prefix`).
    #[arg(long, env = "TAILOR_PUSH_ANNOUNCE_PREFIX", default_value = "tailor")]
    pub announce_prefix: String,
    #[command(flatten)]
    pub registry: RegistryAccess,
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: PushArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = args.registry.client(&reference)?;
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
    if let Some(url) = &args.announce {
        let notice = PolicyNotice {
            policy: String::new(),
            digest: digest.clone(),
            reference: Some(reference.to_string()),
            origin: "tailor push".into(),
        };
        runtime
            .block_on(announce(
                url,
                args.announce_token.clone(),
                &args.announce_prefix,
                &notice,
            ))
            .with_context(|| format!("announcing the push on {url}"))?;
    }
    writeln!(std::io::stdout(), "{reference}@{digest}")?;
    Ok(ExitCode::SUCCESS)
}

/// Publishes `notice` on the broker at `url` and waits until the broker has it.
async fn announce(
    url: &str,
    token: Option<String>,
    prefix: &str,
    notice: &PolicyNotice,
) -> anyhow::Result<()> {
    let mut options =
        async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(10));
    if let Some(token) = token {
        options = options.token(token);
    }
    let client = options.connect(url).await?;
    client
        .publish(notice_subject(prefix), serde_json::to_vec(notice)?.into())
        .await?;
    client.flush().await?;
    Ok(())
}
