//! How tailor's cost grows: one hero-banner decision (fresh instance) as the profile store,
//! the traits per profile and the policies loaded grow, and one whole decide request as its
//! slots grow. Prints CSV: `curve,x,ns_per_op`.
//!
//! Then, for each component given (bench/compare/sized-policy built at graded sizes), the same
//! decision work in a bigger component: its load (compile) time and its decision cost.
//!
//!   curves [ITERATIONS [SIZED_COMPONENT…]]     (default 20,000 operations per point)

use std::sync::Arc;
use std::time::Instant;
use tailor_host::privacy::Pseudonyms;
use tailor_host::profiles::CustomerProfile;
use tailor_host::profiles::{Profiles, sample};
use tailor_host::{Engine, EngineConfig, PolicySource};
use tailor_types::{Channel, Consent, Context, Loyalty, Profile, Value};

/// A small deterministic generator (Knuth's MMIX LCG), so every run draws the same customers.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn per_op(iterations: usize, mut op: impl FnMut(usize)) -> f64 {
    for i in 0..iterations / 10 {
        op(i);
    }
    let started = Instant::now();
    for i in 0..iterations {
        op(i);
    }
    started.elapsed().as_nanos() as f64 / iterations as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args
        .next()
        .map_or(20_000, |n| n.parse().expect("iterations"));
    let sized: Vec<String> = args.collect();
    let hero = tailor_policies::find("hero-banner").expect("hero-banner");
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let policy = engine
        .load(PolicySource {
            name: "hero-banner",
            component: hero.component,
            config: hero.config,
            limits: None,
        })
        .expect("load");
    let context = Context::new(Channel::Web, "home-hero", 1_774_000_000_000);
    println!("curve,x,ns_per_op");

    // Profiles in the store: lookup (cache in front of the snapshot store) + decision for customers
    // drawn uniformly from the whole store, measured in the steady state: the cache (100,000
    // profiles) is first warmed by three times its size in draws, so it holds every customer
    // of a store it can hold and a random 100,000 of a larger one.
    const CACHE: u64 = 100_000;
    let dir = std::env::temp_dir().join(format!("tailor-curves-{}", std::process::id()));
    for count in [10_000u64, 100_000, 1_000_000] {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let snapshot = dir.join("sample.ndjson");
        sample::write(&snapshot, count).expect("sample");
        let pseudonyms = Arc::new(Pseudonyms::from_secret(&[1; 32]));
        let profiles =
            Profiles::load(&dir, &snapshot, CACHE as usize, pseudonyms, None, None).expect("store");
        let mut draw = Lcg(count);
        let mut customer = || format!("cust-{:06}", draw.next() % count);
        for _ in 0..3 * CACHE {
            std::hint::black_box(profiles.lookup(Some(&customer()), Profile::default).ok());
        }
        let ns = per_op(iterations, |_| {
            let lookup = profiles
                .lookup(Some(&customer()), Profile::default)
                .expect("lookup");
            std::hint::black_box(engine.decide(&policy, &context, &lookup.profile, &[]).ok());
        });
        println!("profiles_in_store,{count},{ns:.0}");
        drop(profiles);
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Traits per profile: the profile is a host resource; a policy reads only what it asks for.
    for traits in [10usize, 100, 1_000] {
        let profile = CustomerProfile::from(Profile {
            customer_id: Some("cust-1".into()),
            consent: Consent {
                personalization: true,
                ..Consent::default()
            },
            loyalty: Some(Loyalty {
                tier: "gold".into(),
                points: 1,
            }),
            traits: (0..traits)
                .map(|i| (format!("trait_{i}"), Value::Text(format!("value-{i}"))))
                .collect(),
            ..Profile::default()
        });
        let ns = per_op(iterations, |_| {
            std::hint::black_box(engine.decide(&policy, &context, &profile, &[]).ok());
        });
        println!("traits_per_profile,{traits},{ns:.0}");
    }

    // Policies loaded: a registry of N versions (one component, N configs); decide one of them.
    let profile = CustomerProfile::from(Profile {
        customer_id: Some("cust-1".into()),
        ..Profile::default()
    });
    for loaded in [1usize, 10, 100, 1_000] {
        let registry = tailor_host::registry::Registry::default();
        for n in 0..loaded {
            let mut config: serde_json::Value =
                serde_json::from_str(hero.config.expect("config")).expect("json");
            config["ttl_seconds"] = serde_json::json!(n);
            let text = config.to_string();
            let version = policy.with_config(Some(&text)).expect("config");
            registry.install(
                &format!("policy-{n:04}"),
                tailor_host::registry::Entry {
                    active: Arc::new(tailor_host::registry::PolicyVersion::new(
                        version,
                        tailor_host::registry::digest(hero.component, Some(&text)),
                        // One policy's decisions at a time: no share limits them here.
                        tailor_host::scheduler::Share {
                            weight: 1,
                            max_concurrent: 1,
                            cpu_per_second: None,
                        },
                    )),
                    canary: None,
                },
            );
        }
        let ns = per_op(iterations, |i| {
            let name = format!("policy-{:04}", i % loaded);
            let version = registry.resolve(&name, Some("cust-1")).expect("resolve");
            std::hint::black_box(engine.decide(&version.loaded, &context, &profile, &[]).ok());
        });
        println!("policies_loaded,{loaded},{ns:.0}");
    }

    // Slots per request: a whole decide request (parse, validate, lookup, every slot, encode)
    // through the service's own path.
    let harness = tailor_host::fuzzing::Harness::new();
    for slots in [1usize, 5, 10, 20] {
        let body = serde_json::json!({
            "channel": "web",
            "unit": {"customer_id": "cust-000042"},
            "slots": (0..slots).map(|i| serde_json::json!({"id": format!("s{i}"), "policy": "hero-banner"})).collect::<Vec<_>>(),
        })
        .to_string();
        let ns = per_op(iterations / 4, |_| harness.decide_body(body.as_bytes()));
        println!("slots_per_request,{slots},{ns:.0}");
    }

    // Policy size: the same work per decision in components of graded size.
    let profile = CustomerProfile::from(Profile {
        customer_id: Some("cust-000042".into()),
        ..Profile::default()
    });
    for path in &sized {
        let component = std::fs::read(path).expect("sized component");
        let started = Instant::now();
        let policy = engine
            .load(PolicySource {
                name: "sized",
                component: &component,
                config: None,
                limits: None,
            })
            .expect("load sized policy");
        let load_ns = started.elapsed().as_nanos();
        let first = engine
            .decide(&policy, &context, &profile, &[])
            .expect("sized policy decides");
        assert!(first.variant.is_some(), "{path}: {first:?}");
        let ns = per_op(iterations, |_| {
            std::hint::black_box(engine.decide(&policy, &context, &profile, &[]).ok());
        });
        let bytes = component.len();
        println!("policy_size,{bytes},{ns:.0}");
        println!("policy_size_load,{bytes},{load_ns}");
    }
}
