//! Fleet publish→live: every node follows one registry tag; a new signed version is pushed,
//! and the time runs from the push finishing (the tag has moved) to the last node serving it.

use crate::cluster::{BROKER_HOST, NODES, start_node};
use crate::common::registry::{push_version, push_version_with, variant_served, write_version};
use crate::common::{Node, run_tailor};
use std::path::Path;
use std::time::{Duration, Instant};

/// A version not live everywhere by then counts as not delivered.
const PATIENCE: Duration = Duration::from_secs(60);

/// One repetition: when each node (web, app, kiosk) first served the new version, ms after
/// the push finished.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub nodes: [Option<f64>; 3],
}

impl Delivery {
    /// When the last node served it.
    pub fn last(&self) -> Option<f64> {
        self.nodes
            .iter()
            .try_fold(0f64, |last, n| n.map(|n| last.max(n)))
    }
}

/// A scenario: the nodes' `--follow-poll-seconds`, in the order of [`NODES`].
#[derive(Debug, Clone)]
pub struct Scenario {
    pub label: &'static str,
    pub polls: [u64; 3],
    pub repetitions: usize,
    /// Push with `tailor push --announce` (the tag's move is announced on the broker).
    pub announce: bool,
}

/// Starts the three nodes following `reference` (already holding a first signed version),
/// pushes `repetitions` new versions one after the other and times each.
pub fn run(dir: &Path, registry: &str, scenario: &Scenario, tag: &str) -> Vec<Delivery> {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    if !keys.join("fleet.pub").exists() {
        run_tailor(&keys, &["keygen", "--out", "fleet"]);
    }
    let reference = format!("{registry}/retail/hero-banner:{tag}");
    let first = format!("{tag}-0");
    write_version(&keys, &first, Some("fleet.secret"));
    push_version(&keys, &reference, &first, true);

    let follow = format!("hero-banner={reference}");
    let trusted = keys.join("fleet.pub");
    // A stream and subjects of this scenario's own: no node replays the events of the
    // replication part.
    let stream = format!("BENCH_PUBLISH_{tag}").replace('-', "_");
    let prefix = format!("benchpub-{tag}");
    let nodes: Vec<Node> = NODES
        .iter()
        .zip(scenario.polls)
        .map(|((name, host), poll)| {
            start_node(
                &dir.join(tag),
                name,
                host,
                &[
                    "--sample-profiles",
                    "1000",
                    "--follow",
                    &follow,
                    "--follow-poll-seconds",
                    &poll.to_string(),
                    "--trusted-key",
                    trusted.to_str().unwrap(),
                    "--events-stream",
                    &stream,
                    "--events-subject-prefix",
                    &prefix,
                ],
            )
        })
        .collect();
    for node in &nodes {
        wait_serving(node, &first);
    }
    let mut deliveries = Vec::new();
    for rep in 1..=scenario.repetitions {
        let variant = format!("{tag}-{rep}");
        write_version(&keys, &variant, Some("fleet.secret"));
        // The previous version went live just after a poll: spread this push over the fastest
        // poll's period (golden-ratio steps), or every push would land at the same phase.
        let period = scenario.polls.iter().min().copied().unwrap_or(1) as f64 * 1000.0;
        let phase = (rep as f64 * 0.618_034).fract();
        std::thread::sleep(Duration::from_millis((phase * period) as u64));
        if scenario.announce {
            let broker = crate::cluster::broker_url();
            let announce = [
                "--announce",
                broker.as_str(),
                "--announce-prefix",
                prefix.as_str(),
            ];
            push_version_with(&keys, &reference, &variant, true, &announce);
        } else {
            push_version(&keys, &reference, &variant, true);
        }
        let pushed = Instant::now();
        let mut seen = [None; 3];
        while seen.iter().any(Option::is_none) && pushed.elapsed() < PATIENCE {
            for (i, node) in nodes.iter().enumerate() {
                if seen[i].is_none()
                    && variant_served(node.addr).as_deref() == Some(variant.as_str())
                {
                    seen[i] = Some(pushed.elapsed().as_secs_f64() * 1e3);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        deliveries.push(Delivery { nodes: seen });
    }
    deliveries
}

fn wait_serving(node: &Node, variant: &str) {
    let deadline = Instant::now() + PATIENCE;
    while variant_served(node.addr).as_deref() != Some(variant) {
        assert!(
            Instant::now() < deadline,
            "{} never served {variant} (serves {:?})",
            node.addr,
            variant_served(node.addr)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The registry's host: the broker's, on the registry's own port.
pub const REGISTRY_HOST: &str = BROKER_HOST;
