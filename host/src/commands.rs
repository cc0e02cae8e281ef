//! The `tailor` command line: one file per subcommand.

mod keygen;
mod publish;
mod pull;
mod push;
mod run_policy;
mod serve;
mod sign;

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
    #[arg(long, env = "TAILOR_LOG", default_value = "warn", global = true)]
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
}

pub fn init_logging(args: &GlobalArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
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
    }
}
