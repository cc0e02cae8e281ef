//! The benchmark's fleet: one `nats-server -js` and release `tailor serve` nodes, each on a
//! loopback address of the benchmark's own, killed and reaped when dropped (a panic included).

use crate::common::packages::{self, NATS_SERVER};
use crate::common::{ADMIN, Node, Process, admin};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The broker's address (the registry of the publish part listens on the same host).
pub const BROKER_HOST: &str = "127.0.0.71";
const BROKER_PORT: u16 = 4222;
/// web, app and kiosk listen on these hosts, on a port each picks.
pub const NODES: [(&str, &str); 3] = [
    ("web", "127.0.0.72"),
    ("app", "127.0.0.73"),
    ("kiosk", "127.0.0.74"),
];

/// A node outside the fleet (no broker), the control of the replication windows.
pub const SOLO: (&str, &str) = ("solo", "127.0.0.75");

/// `nats-server -js` on [`BROKER_HOST`] with its store under `dir`.
pub fn start_broker(dir: &Path) -> Process {
    let binary = packages::require(NATS_SERVER);
    let mut process = Process::spawn(
        "nats-server",
        Command::new(binary)
            .args([
                "-js",
                "-a",
                BROKER_HOST,
                "-p",
                &BROKER_PORT.to_string(),
                "-sd",
            ])
            .arg(dir.join("jetstream"))
            .stdout(Stdio::null()),
    );
    let addr: SocketAddr = format!("{BROKER_HOST}:{BROKER_PORT}").parse().unwrap();
    process.wait_listening(addr, Duration::from_secs(30));
    process
}

pub fn broker_url() -> String {
    format!("nats://{BROKER_HOST}:{BROKER_PORT}")
}

/// A release `tailor serve` named `name` on `host`, in the fleet of [`broker_url`], with its
/// data under `dir/name` and `extra` options.
pub fn start_node(dir: &Path, name: &str, host: &str, extra: &[&str]) -> Node {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    let node = Node::start(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["serve", "--listen", &format!("{host}:0"), "--data-dir"])
            .arg(dir.join(name))
            .args(["--admin-token", ADMIN, "--events-broker", &broker_url()])
            .args(["--node-id", name, "--log", "warn"])
            .args(extra),
    );
    wait_connected(&node);
    node
}

/// A release `tailor serve` on its own (no broker), on [`SOLO`]'s host.
pub fn start_solo(dir: &Path) -> Node {
    let (name, host) = SOLO;
    std::fs::create_dir_all(dir.join(name)).unwrap();
    Node::start(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["serve", "--listen", &format!("{host}:0"), "--data-dir"])
            .arg(dir.join(name))
            .args(["--admin-token", ADMIN, "--log", "warn"]),
    )
}

/// `GET /admin/v1/status`.
pub fn status(addr: SocketAddr) -> Value {
    let reply = admin(addr, "GET", "/admin/v1/status", Some(ADMIN), b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// A counter of `fleet` in the node's status.
pub fn fleet_counter(addr: SocketAddr, key: &str) -> u64 {
    status(addr)["fleet"][key].as_u64().unwrap_or(0)
}

fn wait_connected(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(node.addr)["fleet"]["broker"] != "connected" {
        assert!(Instant::now() < deadline, "{} never connected", node.addr);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// User plus system CPU time of a process so far, in clock ticks (`/proc/<pid>/stat`).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Clock ticks per second of [`cpu_ticks`] (`getconf CLK_TCK`, 100 on Linux).
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
