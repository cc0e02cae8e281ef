//! The Markdown report of the fleet benchmark.

use crate::Options;
use crate::publish::{Delivery, Scenario};
use crate::replication::{Blast, Latency, Load, Window};

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
    blast: &Blast,
    latency: &Latency,
    windows: &[Window],
    scenarios: &[Scenario],
    deliveries: &[Vec<Delivery>],
) {
    print_latency(options, latency);
    print_throughput(options, load, blast, windows);
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

fn print_throughput(options: &Options, load: &Load, blast: &Blast, windows: &[Window]) {
    println!(
        "\nDecisions at app under replication: hey at {} req/s ({} connections, one hero-banner \
         decision per request) against app for {} s per window; in the replication windows \
         {} connections post batches of {} page views to web as fast as it acknowledges them. \
         {} interleaved rounds (the order of the two windows alternates per round); every \
         blast is applied by app and kiosk before the next window starts.\n",
        load.rate, load.connections, load.seconds, blast.connections, blast.batch, options.rounds
    );
    println!(
        "| round | blast at web | decisions/s at app | p50 ms | p99 ms | non-200 | events/s acknowledged by web | forwarded by web | applied by app | at the end: web outbox / app lag | drain after the window | CPU s: web / app / kiosk / nats / driver |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for w in windows {
        let drain = w
            .drain_seconds
            .map_or("not within 300 s".to_owned(), |s| format!("{s:.1} s"));
        let cpu: Vec<String> = w.cpu.iter().map(|c| format!("{c:.1}")).collect();
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.0} | {} / {} | {drain} | {} |",
            w.round,
            if w.replicating { "yes" } else { "no" },
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
    let pick = |replicating: bool, f: &dyn Fn(&Window) -> f64| -> f64 {
        let values: Vec<f64> = windows
            .iter()
            .filter(|w| w.replicating == replicating)
            .map(f)
            .collect();
        median(&values)
    };
    let base_p99 = pick(false, &|w| w.hey.p99_ms);
    let blast_p99 = pick(true, &|w| w.hey.p99_ms);
    let applied = pick(true, &|w| w.applied as f64 / w.seconds);
    let sustained = pick(true, &|w| {
        w.accepted as f64 / (w.seconds + w.drain_seconds.unwrap_or(f64::NAN))
    });
    println!(
        "\nMedians over rounds: app's decision p99 {base_p99:.2} ms without replication, \
         {blast_p99:.2} ms with ({:+.0}%); app applied {applied:.0} replicated events/s during \
         the windows; the whole blast, window plus drain, reached app and kiosk at {sustained:.0} \
         events/s.",
        (blast_p99 / base_p99 - 1.0) * 100.0
    );
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
