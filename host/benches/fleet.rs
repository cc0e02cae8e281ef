//! The fleet over a real broker: three release nodes (web, app, kiosk) and one
//! `nats-server -js`, each on a loopback address of its own (127.0.0.71–75), and a registry
//! (`docker-registry`) for the publish part. Prints a Markdown report on stdout.
//!
//! 1. Event at web → reflected in a decision at app: one page view at a time (a new customer
//!    and item each), app's decisions with the echo test policy polled until they show it.
//! 2. Replicated events applied per second while serving: a fixed-rate hero-banner decision
//!    load (hey) against app, in interleaved windows with and without an event blast at web
//!    (batches of page views from one, and from several, connections), and the same windows
//!    against a node outside the fleet (the control: the machine's load without the apply
//!    work); app's `remote_events_applied` over the window, and the decision p99 of each.
//! 3. Publish→live: all three nodes follow one registry tag; a new signed version is pushed
//!    and the time runs from the push finishing to the last node serving it; once with one
//!    node polling every second and the others only woken by the fleet's policy notices, once
//!    with every node at the default poll.
//!
//! Run: `bench/fleet.sh` (installs what is missing), or
//! `cargo bench -p tailor-host --bench fleet -- [--samples 300] [--rounds 3] [--seconds 10]
//! [--rate 2000] [--blast-connections 1,4] [--batch 500] [--publish-reps 5] [--default-reps 3]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark stops on any surprise and prints its report"
)]

#[path = "fleet/cluster.rs"]
mod cluster;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "fleet/http.rs"]
mod http;
#[path = "fleet/publish.rs"]
mod publish;
#[path = "fleet/replication.rs"]
mod replication;
#[path = "fleet/report.rs"]
mod report;

use cluster::{NODES, start_broker, start_node, start_solo};
use common::Scratch;
use common::registry::start_registry;
use replication::{Blast, Load};

/// The options, `--name value` each (cargo's own `--bench` is ignored).
#[derive(Debug, Clone)]
pub struct Options {
    pub samples: usize,
    pub rounds: usize,
    pub seconds: u64,
    pub rate: u64,
    /// The blast's connection counts, each in its own windows (`--blast-connections 1,4`).
    pub blast_connections: Vec<usize>,
    pub batch: usize,
    pub publish_reps: usize,
    pub default_reps: usize,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            samples: 300,
            rounds: 3,
            seconds: 10,
            rate: 2000,
            blast_connections: vec![1, 4],
            batch: 500,
            publish_reps: 5,
            default_reps: 3,
        };
        let mut args = std::env::args().skip(1);
        while let Some(name) = args.next() {
            if name == "--bench" {
                continue;
            }
            let value = args
                .next()
                .unwrap_or_else(|| panic!("{name} needs a value"));
            let number = || -> u64 {
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {value:?} is not a number"))
            };
            match name.as_str() {
                "--samples" => options.samples = number() as usize,
                "--rounds" => options.rounds = number() as usize,
                "--seconds" => options.seconds = number(),
                "--rate" => options.rate = number(),
                "--blast-connections" => {
                    options.blast_connections = value
                        .split(',')
                        .map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name}: {v:?}")))
                        .collect();
                }
                "--batch" => options.batch = number() as usize,
                "--publish-reps" => options.publish_reps = number() as usize,
                "--default-reps" => options.default_reps = number() as usize,
                other => panic!("unknown option {other}"),
            }
        }
        options
    }
}

/// The 1-, 5- and 15-minute load averages (other work on the machine shows here).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let options = Options::parse();
    let load_before = load_average();
    let scratch = Scratch::new("fleet-bench");
    let broker = start_broker(&scratch.0);
    let broker_pid = broker.id();

    eprintln!("replication: starting web, app, kiosk");
    let nodes: Vec<_> = NODES
        .iter()
        .map(|(name, host)| start_node(&scratch.0.join("replication"), name, host, &[]))
        .collect();
    for node in &nodes {
        replication::publish_echo(node.addr);
    }
    let solo = start_solo(&scratch.0.join("replication"));
    let [web, app, kiosk] = [&nodes[0], &nodes[1], &nodes[2]];
    let fleet = [web, app, kiosk, &solo];
    eprintln!("replication: {} event→decision samples", options.samples);
    let latency = replication::event_to_decision(web, app, options.samples, 20);

    let load = Load {
        seconds: options.seconds,
        rate: options.rate,
        connections: 8,
    };
    let blasts: Vec<Blast> = options
        .blast_connections
        .iter()
        .map(|&connections| Blast {
            connections,
            batch: options.batch,
            customers: 10_000,
        })
        .collect();
    // Untimed warm-up of both modes.
    let warm = Load {
        seconds: 3,
        ..load.clone()
    };
    replication::window(fleet, broker_pid, &warm, blasts.last(), false, 0);
    let mut windows = Vec::new();
    for round in 1..=options.rounds {
        // On app, then on the control: without a blast, then with each blast; reversed every
        // other round, so no window always follows the same one.
        let mut order = Vec::new();
        for on_control in [false, true] {
            order.push((on_control, None));
            order.extend(blasts.iter().map(|b| (on_control, Some(b))));
        }
        if round % 2 == 0 {
            order.reverse();
        }
        for (on_control, blast) in order {
            eprintln!(
                "replication: round {round}, control {on_control}, blast {:?}",
                blast.map(|b| b.connections)
            );
            windows.push(replication::window(
                fleet, broker_pid, &load, blast, on_control, round,
            ));
        }
    }
    drop(solo);
    drop(nodes);

    let registry = start_registry("fleet-bench", publish::REGISTRY_HOST);
    let scenarios = [
        publish::Scenario {
            label: "web polls every 1 s, app and kiosk every 3600 s (woken by notices)",
            polls: [1, 3600, 3600],
            repetitions: options.publish_reps,
            announce: false,
        },
        publish::Scenario {
            label: "every node at the default poll (10 s)",
            polls: [10, 10, 10],
            repetitions: options.default_reps,
            announce: false,
        },
        publish::Scenario {
            label: "every node at the default poll (10 s), `tailor push --announce`",
            polls: [10, 10, 10],
            repetitions: options.publish_reps,
            announce: true,
        },
    ];
    let mut deliveries = Vec::new();
    for (scenario, tag) in scenarios.iter().zip(["notice", "default", "announce"]) {
        eprintln!("publish: {}", scenario.label);
        deliveries.push(publish::run(&scratch.0, &registry.url, scenario, tag));
    }
    drop(registry);
    drop(broker);

    report::print(
        &options,
        &load,
        options.batch,
        &latency,
        &windows,
        &scenarios,
        &deliveries,
    );
    println!(
        "\nLoad average (1, 5, 15 min) before the run: {load_before}; after: {}.",
        load_average()
    );
}
