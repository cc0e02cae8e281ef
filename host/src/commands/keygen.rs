//! `tailor keygen`: make an ed25519 key pair for signing policies.

use anyhow::{Context as _, bail};
use clap::Args;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailor_host::lifecycle::signing::SecretKey;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Path prefix of the key pair: writes `<PREFIX>.secret` (mode 0600) and `<PREFIX>.pub`.
    #[arg(long, env = "TAILOR_KEYGEN_OUT", value_name = "PREFIX")]
    pub out: PathBuf,
    /// Overwrite key files that already exist.
    #[arg(long, env = "TAILOR_KEYGEN_FORCE")]
    pub force: bool,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let secret_path = with_suffix(&args.out, ".secret");
    let public_path = with_suffix(&args.out, ".pub");
    if !args.force {
        for path in [&secret_path, &public_path] {
            if path.exists() {
                bail!(
                    "{} already exists (pass --force to overwrite)",
                    path.display()
                );
            }
        }
    }
    let key = SecretKey::generate().context("cannot generate a key")?;
    let public = key.public();
    write_line(
        create_secret(&secret_path, args.force)?,
        &secret_path,
        &key.to_text(),
    )?;
    let public_file = open(&public_path, args.force, &mut OpenOptions::new())?;
    write_line(public_file, &public_path, &public.to_text())?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "public key: {}", public.to_text())?;
    writeln!(out, "key id:     {}", public.key_id())?;
    writeln!(
        out,
        "wrote {} and {}",
        secret_path.display(),
        public_path.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `prefix` with `suffix` appended to its last component (`keys/ci` → `keys/ci.pub`).
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut path = OsString::from(prefix.as_os_str());
    path.push(suffix);
    PathBuf::from(path)
}

/// Opens the secret key file readable by its owner only, even when overwriting.
fn create_secret(path: &Path, force: bool) -> anyhow::Result<File> {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = open(path, force, &mut options)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict permissions of {}", path.display()))?;
    }
    Ok(file)
}

fn open(path: &Path, force: bool, options: &mut OpenOptions) -> anyhow::Result<File> {
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn write_line(mut file: File, path: &Path, text: &str) -> anyhow::Result<()> {
    writeln!(file, "{text}")
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
