//! In-process cost of one hero-banner decision in tailor (fresh instance, as served; reused
//! instance, for reference), natively (the same Rust compiled into the host: the floor) and in
//! regorus (the same logic in Rego). Every system decides the same five profiles in turn and
//! must give the same variants for the targeted ones.
//!
//!   tailor-compare-inproc <system> <iterations>   → one JSON line {"system", "ns_per_decision"}

use std::time::Instant;
use tailor_host::profiles::CustomerProfile;
use tailor_host::{Engine, EngineConfig, PolicySource};
use tailor_types::{Channel, Consent, Context, Loyalty, Profile};

fn profiles() -> Vec<Profile> {
    let member = |id: &str, consent: bool, tier: Option<&str>, segments: &[&str]| Profile {
        customer_id: Some(id.into()),
        consent: Consent {
            personalization: consent,
            ..Consent::default()
        },
        loyalty: tier.map(|t| Loyalty {
            tier: t.into(),
            points: 100,
        }),
        segments: segments.iter().map(|s| (*s).into()).collect(),
        ..Profile::default()
    };
    vec![
        member("cust-000871", true, Some("platinum"), &[]),
        member("cust-000412", true, Some("gold"), &[]),
        member("cust-000033", true, None, &["cart_abandoner"]),
        member("cust-000123", true, None, &[]),
        member("cust-000999", false, Some("platinum"), &[]),
    ]
}

/// What every system must answer for the profiles above (`None`: an experiment arm).
const EXPECTED: [Option<&str>; 5] = [
    Some("vip-early-access"),
    Some("gold-double-points"),
    Some("cart-reminder"),
    None,
    Some("spring-brand"),
];

fn check(system: &str, variants: &[String]) {
    for (i, (got, want)) in variants.iter().zip(EXPECTED).enumerate() {
        if let Some(want) = want {
            assert_eq!(got, want, "{system}: profile {i}");
        }
    }
}

fn time(iterations: usize, mut decide: impl FnMut(usize) -> usize) -> f64 {
    for i in 0..iterations.min(20_000) {
        std::hint::black_box(decide(i));
    }
    let started = Instant::now();
    let mut sink = 0usize;
    for i in 0..iterations {
        sink = sink.wrapping_add(decide(i));
    }
    std::hint::black_box(sink);
    started.elapsed().as_nanos() as f64 / iterations as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let system = args
        .next()
        .expect("system: tailor-fresh, tailor-reused, native or regorus");
    let iterations: usize = args
        .next()
        .map_or(100_000, |n| n.parse().expect("iterations"));
    let hero = tailor_policies::find("hero-banner").expect("bundled hero-banner");
    let config_text = hero.config.expect("hero-banner config");
    let config: serde_json::Value = serde_json::from_str(config_text).expect("config");
    let profiles: Vec<Profile> = profiles();
    let context = Context::new(Channel::Web, "home-hero", 1_774_000_000_000);

    let ns = match system.as_str() {
        "tailor-fresh" | "tailor-reused" => {
            let engine = Engine::new(EngineConfig::default()).expect("engine");
            let policy = engine
                .load(PolicySource {
                    name: "hero-banner",
                    component: hero.component,
                    config: Some(config_text),
                    limits: None,
                })
                .expect("load");
            let held: Vec<CustomerProfile> = profiles
                .iter()
                .cloned()
                .map(CustomerProfile::from)
                .collect();
            let variants: Vec<String> = held
                .iter()
                .map(|p| {
                    engine
                        .decide(&policy, &context, p, &[])
                        .unwrap()
                        .variant
                        .unwrap_or_default()
                })
                .collect();
            check(&system, &variants);
            if system == "tailor-fresh" {
                time(iterations, |i| {
                    let d = engine.decide(&policy, &context, &held[i % 5], &[]).unwrap();
                    d.variant.map_or(0, |v| v.len())
                })
            } else {
                let mut pinned = engine.pinned_instance(&policy).expect("instance");
                time(iterations, |i| {
                    let d = pinned.decide(&context, &held[i % 5], &[]).unwrap();
                    d.variant.map_or(0, |v| v.len())
                })
            }
        }
        "native" => {
            use tailor_guest::Policy;
            let decide = |profile: &Profile| {
                let request = tailor_guest::testing::request(
                    context.clone(),
                    profile.clone(),
                    vec![],
                    config.clone(),
                );
                hero_banner::HeroBanner::decide(&request).unwrap()
            };
            let variants: Vec<String> = profiles
                .iter()
                .map(|p| decide(p).variant.unwrap_or_default())
                .collect();
            check(&system, &variants);
            // Requests built once (config parsed, profile in place), as the criterion bench
            // `decide/<policy>/native` does: the floor of the logic itself.
            let requests: Vec<tailor_guest::Request<'static>> = profiles
                .iter()
                .map(|p| {
                    tailor_guest::testing::request(
                        context.clone(),
                        Profile::clone(p),
                        vec![],
                        config.clone(),
                    )
                })
                .collect();
            time(iterations, |i| {
                hero_banner::HeroBanner::decide(&requests[i % 5])
                    .unwrap()
                    .variant
                    .map_or(0, |v| v.len())
            })
        }
        "regorus" => {
            let mut engine = regorus::Engine::new();
            engine
                .add_policy(
                    "hero-banner.rego".into(),
                    include_str!("../../hero-banner.rego").into(),
                )
                .expect("rego policy");
            let segment_order: Vec<&str> = config["segment_variants"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let arm_order: Vec<&str> = config["experiment"]["arms"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let data = serde_json::json!({"config": config, "segment_order": segment_order, "arm_order": arm_order});
            engine
                .add_data(regorus::Value::from_json_str(&data.to_string()).expect("data"))
                .expect("data");
            let inputs: Vec<regorus::Value> = profiles
                .iter()
                .map(|p| {
                    let input = serde_json::json!({"profile": *p, "context": context});
                    regorus::Value::from_json_str(&input.to_string()).expect("input")
                })
                .collect();
            let mut decide = |i: usize| {
                engine.set_input(inputs[i % 5].clone());
                engine.eval_rule("data.hero.decision".into()).expect("eval")
            };
            let variants: Vec<String> = (0..5)
                .map(|i| {
                    decide(i)["variant"]
                        .as_string()
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                })
                .collect();
            check(&system, &variants);
            time(iterations, |i| {
                decide(i)["variant"].as_string().map_or(0, |s| s.len())
            })
        }
        other => panic!("unknown system {other}"),
    };
    println!(r#"{{"system":"{system}","policy":"hero-banner","ns_per_decision":{ns:.1}}}"#);
}
