//! Per-decision cost. Run: `cargo bench -p tailor-host --bench decide`; results and the machine
//! are recorded in docs/benchmarks.md.
//!
//! - `<policy>/fresh`: fresh Store + instance + `decide`, as tailor serves every decision;
//! - `<policy>/reused`: `decide` on one long-lived instance (the call-overhead floor);
//! - `<policy>/native`: the same policy code compiled into the host (the floor of the logic;
//!   hero-banner, next-best-offer and kiosk-greeting);
//! - `page/*`: one slot against a 5-slot page, decided as the server does (`decide-page`) and
//!   with an instance per slot;
//! - `contract/*`: what passing a profile and calling the host cost (the design choice of a
//!   profile record per call rather than host resource handles, docs/design.md), and the floor
//!   of a decision (`floor-fresh`, `floor-reused`: a policy that makes no host call);
//! - `tuning/*`: the hero banner under engine settings tailor does not use by default.
//!
//! Inputs are each policy's first fixture case for a known customer that uses the policy's
//! own config (its first case on its own config when all are anonymous).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on any surprise"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tailor_guest::{Policy, Request};
use tailor_host::profiles::CustomerProfile;
use tailor_host::{Engine, EngineConfig, LoadedPolicy, PolicySource, SlotInput};
use tailor_types::fixture::{self, FixtureCase};
use tailor_types::{Channel, Consent, Context, Event, Loyalty, PolicyError, Profile, Value};

fn native_decide<P: Policy>(request: &Request<'_>) -> Result<tailor_types::Decision, PolicyError> {
    P::decide(request)
}

