//! `tailor build`: build the policy crate in the current directory to a component and check it
//! as a node's publish would.

use anyhow::Context as _;
use clap::Args;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use tailor_host::authoring::project::{self, Project};
use tailor_host::{Engine, EngineConfig, LoadedPolicy};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The policy crate's directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// A built and checked component.
pub struct Built {
    pub project: Project,
    pub path: PathBuf,
    pub engine: Engine,
    pub policy: LoadedPolicy,
    pub config: Option<String>,
}

/// Builds the crate in `dir` and loads the component with a node's engine.
pub fn build(dir: &std::path::Path) -> anyhow::Result<(Built, Vec<u8>)> {
    let project = Project::open(dir)?;
    let path = project.build()?;
    let component = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let config = project.config()?;
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 2,
        ..EngineConfig::default()
    })?;
    let policy = project::check(&engine, &project.package, &component, config.as_deref())
        .with_context(|| format!("checking {}", path.display()))?;
    Ok((
        Built {
            project,
            path,
            engine,
            policy,
            config,
        },
        component,
    ))
}

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let (built, component) = build(&args.dir)?;
    let digest = tailor_host::registry::digest(&component, built.config.as_deref());
    let mut out = std::io::stdout().lock();
    writeln!(out, "component  {}", built.path.display())?;
    writeln!(out, "size       {} bytes", component.len())?;
    writeln!(
        out,
        "contract   tailor:policy@{}",
        built.policy.contract().as_str()
    )?;
    writeln!(
        out,
        "digest     {digest}  (component + config.json, as a node names the version)"
    )?;
    Ok(ExitCode::SUCCESS)
}
