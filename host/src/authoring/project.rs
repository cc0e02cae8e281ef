//! A policy crate on disk (the one `tailor new` writes, or any like it): building its component
//! with cargo, and checking it as a node's publish does.

use crate::engine::{ConfigProblem, DecisionError, Engine, LoadError, LoadedPolicy, PolicySource};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The wasm target policies are built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile they are built with (defined in the crate's manifest).
pub const PROFILE: &str = "guest";

/// What went wrong building or checking a policy crate.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{} is not a policy crate (run `tailor new <name>`, then work in that directory)", .path.display())]
    NotACrate { path: PathBuf },
    #[error("reading {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", .path.display())]
    Manifest { path: PathBuf, reason: String },
    #[error("no `[profile.guest]` for {} (in its manifest, its workspace's or .cargo/config.toml; `tailor new` writes it)", .path.display())]
    NoGuestProfile { path: PathBuf },
    #[error("running {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed ({status}); install it and retry"
    )]
    Target { status: std::process::ExitStatus },
    #[error("cargo build failed ({status}); see its output above")]
    Cargo { status: std::process::ExitStatus },
    #[error("cargo built no wasm32-wasip2 component for {package}")]
    NoArtifact { package: String },
    #[error("the node would refuse the component")]
    Load(#[from] LoadError),
    #[error("running the policy's config check")]
    ConfigCheck(#[source] DecisionError),
    #[error("the policy refuses its config.json: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    ConfigRefused { problems: Vec<ConfigProblem> },
}

pub type Result<T, E = ProjectError> = std::result::Result<T, E>;

/// A policy crate: its directory and package name.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub package: String,
}

impl Project {
    /// The crate in `dir`, which must have a manifest with a package, and the guest profile
    /// where cargo finds it.
    pub fn open(dir: &Path) -> Result<Project> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return Err(ProjectError::NotACrate { path: dir.into() });
        }
        let text = std::fs::read_to_string(&manifest).map_err(|source| ProjectError::Read {
            path: manifest.clone(),
            source,
        })?;
        let parsed: toml::Table = toml::from_str(&text).map_err(|e| ProjectError::Manifest {
            path: manifest.clone(),
            reason: e.to_string(),
        })?;
        let package = parsed
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| ProjectError::Manifest {
                path: manifest.clone(),
                reason: "no [package] name".into(),
            })?
            .to_owned();
        if !has_guest_profile(dir) {
            return Err(ProjectError::NoGuestProfile { path: manifest });
        }
        Ok(Project {
            dir: dir.into(),
            package,
        })
    }

    /// The policy's `config.json`, if it has one.
    pub fn config(&self) -> Result<Option<String>> {
        let path = self.dir.join("config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ProjectError::Read { path, source }),
        }
    }

    /// The folder of the fixture cases.
    pub fn fixtures(&self) -> PathBuf {
        self.dir.join("fixtures")
    }

    /// Builds the component (adding the wasm target with rustup when it is missing) and returns
    /// its path. Cargo's own output goes to standard error.
    pub fn build(&self) -> Result<PathBuf> {
        self.ensure_target()?;
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo
            .current_dir(&self.dir)
            .args(["build", "--target", TARGET, "--profile", PROFILE])
            .args(["--message-format", "json-render-diagnostics"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cargo.spawn().map_err(|source| ProjectError::Spawn {
            program: "cargo".into(),
            source,
        })?;
        let mut artifact = None;
        if let Some(stdout) = child.stdout.take() {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(path) = self.artifact_in(&line) {
                    artifact = Some(path);
                }
            }
        }
        let status = child.wait().map_err(|source| ProjectError::Spawn {
            program: "cargo".into(),
            source,
        })?;
        if !status.success() {
            return Err(ProjectError::Cargo { status });
        }
        artifact.ok_or_else(|| ProjectError::NoArtifact {
            package: self.package.clone(),
        })
    }

    /// The `.wasm` file of a `compiler-artifact` message about this crate's library.
    fn artifact_in(&self, line: &str) -> Option<PathBuf> {
        let message: serde_json::Value = serde_json::from_str(line).ok()?;
        if message["reason"] != "compiler-artifact" || message["target"]["name"] != self.ident() {
            return None;
        }
        message["filenames"]
            .as_array()?
            .iter()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"))
            .map(PathBuf::from)
    }

    /// `spring-hero` → `spring_hero`, the library target's name.
    fn ident(&self) -> String {
        self.package.replace('-', "_")
    }

    /// Adds the wasm target with rustup unless the crate's toolchain already has it.
    fn ensure_target(&self) -> Result<()> {
        let libdir = Command::new("rustc")
            .current_dir(&self.dir)
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        if libdir.as_deref().is_some_and(has_std) {
            return Ok(());
        }
        tracing::warn!("installing the {TARGET} target with rustup (needed to build policies)");
        let status = Command::new("rustup")
            .current_dir(&self.dir)
            .args(["target", "add", TARGET])
            .status()
            .map_err(|source| ProjectError::Spawn {
                program: "rustup".into(),
                source,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(ProjectError::Target { status })
        }
    }
}

/// Whether cargo sees a `[profile.guest]` for a build in `dir`: in the manifest of the crate or
/// of a workspace above it, or in a `.cargo/config.toml` there or above.
fn has_guest_profile(dir: &Path) -> bool {
    let defines = |path: PathBuf| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
            .is_some_and(|table| table.get("profile").and_then(|p| p.get(PROFILE)).is_some())
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .any(|at| defines(at.join("Cargo.toml")) || defines(at.join(".cargo").join("config.toml")))
}

fn has_std(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(std::result::Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}

/// Loads a component as a node's publish does before anything of it runs: compiled, imports
/// checked against what policies may import, the contract's exports type-checked, the config
/// parsed and given to the policy's own config check.
pub fn check(
    engine: &Engine,
    name: &str,
    component: &[u8],
    config: Option<&str>,
) -> Result<LoadedPolicy> {
    let loaded = engine.load(PolicySource {
        name,
        component,
        config,
        limits: None,
    })?;
    let problems = engine
        .check_config(&loaded)
        .map_err(ProjectError::ConfigCheck)?;
    if !problems.is_empty() {
        return Err(ProjectError::ConfigRefused { problems });
    }
    Ok(loaded)
}