/// A policy's `decide` compiled into the bench.
type NativeDecide = fn(&Request<'_>) -> Result<tailor_types::Decision, PolicyError>;

/// The policy's Rust compiled into the bench, for the three the HTTP comparison uses.
fn native(name: &str) -> Option<NativeDecide> {
    Some(match name {
        "hero-banner" => native_decide::<hero_banner::HeroBanner>,
        "next-best-offer" => native_decide::<next_best_offer::NextBestOffer>,
        "kiosk-greeting" => native_decide::<kiosk_greeting::KioskGreeting>,
        _ => return None,
    })
}

fn engine(config: EngineConfig) -> Engine {
    Engine::new(EngineConfig {
        max_concurrent_decisions: 16,
        ..config
    })
    .unwrap()
}

fn load(engine: &Engine, policy: &tailor_host::bundled::BundledPolicy) -> LoadedPolicy {
    engine
        .load(PolicySource {
            name: policy.name,
            component: policy.component,
            config: policy.config,
            limits: None,
        })
        .unwrap()
}

/// The policy's first fixture case for a known customer, or its first case when every one is
/// for an anonymous visitor (hero-bandit's), on the policy's own config.
fn first_case(policy: &tailor_host::bundled::BundledPolicy) -> FixtureCase {
    let cases: Vec<FixtureCase> = fixture::load_cases(policy.fixtures_dir.as_ref())
        .unwrap()
        .into_iter()
        .filter(|case| case.config.is_none())
        .collect();
    let known = cases.iter().position(|case| !case.profile.is_anonymous());
    cases
        .into_iter()
        .nth(known.unwrap_or(0))
        .unwrap_or_else(|| panic!("{} has no fixture case on its own config", policy.name))
}

fn policies(c: &mut Criterion) {
    let engine = engine(EngineConfig::default());
    for policy in tailor_host::bundled::ALL {
        let case = first_case(policy);
        let loaded = load(&engine, policy);
        let shared_profile = CustomerProfile::from(case.profile.clone());
        let (ctx, profile, candidates) = (&case.context, &shared_profile, &case.candidates[..]);
        let outcome = engine.decide(&loaded, ctx, profile, candidates);
        let outcome = outcome.map_err(|e| PolicyError::new(e.code.as_str(), e.message));
        assert!(
            case.expected.check(&outcome).is_ok(),
            "{} {}",
            policy.name,
            case.name
        );

        let mut group = c.benchmark_group(policy.name);
        group.bench_function("fresh", |b| {
            b.iter(|| black_box(engine.decide(&loaded, ctx, profile, candidates).unwrap()))
        });
        let mut pinned = engine.pinned_instance(&loaded).unwrap();
        group.bench_function("reused", |b| {
            b.iter(|| black_box(pinned.decide(ctx, profile, candidates).unwrap()))
        });
        if let Some(run) = native(policy.name) {
            let config = policy
                .config
                .map(|c| serde_json::from_str(c).unwrap())
                .unwrap_or_default();
            let request = tailor_guest::testing::request(
                ctx.clone(),
                case.profile.clone(),
                candidates.to_vec(),
                config,
            );
            group.bench_function("native", |b| {
                b.iter(|| black_box(run(black_box(&request)).unwrap()))
            });
        }
        group.finish();
    }
}

/// A page, in-process: one hero-banner slot against the 5-slot page of the HTTP benchmark (two
/// hero-banner slots, two next-best-offer, one kiosk greeting), each policy's slots through
/// `evaluate_page` as the server runs them (one instance per policy for 0.2.0 components), and
/// the same 5 slots each in its own fresh instance (what 0.1.0 components get).
fn page(c: &mut Criterion) {
    let engine = engine(EngineConfig::default());
    let policy = |name| {
        let bundled = tailor_host::bundled::find(name).unwrap();
        (load(&engine, bundled), first_case(bundled))
    };
    let (hero, hero_case) = policy("hero-banner");
    let (offers, offers_case) = policy("next-best-offer");
    let (kiosk, kiosk_case) = policy("kiosk-greeting");
    let profile = CustomerProfile::from(hero_case.profile.clone());
    let slot = |case: &FixtureCase, name: &str| SlotInput {
        context: Context {
            slot: name.into(),
            ..case.context.clone()
        },
        candidates: case.candidates.clone(),
        fallback: tailor_types::Decision::new(tailor_types::Reason::Default),
    };
    let groups = [
        (
            &hero,
            vec![slot(&hero_case, "hero"), slot(&hero_case, "hero-footer")],
        ),
        (
            &offers,
            vec![
                slot(&offers_case, "offers"),
                slot(&offers_case, "offers-more"),
            ],
        ),
        (&kiosk, vec![slot(&kiosk_case, "greet")]),
    ];
    for (policy, slots) in &groups {
        for evaluation in engine.evaluate_page(policy, &profile, slots.clone()) {
            assert!(evaluation.error.is_none(), "{evaluation:?}");
        }
    }
    let mut group = c.benchmark_group("page");
    let one = vec![slot(&hero_case, "hero")];
    group.bench_function("1-slot", |b| {
        b.iter(|| black_box(engine.evaluate_page(&hero, &profile, one.clone())))
    });
    group.bench_function("5-slot-page", |b| {
        b.iter(|| {
            for (policy, slots) in &groups {
                black_box(engine.evaluate_page(policy, &profile, slots.clone()));
            }
        })
    });
    group.bench_function("5-slot-instance-each", |b| {
        b.iter(|| {
            for (policy, slots) in &groups {
                for slot in slots {
                    black_box(engine.evaluate(
                        policy,
                        &slot.context,
                        &profile,
                        &slot.candidates,
                        &slot.fallback,
                    ));
                }
            }
        })
    });
    group.finish();
}

/// A profile with `traits` traits and proportionate other fields.
fn profile_of(traits: usize) -> Profile {
    Profile {
        customer_id: Some("cust-004410".into()),
        segments: (0..traits.min(20))
            .map(|i| format!("segment-{i}"))
            .collect(),
        traits: (0..traits)
            .map(|i| (format!("trait_{i}"), Value::Text(format!("value-{i}"))))
            .collect(),
        loyalty: Some(Loyalty {
            tier: "gold".into(),
            points: 5200,
        }),
        consent: Consent {
            personalization: true,
            marketing: true,
            ..Consent::default()
        },
        recent_events: (0..traits.min(50))
            .map(|i| Event {
                kind: "product_view".into(),
                item_id: Some(format!("sku-{i}")),
                category: Some("shoes".into()),
                value: None,
                at_ms: 1_774_000_000_000 - i as i64 * 60_000,
            })
            .collect(),
        affinities: (0..traits.min(20))
            .map(|i| (format!("category-{i}"), 0.5))
            .collect(),
    }
}

fn contract(c: &mut Criterion) {
    let engine = engine(EngineConfig::default());
    let probe = engine
        .load(PolicySource {
            name: "host-call-probe",
            component: tailor_test_policies::HOST_CALL_PROBE,
            config: Some(r#"{"probe": 1.0}"#),
            limits: None,
        })
        .unwrap();
    let mut pinned = engine.pinned_instance(&probe).unwrap();
    let mut group = c.benchmark_group("contract");
    for traits in [0usize, 10, 100, 1_000] {
        let profile = CustomerProfile::from(profile_of(traits));
        for read in ["typical", "all"] {
            let mut ctx = Context::new(Channel::Web, "probe", 0);
            ctx.attributes = vec![("read".into(), Value::Text(read.into()))];
            group.bench_function(format!("profile-{traits}-traits-read-{read}"), |b| {
                b.iter(|| black_box(pinned.decide(&ctx, &profile, &[]).unwrap()))
            });
        }
    }
    let profile = CustomerProfile::from(profile_of(0));
    // The floor: a decision that makes no host call, in a fresh instance and in a reused one.
    let mut nothing = Context::new(Channel::Web, "probe", 0);
    nothing.attributes = vec![("read".into(), Value::Text("nothing".into()))];
    group.bench_function("floor-fresh", |b| {
        b.iter(|| black_box(engine.decide(&probe, &nothing, &profile, &[]).unwrap()))
    });
    group.bench_function("floor-reused", |b| {
        b.iter(|| black_box(pinned.decide(&nothing, &profile, &[]).unwrap()))
    });
    for calls in [0i64, 100] {
        let mut ctx = Context::new(Channel::Web, "probe", 0);
        ctx.attributes = vec![("calls".into(), Value::Integer(calls))];
        group.bench_function(format!("host-calls-{calls}"), |b| {
            b.iter(|| black_box(pinned.decide(&ctx, &profile, &[]).unwrap()))
        });
    }
    group.finish();
}

fn tuning(c: &mut Criterion) {
    let hero = tailor_host::bundled::find("hero-banner").unwrap();
    let case = first_case(hero);
    let profile = CustomerProfile::from(case.profile.clone());
    let mut group = c.benchmark_group("tuning");
    let variants = [
        (
            "pool-defaults",
            EngineConfig {
                memory_keep_resident_bytes: 0,
                table_keep_resident_bytes: 0,
                pagemap_scan: false,
                ..EngineConfig::default()
            },
        ),
        (
            "keep-resident-memset",
            EngineConfig {
                pagemap_scan: false,
                ..EngineConfig::default()
            },
        ),
        ("keep-resident-pagemap", EngineConfig::default()),
    ];
    for (name, config) in variants {
        let engine = engine(config);
        let loaded = load(&engine, hero);
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    engine
                        .decide(&loaded, &case.context, &profile, &case.candidates)
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = policies, page, contract, tuning
}
criterion_main!(benches);
