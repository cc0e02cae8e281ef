//! Events between nodes: how long an event posted at one node takes to show in a decision at
//! another, and how many replicated events a node applies per second while serving decisions.

use crate::cluster::{cpu_ticks, fleet_counter, ticks_per_second};
use crate::common::{ADMIN, Node, admin, request};
use crate::http::Client;
use base64::Engine as _;
use serde_json::json;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Pause between two polls of the receiving node (the resolution of a latency sample).
const POLL_GAP: Duration = Duration::from_micros(250);
/// A sample not seen by then counts as missed.
const SAMPLE_PATIENCE: Duration = Duration::from_secs(10);
/// A blast's backlog not applied by then is reported as not drained.
const DRAIN_PATIENCE: Duration = Duration::from_secs(300);

/// Publishes the echo test policy (it renders the profile's recent events) at `addr`.
pub fn publish_echo(addr: SocketAddr) {
    let component = base64::engine::general_purpose::STANDARD.encode(tailor_test_policies::ECHO);
    let body = json!({ "component": component }).to_string();
    let reply = admin(
        addr,
        "PUT",
        "/admin/v1/policies/echo",
        Some(ADMIN),
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

#[derive(Debug, Default)]
pub struct Latency {
    /// Post start → first decision at the other node showing the event, ms.
    pub seen_ms: Vec<f64>,
    /// Post start → the origin's 202, ms.
    pub post_ms: Vec<f64>,
    pub missed: usize,
    /// The receiving node's `tailor_fleet_event_replication_seconds` over the samples:
    /// (upper bound, observations at or below it).
    pub histogram: Vec<(String, u64)>,
}

/// Posts one event at a time at `from` (a new customer and item each) and polls decisions at
/// `to` until the echo policy shows it.
pub fn event_to_decision(from: &Node, to: &Node, samples: usize, warm_up: usize) -> Latency {
    let mut post = Client::new(from.addr);
    let mut poll = Client::new(to.addr);
    let before = replication_histogram(to.addr);
    let mut latency = Latency::default();
    let run = now_ms();
    for i in 0..warm_up + samples {
        let customer = format!("lat-{run}-{i}");
        let item = format!("lat-item-{run}-{i}");
        let event = json!({"events": [{"event_id": format!("lat-ev-{run}-{i}"), "customer_id": customer,
            "kind": "page_view", "at_ms": now_ms() as u64, "item_id": item, "category": "coats"}]});
        let decide = json!({"channel": "app", "unit": {"customer_id": customer},
            "slots": [{"id": "echo", "policy": "echo"}]})
        .to_string();
        let start = Instant::now();
        let (status, body) = post.post("/v1/events", event.to_string().as_bytes());
        let posted = start.elapsed();
        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
        let seen = loop {
            let (status, body) = poll.post("/v1/decide", decide.as_bytes());
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            if contains(&body, item.as_bytes()) {
                break Some(start.elapsed());
            }
            if start.elapsed() > SAMPLE_PATIENCE {
                break None;
            }
            std::thread::sleep(POLL_GAP);
        };
        if i < warm_up {
            continue;
        }
        match seen {
            Some(seen) => latency.seen_ms.push(seen.as_secs_f64() * 1e3),
            None => latency.missed += 1,
        }
        latency.post_ms.push(posted.as_secs_f64() * 1e3);
    }
    let after = replication_histogram(to.addr);
    latency.histogram = after
        .into_iter()
        .map(|(le, n)| {
            let was = before.iter().find(|(l, _)| *l == le).map_or(0, |(_, n)| *n);
            (le, n - was)
        })
        .collect();
    latency
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The buckets of `tailor_fleet_event_replication_seconds` at `addr`, cumulative.
fn replication_histogram(addr: SocketAddr) -> Vec<(String, u64)> {
    let reply = request(addr, "GET", "/metrics", "text/plain", b"");
    let text = reply.body.as_str().unwrap_or_default().to_owned();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tailor_fleet_event_replication_seconds_bucket{")?;
            let le = rest.split("le=\"").nth(1)?.split('"').next()?.to_owned();
            let count = line.rsplit(' ').next()?.parse::<f64>().ok()? as u64;
            Some((le, count))
        })
        .collect()
}

/// What `hey` reported for one run.
#[derive(Debug, Clone, Default)]
pub struct Hey {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_200: u64,
}

/// The decision load on the receiving node: `hey` at a fixed total rate.
#[derive(Debug, Clone)]
pub struct Load {
    pub seconds: u64,
    pub rate: u64,
    pub connections: u64,
}

impl Load {
    pub fn run(&self, addr: SocketAddr) -> Hey {
        let body = json!({"channel": "web", "unit": {"customer_id": "cust-000042"},
            "slots": [{"id": "hero", "policy": "hero-banner"}]})
        .to_string();
        let per_worker = (self.rate / self.connections).max(1);
        let output = Command::new("hey")
            .args(["-z", &format!("{}s", self.seconds)])
            .args(["-c", &self.connections.to_string()])
            .args(["-q", &per_worker.to_string()])
            .args(["-m", "POST", "-T", "application/json", "-d", &body])
            .arg(format!("http://{addr}/v1/decide"))
            .output()
            .expect("hey runs (apt-get install hey)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let find = |prefix: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {prefix:?} in hey's report:\n{text}"))
        };
        // `[200]\t1234 responses` per status code; `[12]\tPost …: EOF` per transport error.
        let mut non_200 = 0;
        for line in text.lines().map(str::trim) {
            let Some((inside, rest)) = line.strip_prefix('[').and_then(|l| l.split_once(']'))
            else {
                continue;
            };
            let mut words = rest.split_whitespace();
            match (words.next(), words.next()) {
                (Some(count), Some("responses")) if inside != "200" => {
                    non_200 += count.parse::<u64>().unwrap_or(0);
                }
                (_, Some("responses")) => {}
                _ => non_200 += inside.parse::<u64>().unwrap_or(0),
            }
        }
        Hey {
            rps: find("Requests/sec:"),
            p50_ms: find("50% in") * 1e3,
            p99_ms: find("99% in") * 1e3,
            non_200,
        }
    }
}

