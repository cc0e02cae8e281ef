//! System packages the tests need (real servers and tools from Debian), installed on first use
//! with apt-get, once, however many tests and test processes ask at the same time.
//!
//! Installs are serialized by a lock within the process and by a file lock across processes
//! (`cargo test` runs tests in parallel threads, nextest in parallel processes), and apt-get
//! itself waits for a dpkg lock held by anyone else. Where the tests cannot install (not root,
//! or no package archive), they fail saying exactly what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// A Debian package and the file a test uses from it.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub name: &'static str,
    pub provides: &'static str,
}

pub const NGINX: Package = Package {
    name: "nginx",
    provides: "/usr/sbin/nginx",
};

pub const DOCKER_REGISTRY: Package = Package {
    name: "docker-registry",
    provides: "/usr/bin/docker-registry",
};

pub const FAKETIME: Package = Package {
    name: "faketime",
    provides: LIBFAKETIME,
};

#[cfg(target_arch = "aarch64")]
const LIBFAKETIME: &str = "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1";
#[cfg(not(target_arch = "aarch64"))]
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

pub const NATS_SERVER: Package = Package {
    name: "nats-server",
    provides: "/usr/sbin/nats-server",
};

pub const OPENSSL: Package = Package {
    name: "openssl",
    provides: "/usr/bin/openssl",
};

pub const HTPASSWD: Package = Package {
    name: "apache2-utils",
    provides: "/usr/bin/htpasswd",
};

pub const SYSTEMD: Package = Package {
    name: "systemd",
    provides: "/usr/bin/systemd-analyze",
};

pub const CHROMIUM: Package = Package {
    name: "chromium",
    provides: "/usr/bin/chromium",
};

pub const CHROMIUM_DRIVER: Package = Package {
    name: "chromium-driver",
    provides: "/usr/bin/chromedriver",
};

pub const NODEJS: Package = Package {
    name: "nodejs",
    provides: "/usr/bin/node",
};

pub const NPM: Package = Package {
    name: "npm",
    provides: "/usr/bin/npm",
};

/// The file `package` provides, installing the package first when it is missing.
pub fn require(package: Package) -> PathBuf {
    let provided = Path::new(package.provides);
    if provided.exists() {
        return provided.to_owned();
    }
    let how = format!(
        "this test needs Debian's `{name}` package ({file}); install it with \
         `sudo apt-get install -y {name}`",
        name = package.name,
        file = package.provides
    );
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    assert!(root, "{how} (the tests install it themselves only as root)");
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let _in_process = IN_PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
    let lock_path = std::env::temp_dir().join("tailor-tests-apt.lock");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    // Another test or process may have installed it while this one waited.
    if !provided.exists() {
        install(package, &how);
    }
    assert!(
        provided.exists(),
        "apt-get installed `{}` but {} is not there",
        package.name,
        package.provides
    );
    provided.to_owned()
}

fn install(package: Package, how: &str) {
    // A machine whose package lists are current installs at once; a fresh one has none yet.
    if apt(&["install", "-y", "--no-install-recommends", package.name]).is_ok() {
        return;
    }
    if let Err(output) = apt(&["update"]) {
        panic!("{how}: `apt-get update` failed:\n{output}");
    }
    if let Err(output) = apt(&["install", "-y", "--no-install-recommends", package.name]) {
        panic!("{how}: `apt-get install` failed:\n{output}");
    }
}

/// Runs apt-get non-interactively; on failure, the tail of what it printed.
fn apt(args: &[&str]) -> Result<(), String> {
    let output = Command::new("apt-get")
        .args(["-qq", "-o", "DPkg::Lock::Timeout=600"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // Keeps packages' init scripts from starting system-wide services (nginx on port 80).
        .env("RUNLEVEL", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    Err(lines[lines.len().saturating_sub(20)..].join("\n"))
}
