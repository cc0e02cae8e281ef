//! PyPI tools for tests: installed with pip into a scratch virtualenv, or into a `--target`
//! directory where Debian's python3 has no venv module. Needs `python3` with PyPI access; a
//! tool that cannot be installed fails the test, it never skips.

use super::{describe, run};
use std::path::{Path, PathBuf};
use std::process::Command;

const PIP_FLAGS: [&str; 4] = ["--quiet", "--disable-pip-version-check", "--timeout", "60"];

/// Where the packages went.
#[derive(Debug)]
pub enum Python {
    Venv(PathBuf),
    /// `pip install --target`: modules and console scripts (`bin/`) under one directory.
    Target(PathBuf),
}

impl Python {
    /// Installs `packages` (pinned, `name==version`) under `scratch`.
    pub fn install(scratch: &Path, packages: &[&str]) -> Python {
        let venv = scratch.join("venv");
        let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        if made.status.success() {
            let installed = run(Command::new(venv.join("bin/pip"))
                .arg("install")
                .args(PIP_FLAGS)
                .args(packages));
            assert!(
                installed.status.success(),
                "cannot install {packages:?} from PyPI: {}",
                describe(&installed)
            );
            return Python::Venv(venv);
        }
        let site = scratch.join("site");
        let installed = run(Command::new("python3")
            .args(["-m", "pip", "install"])
            .args(PIP_FLAGS)
            .arg("--target")
            .arg(&site)
            .args(packages));
        assert!(
            installed.status.success(),
            "python3 has neither venv ({}) nor a working pip to install {packages:?}: {}",
            describe(&made),
            describe(&installed)
        );
        Python::Target(site)
    }

    /// The interpreter that sees the installed packages, ready to run a script file.
    pub fn interpreter(&self) -> Command {
        match self {
            Python::Venv(venv) => Command::new(venv.join("bin/python")),
            Python::Target(site) => {
                let mut command = Command::new("python3");
                command.env("PYTHONPATH", site);
                command
            }
        }
    }

    /// A console script of an installed package, ready to take arguments.
    pub fn script(&self, name: &str) -> Command {
        match self {
            Python::Venv(venv) => Command::new(venv.join("bin").join(name)),
            Python::Target(site) => {
                let mut command = Command::new(site.join("bin").join(name));
                command.env("PYTHONPATH", site);
                command
            }
        }
    }
}