/// One window of decision load on the receiving node, with or without a blast at the origin.
#[derive(Debug, Clone)]
pub struct Window {
    pub round: usize,
    /// The node under the decision load: `app` (in the fleet) or `solo` (the control).
    pub target: &'static str,
    /// Connections posting the blast at the origin; 0 for a window without one.
    pub blast_connections: usize,
    pub hey: Hey,
    pub seconds: f64,
    /// Events the origin acknowledged during the window.
    pub accepted: u64,
    /// Events the origin forwarded to the broker during the window.
    pub forwarded: u64,
    /// Events the receiving node applied during the window.
    pub applied: u64,
    /// At the end of the window: the origin's outbox and the receiver's consumer lag.
    pub outbox_depth: u64,
    pub consumer_lag: u64,
    /// After the window, until both other nodes had applied everything (None: not within
    /// [`DRAIN_PATIENCE`]).
    pub drain_seconds: Option<f64>,
    /// CPU seconds in the window: origin, receiver, third node, broker, control, this driver.
    pub cpu: [f64; 6],
}

/// The event blast: `connections` connections posting batches of `batch` page views.
#[derive(Debug, Clone)]
pub struct Blast {
    pub connections: usize,
    pub batch: usize,
    /// Customers the events are spread over (the sample snapshot's `cust-000000`…).
    pub customers: usize,
}

