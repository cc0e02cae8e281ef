//! `tailor pull`: fetch a policy version or a profile snapshot from an OCI registry, verified
//! against its digests, into files a node reads (a watched policies directory, a snapshot path).

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailor_host::distribution::{Reference, RegistryAccess, RegistryClient, oci};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// What to pull: `https://<registry>/<repository>:<tag>` (`http://` for plain HTTP) or `…@sha256:<digest>`.
    pub reference: String,
    /// Write the policy as `<name>.wasm`, `<name>.config.json` and `<name>.sig` in this
    /// directory (the layout of a watched policies directory).
    #[arg(
        long,
        env = "TAILOR_PULL_OUT",
        requires = "name",
        conflicts_with = "snapshot"
    )]
    pub out: Option<PathBuf>,
    /// The policy name the files are written under.
    #[arg(long, env = "TAILOR_PULL_NAME")]
    pub name: Option<String>,
    /// Pull a profile snapshot and write it to this file instead.
    #[arg(long, env = "TAILOR_PULL_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryAccess,
}

/// Writes a file aside and renames it into place, so a watcher never reads half of it.
fn write_into_place(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temp = partial(path);
    std::fs::write(&temp, bytes).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("renaming into {}", path.display()))
}

pub fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = args.registry.client(&reference)?;
    match (&args.out, &args.name, &args.snapshot) {
        (Some(dir), Some(name), None) => {
            let (artifact, digest) = runtime.block_on(oci::pull_policy(&client, &reference))?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            // Config and signature first: the component's arrival is what a watcher acts on.
            let config = dir.join(format!("{name}.config.json"));
            match &artifact.config {
                Some(text) => write_into_place(&config, text.as_bytes())?,
                None => remove_if_present(&config)?,
            }
            let signature = dir.join(format!("{name}.sig"));
            match &artifact.signature {
                Some(text) => write_into_place(&signature, text.as_bytes())?,
                None => remove_if_present(&signature)?,
            }
            write_into_place(&dir.join(format!("{name}.wasm")), &artifact.component)?;
            let version =
                tailor_host::registry::digest(&artifact.component, artifact.config.as_deref());
            writeln!(
                std::io::stdout(),
                "{reference}@{digest} -> {name} {version}"
            )?;
        }
        (None, _, Some(path)) => {
            let digest = runtime.block_on(pull_snapshot(&client, &reference, path))?;
            writeln!(
                std::io::stdout(),
                "{reference}@{digest} -> {}",
                path.display()
            )?;
        }
        _ => anyhow::bail!("give --out DIR --name NAME (a policy) or --snapshot FILE (a snapshot)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Pulls a snapshot into a file beside `path` as it arrives (a whole export is never held in
/// memory), synced, then renamed into place: a node watching `path` reads the old file or the
/// whole new one. A failed pull leaves `path` as it was and no partial file.
async fn pull_snapshot(
    client: &RegistryClient,
    reference: &Reference,
    path: &Path,
) -> anyhow::Result<String> {
    let temp = partial(path);
    let file = tokio::fs::File::create(&temp)
        .await
        .with_context(|| format!("creating {}", temp.display()))?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let pulled = async {
        let (digest, _) = oci::pull_snapshot_into(client, reference, &mut file).await?;
        file.flush().await?;
        file.get_ref().sync_all().await?;
        anyhow::Ok(digest)
    }
    .await;
    drop(file);
    match pulled {
        Ok(digest) => {
            std::fs::rename(&temp, path)
                .with_context(|| format!("renaming into {}", path.display()))?;
            Ok(digest)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            Err(error.context(format!("pulling the snapshot into {}", path.display())))
        }
    }
}

/// Where a file is written before it is renamed into `path`.
fn partial(path: &Path) -> PathBuf {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".partial");
    PathBuf::from(temp)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}
