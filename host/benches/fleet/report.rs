//! The Markdown report of the fleet benchmark.

use crate::Options;
use crate::publish::{Delivery, Scenario};
use crate::replication::{Latency, Load, Window};

/// Nearest-rank percentile of `values` (sorted here), `p` in 0..=100.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

pub fn print(
    options: &Options,
    load: &Load,
    batch: usize,
    latency: &Latency,
    windows: &[Window],
    scenarios: &[Scenario],
    deliveries: &[Vec<Delivery>],
) {
    print_latency(options, latency);
    print_throughput(options, load, batch, windows);
    print_publish(scenarios, deliveries);
}

fn print_latency(options: &Options, latency: &Latency) {
    let seen = &latency.seen_ms;
    println!(
        "Event at web → first decision at app showing it ({} samples after 20 untimed, one at a \
         time; app polled every 0.25 ms):\n",
        options.samples
    );
    println!("| measure | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (label, values) in [
        ("post at web → decision at app shows it", seen),
        (
            "post at web → its 202 (part of the above)",
            &latency.post_ms,
        ),
    ] {
        println!(
            "| {label} | {:.2} | {:.2} | {:.2} | {:.2} |",
            percentile(values, 50.0),
            percentile(values, 90.0),
            percentile(values, 99.0),
            percentile(values, 100.0)
        );
    }
    println!("\nSamples not seen within 10 s: {}.", latency.missed);
    let total = latency.histogram.last().map_or(0, |(_, n)| *n);
    if total > 0 {
        let shares: Vec<String> = latency
            .histogram
            .iter()
            .filter(|(le, _)| le != "+Inf")
            .map(|(le, n)| format!("≤ {le} s: {:.1}%", *n as f64 * 100.0 / total as f64))
            .collect();
        println!(
            "\napp's own `tailor_fleet_event_replication_seconds` over the same events ({total} \
             observations; origin's acknowledgment → applied here, whole milliseconds): {}.",
            shares.join(", ")
        );
    }
}

fn print_throughput(options: &Options, load: &Load, batch: usize, windows: &[Window]) {
    let counts: Vec<String> = options
        .blast_connections
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "\nDecisions under replication: hey at {} req/s ({} connections, one hero-banner \
         decision per request) for {} s per window, against app (in the fleet: it applies \
         everything web accepts) or against solo (a node outside the fleet on the same cores, \
         the control: it feels the machine's load but applies nothing); in the blast windows \
         {} connection(s) post batches of {batch} page views to web as fast as it acknowledges \
         them. {} rounds, each window once per round, the order reversed every other round; \
         every blast is applied by app and kiosk before the next window starts.\n",
        load.rate,
        load.connections,
        load.seconds,
        counts.join(" or "),
        options.rounds
    );
    println!(
        "| round | load on | blast at web | decisions/s | p50 ms | p99 ms | non-200 | events/s acknowledged by web | forwarded by web | applied by app | at the end: web outbox / app lag | drain after the window | CPU s: web / app / kiosk / nats / solo / driver |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for w in windows {
        let drain = w
            .drain_seconds
            .map_or("not within 300 s".to_owned(), |s| format!("{s:.1} s"));
        let cpu: Vec<String> = w.cpu.iter().map(|c| format!("{c:.1}")).collect();
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.0} | {} / {} | {drain} | {} |",
            w.round,
            w.target,
            blast_label(w.blast_connections),
            w.hey.rps,
            w.hey.p50_ms,
            w.hey.p99_ms,
            w.hey.non_200,
            w.accepted as f64 / w.seconds,
            w.forwarded as f64 / w.seconds,
            w.applied as f64 / w.seconds,
            w.outbox_depth,
            w.consumer_lag,
            cpu.join(" / ")
        );
    }
    let med = |keep: &dyn Fn(&Window) -> bool, f: &dyn Fn(&Window) -> f64| -> f64 {
        let values: Vec<f64> = windows.iter().filter(|w| keep(w)).map(f).collect();
        median(&values)
    };
    println!("\nMedians over rounds:\n");
    println!(
        "| blast at web | app p99 ms | solo p99 ms | events/s acknowledged by web | forwarded by web | applied by app (window) | whole blast incl. drain, events/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut configs = vec![0];
    configs.extend(options.blast_connections.iter().copied());
    for c in configs {
        let p99 = |target: &str| {
            med(&|w| w.blast_connections == c && w.target == target, &|w| {
                w.hey.p99_ms
            })
        };
        let blasted = |w: &Window| w.blast_connections == c;
        let rate = |f: &dyn Fn(&Window) -> u64| med(&blasted, &|w| f(w) as f64 / w.seconds);
        let (accepted, forwarded, applied) = if c == 0 {
            (0.0, 0.0, 0.0)
        } else {
            (
                rate(&|w| w.accepted),
                rate(&|w| w.forwarded),
                rate(&|w| w.applied),
            )
        };
        let sustained = if c == 0 {
            "".to_owned()
        } else {
            format!(
                "{:.0}",
                med(&blasted, &|w| w.accepted as f64
                    / (w.seconds + w.drain_seconds.unwrap_or(f64::NAN)))
            )
        };
        println!(
            "| {} | {:.2} | {:.2} | {accepted:.0} | {forwarded:.0} | {applied:.0} | {sustained} |",
            blast_label(c),
            p99("app"),
            p99("solo"),
        );
    }
}

fn blast_label(connections: usize) -> String {
    match connections {
        0 => "none".to_owned(),
        1 => "1 connection".to_owned(),
        n => format!("{n} connections"),
    }
}

fn print_publish(scenarios: &[Scenario], deliveries: &[Vec<Delivery>]) {
    println!(
        "\nPublish→live: `tailor push` of a new signed hero-banner version to the tag the three \
         nodes follow; ms from the push finishing (tag moved) to each node's first decision \
         with the new version (nodes polled every ~2 ms).\n"
    );
    println!("| scenario | rep | web | app | kiosk | last node |");
    println!("|---|---|---|---|---|---|");
    let ms = |v: Option<f64>| v.map_or("not within 60 s".to_owned(), |v| format!("{v:.0}"));
    for (scenario, reps) in scenarios.iter().zip(deliveries) {
        for (i, d) in reps.iter().enumerate() {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                scenario.label,
                i + 1,
                ms(d.nodes[0]),
                ms(d.nodes[1]),
                ms(d.nodes[2]),
                ms(d.last())
            );
        }
        let lasts: Vec<f64> = reps.iter().filter_map(Delivery::last).collect();
        println!(
            "| {} | **median** | | | | **{:.0}** |",
            scenario.label,
            median(&lasts)
        );
    }
}
