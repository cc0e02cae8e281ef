//! A real NATS server with JetStream (Debian's `nats-server`) on a loopback address of the
//! test's own, stopped and restarted on the same address and store.

use super::packages::{self, NATS_SERVER};
use super::process::Process;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The port every test's broker listens on, each on its own loopback address.
const PORT: u16 = 4222;

pub struct Broker {
    pub addr: SocketAddr,
    store: PathBuf,
    extra: Vec<String>,
    process: Option<Process>,
}

impl Broker {
    /// Starts `nats-server -js` on `host` (a loopback address no other test uses) with its
    /// JetStream store under `dir`.
    pub fn start(host: &str, dir: &Path) -> Broker {
        Broker::start_with(host, dir, &[])
    }

    /// [`Broker::start`] with more `nats-server` arguments (`--user`, `--pass` …).
    pub fn start_with(host: &str, dir: &Path, extra: &[&str]) -> Broker {
        let mut broker = Broker {
            addr: format!("{host}:{PORT}").parse().unwrap(),
            store: dir.join("jetstream"),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            process: None,
        };
        broker.restart();
        broker
    }

    /// `nats://…` (`tls://…` for a broker started with `--tls`) for `--events-broker`.
    pub fn url(&self) -> String {
        let scheme = match self.extra.iter().any(|a| a == "--tls") {
            true => "tls",
            false => "nats",
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Kills the server (SIGKILL: no flush, no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts it again on the same address and store, after a [`Broker::kill`].
    pub fn restart(&mut self) {
        self.kill();
        let binary = packages::require(NATS_SERVER);
        let mut process = Process::spawn(
            "nats-server",
            Command::new(binary)
                .args(["-js", "-a"])
                .arg(self.addr.ip().to_string())
                .args(["-p", &PORT.to_string(), "-sd"])
                .arg(&self.store)
                .args(&self.extra)
                .stdout(Stdio::null()),
        );
        process.wait_listening(self.addr, Duration::from_secs(30));
        self.process = Some(process);
    }
}