impl Blast {
    /// Posts until `stop`; the number of events acknowledged.
    fn run(&self, addr: SocketAddr, tag: &str, stop: Instant) -> u64 {
        let accepted = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for thread in 0..self.connections {
                let accepted = &accepted;
                scope.spawn(move || {
                    let mut client = Client::new(addr);
                    let mut seq = 0usize;
                    while Instant::now() < stop {
                        let body = self.batch_body(tag, thread, seq);
                        seq += self.batch;
                        let (status, reply) = client.post("/v1/events", body.as_bytes());
                        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&reply));
                        accepted.fetch_add(self.batch as u64, Ordering::Relaxed);
                    }
                });
            }
        });
        accepted.into_inner()
    }

    fn batch_body(&self, tag: &str, thread: usize, first: usize) -> String {
        let at = now_ms();
        let mut body = String::with_capacity(self.batch * 160 + 16);
        body.push_str("{\"events\":[");
        for n in first..first + self.batch {
            if n > first {
                body.push(',');
            }
            let customer = (n * 7919 + thread * 104_729) % self.customers;
            body.push_str(&format!(
                "{{\"event_id\":\"{tag}-{thread}-{n}\",\"customer_id\":\"cust-{customer:06}\",\"kind\":\"page_view\",\"at_ms\":{at},\"item_id\":\"sku-{}\",\"category\":\"coats\"}}",
                n % 997
            ));
        }
        body.push_str("]}");
        body
    }
}

/// One window: `load` against `target` (`to`, or the control node outside the fleet) for its
/// duration, with `blast` at `from` during it when given; waits for the fleet (`to` and
/// `third`) to have applied the blast before returning.
pub fn window(
    nodes: [&Node; 4],
    broker_pid: u32,
    load: &Load,
    blast: Option<&Blast>,
    on_control: bool,
    round: usize,
) -> Window {
    let [from, to, third, control] = nodes;
    let (target, target_name) = if on_control {
        (control, "solo")
    } else {
        (to, "app")
    };
    let pids = [
        from.process.id(),
        to.process.id(),
        third.process.id(),
        broker_pid,
        control.process.id(),
        std::process::id(),
    ];
    let to_before = fleet_counter(to.addr, "remote_events_applied");
    let forwarded_before = fleet_counter(from.addr, "events_forwarded");
    let third_before = fleet_counter(third.addr, "remote_events_applied");
    let cpu_before = pids.map(cpu_ticks);
    let start = Instant::now();
    let stop = start + Duration::from_secs(load.seconds);
    let tag = format!("blast-{}-{round}", now_ms());
    let tag = tag.as_str();
    let (hey, accepted) = std::thread::scope(|scope| {
        let blasting = blast.map(|b| scope.spawn(move || b.run(from.addr, tag, stop)));
        let hey = load.run(target.addr);
        let accepted = blasting.map_or(0, |b| b.join().unwrap());
        (hey, accepted)
    });
    let seconds = start.elapsed().as_secs_f64();
    let applied = fleet_counter(to.addr, "remote_events_applied") - to_before;
    let forwarded = fleet_counter(from.addr, "events_forwarded") - forwarded_before;
    let outbox_depth = fleet_counter(from.addr, "outbox_depth");
    let consumer_lag = fleet_counter(to.addr, "consumer_lag");
    let cpu_after = pids.map(cpu_ticks);
    let tick = ticks_per_second();
    let cpu = std::array::from_fn(|i| (cpu_after[i] - cpu_before[i]) as f64 / tick);
    let drained = Instant::now();
    let drain_seconds = loop {
        let to_done = fleet_counter(to.addr, "remote_events_applied") - to_before >= accepted;
        let third_done =
            fleet_counter(third.addr, "remote_events_applied") - third_before >= accepted;
        if to_done && third_done {
            break Some(drained.elapsed().as_secs_f64());
        }
        if drained.elapsed() > DRAIN_PATIENCE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Window {
        round,
        target: target_name,
        blast_connections: blast.map_or(0, |b| b.connections),
        hey,
        seconds,
        accepted,
        forwarded,
        applied,
        outbox_depth,
        consumer_lag,
        drain_seconds,
        cpu,
    }
}
