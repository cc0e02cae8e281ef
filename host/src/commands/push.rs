//! `tailor push`: publish a policy version or a profile snapshot to an OCI registry.

use super::seal::OptionalDataKey;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailor_host::distribution::{PolicyArtifact, Reference, RegistryAccess, RegistryClient, oci};
use tailor_host::fleet::{PolicyNotice, notice_subject};
use tailor_host::privacy::DataKey;
use tailor_host::profiles::{Partition, split_snapshot};

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
    /// Publish the snapshot's share of this partition (a node's `--snapshot-partition` form:
    /// `trait:KEY=VALUE[,VALUE…]` or `hash:I/N`) instead of the whole file, as its own artifact
    /// tagged `<tag>-<KEY>-<VALUE>[-<VALUE>…]` or `<tag>-hash-<I>-of-<N>`. Repeat it for each
    /// partition to publish; the snapshot is read once. With `--data-key`, a sealed export
    /// (`tailor seal`) is opened with the key and every share is sealed with it, so no
    /// customer's data is plaintext on disk on the way (the nodes open the shares with their
    /// own `--data-key`, the same key).
    #[arg(long, value_name = "PARTITION", requires = "snapshot")]
    pub partition: Vec<Partition>,
    #[command(flatten)]
    pub data_key: OptionalDataKey,
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
        (None, Some(snapshot)) if !args.partition.is_empty() => {
            let key = args.data_key.load()?;
            return push_shares(
                &runtime,
                &client,
                &reference,
                snapshot,
                &args.partition,
                key.as_ref(),
            );
        }
        (None, Some(snapshot)) => {
            runtime.block_on(oci::push_snapshot(&client, &reference, snapshot))?
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

/// Splits the snapshot into the partitions' shares and pushes each to its own tag, printing a
/// line for each: `<reference>@<digest> <partition> <profiles> profiles`.
fn push_shares(
    runtime: &tokio::runtime::Runtime,
    client: &RegistryClient,
    reference: &Reference,
    snapshot: &Path,
    partitions: &[Partition],
    key: Option<&DataKey>,
) -> anyhow::Result<ExitCode> {
    let targets = partitions
        .iter()
        .map(|partition| {
            Ok(Reference {
                reference: share_tag(&reference.reference, partition)?,
                ..reference.clone()
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let dir = std::env::temp_dir().join(format!("tailor-push-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let pushed = (|| {
        let shares = partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), dir.join(format!("share-{i}.ndjson.gz"))))
            .collect();
        let (_, shares) = split_snapshot(snapshot, shares, key)?;
        let mut stdout = std::io::stdout();
        for (share, target) in shares.iter().zip(&targets) {
            let digest = runtime.block_on(oci::push_snapshot(client, target, &share.path))?;
            writeln!(
                stdout,
                "{target}@{digest} {} {} profiles",
                share.partition, share.profiles
            )?;
        }
        anyhow::Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    pushed?;
    Ok(ExitCode::SUCCESS)
}

/// The tag a partition's share is pushed to, after the snapshot's own tag.
fn share_tag(tag: &str, partition: &Partition) -> anyhow::Result<String> {
    if tag.starts_with("sha256:") {
        anyhow::bail!("--partition: push the shares to a tag, not a digest ({tag})");
    }
    let suffix = match partition {
        Partition::Hash { part, parts } => format!("hash-{part}-of-{parts}"),
        Partition::Trait { key, values } => format!("{key}-{}", values.join("-")),
    };
    let tag = format!("{tag}-{suffix}");
    // The OCI distribution spec's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if tag.len() > 128 || !tag.chars().all(allowed) {
        anyhow::bail!(
            "--partition {partition}: its tag {tag:?} is not a valid OCI tag (at most 128 of \
             A-Z a-z 0-9 _ . -); name the trait values with those characters"
        );
    }
    Ok(tag)
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
