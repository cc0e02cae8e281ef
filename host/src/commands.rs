//! The `tailor` command line: one file per subcommand.

mod build;
mod keygen;
mod new;
mod publish;
mod pull;
mod push;
mod run_policy;
mod seal;
mod serve;
mod sign;
mod test;
mod unseal;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "tailor",
    version,
    about = "Edge WebAssembly personalization runtime"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log filter (tracing `EnvFilter` syntax), for example `info` or `tailor=debug`.
    #[arg(long, env = "TAILOR_LOG", default_value = "warn", global = true, value_parser = log_filter)]
    pub log: String,
    /// Log line format.
    #[arg(long, env = "TAILOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate a policy once and print the decision as JSON (the policy author's inner loop).
    RunPolicy(run_policy::RunPolicyArgs),
    /// Serve decisions over HTTP: bundled policies, a profile snapshot, loopback by default.
    Serve(Box<serve::ServeArgs>),
    /// Generate an ed25519 key pair for signing policies.
    Keygen(keygen::KeygenArgs),
    /// Sign a policy version (component and config) with a secret key.
    Sign(sign::SignArgs),
    /// Publish a policy version to a running node.
    Publish(publish::PublishArgs),
    /// Push a policy version or a profile snapshot to an OCI registry.
    Push(push::PushArgs),
    /// Pull a policy version or a profile snapshot from an OCI registry.
    Pull(pull::PullArgs),
    /// Write a new policy crate in `./<name>` that builds outside this repository.
    New(new::NewArgs),
    /// Build the policy crate here to a component and check it as a node would.
    Build(build::BuildArgs),
    /// Build the policy crate here and run its fixture cases against the component.
    Test(test::TestArgs),
    /// Seal a file (a profile snapshot export) with the data key, for a node to load.
    Seal(seal::SealArgs),
    /// Write a sealed file's plaintext to stdout.
    Unseal(unseal::UnsealArgs),
}

/// A `--log` value that is a valid filter, refused at parsing rather than ignored.
fn log_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a log filter ({e})"))
}

pub fn init_logging(args: &GlobalArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| anyhow::anyhow!("--log {:?}: not a log filter ({e})", args.log))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| anyhow::anyhow!("setting up logging: {e}"))
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::RunPolicy(args) => run_policy::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Push(args) => push::run(args),
        Command::Pull(args) => pull::run(args),
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Test(args) => test::run(args),
        Command::Seal(args) => seal::run(args),
        Command::Unseal(args) => unseal::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn an_invalid_log_filter_is_refused_naming_log() {
        let err = Cli::try_parse_from(["tailor", "--log", "tailor=loud", "serve"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--log"), "{err}");
        assert!(err.contains("not a log filter"), "{err}");
        let cli = Cli::try_parse_from(["tailor", "serve", "--log", "tailor=debug,warn"]).unwrap();
        assert_eq!(cli.global.log, "tailor=debug,warn");
    }

    #[test]
    fn seal_and_unseal_take_serves_data_key_option_and_require_it() {
        let cli = Cli::try_parse_from([
            "tailor",
            "seal",
            "--data-key",
            "env:SNAPSHOT_KEY",
            "in.ndjson",
            "out.sealed",
        ])
        .unwrap();
        let Command::Seal(args) = cli.command else {
            panic!("not seal: {:?}", cli.command);
        };
        assert_eq!(
            args.key.source,
            tailor_host::privacy::KeySource::Env("SNAPSHOT_KEY".into())
        );
        // The variable is serve's, and so is the parser, which names the option.
        let help = Cli::try_parse_from(["tailor", "unseal", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("TAILOR_DATA_KEY"), "{help}");
        let bad = Cli::try_parse_from(["tailor", "unseal", "--data-key", "nowhere", "x"])
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("--data-key") && bad.contains("names no key source"),
            "{bad}"
        );
        let missing = Cli::try_parse_from(["tailor", "seal", "in", "out"])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("--data-key"), "{missing}");
    }
}
