//! Policy lifecycle figures: publish→serving latency (precompiled artifact, and with
//! compilation), cold start to ready with 10 and 100 policies, and decision latency while the
//! policy is swapped continuously vs not. Prints a Markdown report.
//!
//! Run: `cargo bench -p tailor-host --bench lifecycle`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark stops on any surprise and prints its report"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tailor_host::lifecycle::{AutoRollback, Lifecycle, LifecycleConfig, PublishRequest};
use tailor_host::metrics::Metrics;
use tailor_host::registry::Registry;
use tailor_host::{Engine, EngineConfig};
use tailor_types::{Context, Profile};

fn hero() -> &'static tailor_policies::BundledPolicy {
    tailor_policies::find("hero-banner").unwrap()
}

fn config(i: usize) -> String {
    let mut config: serde_json::Value = serde_json::from_str(hero().config.unwrap()).unwrap();
    config["ttl_seconds"] = serde_json::json!(60 + i);
    config.to_string()
}

fn start(engine: &Engine, dir: &Path) -> Lifecycle {
    Lifecycle::start(
        engine.clone(),
        Arc::new(Registry::default()),
        Arc::new(Metrics::default()),
        LifecycleConfig {
            store_dir: dir.to_owned(),
            trusted_keys: Default::default(),
            require_signatures: false,
            keep_versions: 5,
            auto_rollback: AutoRollback::default(),
            seed_bundled: false,
            default_share: tailor_host::config::ServeConfig::default().default_share(),
            decision_threads: 2,
            config_signing_key: None,
        },
    )
    .unwrap()
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!("{:.3} ms | {:.3} ms", ms(at(0.5)), ms(at(0.99)))
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tailor-bench-lifecycle-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Publish of a new (component, config) version until the registry serves it.
fn publish_latency(engine: &Engine, precompiled: bool, runs: usize) -> Vec<Duration> {
    let dir = temp(if precompiled { "pre" } else { "compile" });
    let lifecycle = start(engine, &dir);
    let mut samples = Vec::with_capacity(runs);
    for i in 0..=runs {
        if !precompiled {
            let _ = std::fs::remove_dir_all(dir.join("precompiled"));
            std::fs::create_dir_all(dir.join("precompiled")).unwrap();
        }
        let request = PublishRequest {
            component: Some(hero().component.to_vec()),
            config: Some(config(i)),
            ..PublishRequest::default()
        };
        let started = Instant::now();
        let outcome = lifecycle.publish("hero-banner", request).unwrap();
        let served = lifecycle.registry().resolve("hero-banner", None).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(served.digest, outcome.digest);
        // The first publish fills the cache; it is not a precompiled sample.
        if i > 0 {
            assert_eq!(outcome.precompiled, precompiled);
            samples.push(elapsed);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    samples
}

fn cold_start(engine: &Engine, policies: usize) -> Duration {
    let dir = temp(&format!("cold-{policies}"));
    {
        let lifecycle = start(engine, &dir);
        for i in 0..policies {
            let request = PublishRequest {
                component: Some(hero().component.to_vec()),
                config: Some(config(i)),
                ..PublishRequest::default()
            };
            lifecycle
                .publish(&format!("policy-{i:03}"), request)
                .unwrap();
        }
    }
    let started = Instant::now();
    let lifecycle = start(engine, &dir);
    let elapsed = started.elapsed();
    assert_eq!(lifecycle.registry().len(), policies);
    let _ = std::fs::remove_dir_all(dir);
    elapsed
}

/// Decision latency through the registry, optionally while another thread swaps the policy
/// between two configs as fast as it can.
fn decisions(engine: &Engine, swapping: bool, runs: usize) -> (Vec<Duration>, usize) {
    let dir = temp(if swapping { "swap" } else { "still" });
    let lifecycle = Arc::new(start(engine, &dir));
    for i in 0..2 {
        let request = PublishRequest {
            component: Some(hero().component.to_vec()),
            config: Some(config(i)),
            ..PublishRequest::default()
        };
        lifecycle.publish("hero-banner", request).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swapping.then(|| {
        let lifecycle = lifecycle.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut swaps = 0;
            while !stop.load(Ordering::Relaxed) {
                let request = PublishRequest {
                    config: Some(config(swaps % 2)),
                    ..PublishRequest::default()
                };
                lifecycle.publish("hero-banner", request).unwrap();
                swaps += 1;
            }
            swaps
        })
    });
    let context = Context {
        anonymous_id: Some("visitor".into()),
        ..Context::new(tailor_types::Channel::Web, "hero", 1_774_000_000_000)
    };
    let profile = Profile::default().into();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let version = lifecycle
            .registry()
            .resolve("hero-banner", Some("visitor"))
            .unwrap();
        let decision = engine.decide(&version.loaded, &context, &profile, &[]);
        samples.push(started.elapsed());
        assert!(decision.is_ok());
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.map(|s| s.join().unwrap()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(dir);
    (samples, swaps)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once as a smoke test.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 5 } else { 200 };
    let engine = Engine::new(EngineConfig::default()).unwrap();
    println!(
        "| publish → serving (hero-banner, {} KB) | p50 | p99 |",
        hero().component.len() / 1024
    );
    println!("|---|---|---|");
    println!(
        "| precompiled artifact in the store | {} |",
        percentiles(publish_latency(&engine, true, runs))
    );
    println!(
        "| with compilation | {} |",
        percentiles(publish_latency(&engine, false, runs / 4))
    );
    println!();
    println!("| cold start to ready | time |");
    println!("|---|---|");
    for policies in [10, 100] {
        let policies = if quick { policies / 10 } else { policies };
        println!(
            "| {policies} policies | {:.1} ms |",
            cold_start(&engine, policies).as_secs_f64() * 1000.0
        );
    }
    println!();
    let decisions_runs = if quick { 50 } else { 20_000 };
    let (still, _) = decisions(&engine, false, decisions_runs);
    let (during, swaps) = decisions(&engine, true, decisions_runs);
    println!("| decision (resolve + fresh instance + decide) | p50 | p99 |");
    println!("|---|---|---|");
    println!("| no swaps | {} |", percentiles(still));
    println!(
        "| while swapping continuously ({swaps} swaps) | {} |",
        percentiles(during)
    );
}
