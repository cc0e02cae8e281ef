//! Hostile and probing policies: each fails in its own specific way, the caller gets the slot's
//! fallback with reason ERROR, and a good policy keeps deciding on another thread meanwhile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tailor_host::profiles::CustomerProfile;
use tailor_host::{
    Contract, DecisionError, Engine, EngineConfig, ErrorCode, Limits, LoadError, LoadedPolicy,
    PolicySource, SlotInput,
};
use tailor_types::{
    Candidate, Channel, Consent, Context, Decision, DeviceClass, Profile, Reason, Value,
};

/// Tests share two cores with each other, so a decision may be descheduled for a while: every
/// policy gets a deadline long enough that only the failure under test can trip it. The
/// infinite loop keeps the production default of 10 ms.
fn test_limits() -> Limits {
    Limits {
        deadline: Duration::from_secs(5),
        ..Limits::default()
    }
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        max_concurrent_decisions: 8,
        default_limits: test_limits(),
        ..EngineConfig::default()
    })
    .unwrap()
}

fn load(engine: &Engine, name: &str, component: &[u8]) -> Result<LoadedPolicy, LoadError> {
    engine.load(PolicySource {
        name,
        component,
        config: None,
        limits: None,
    })
}

fn context() -> Context {
    Context::new(Channel::Web, "home-hero", 1_774_000_000_000)
}

fn customer() -> Profile {
    Profile {
        customer_id: Some("cust-1".into()),
        consent: Consent {
            personalization: true,
            ..Consent::default()
        },
        ..Profile::default()
    }
}

/// Runs `hostile` while another thread keeps running the hero banner; returns the hostile
/// result after checking that every good decision made meanwhile succeeded.
fn alongside_good_traffic<T>(engine: &Engine, hostile: impl FnOnce() -> T) -> T {
    let bundled = tailor_policies::find("hero-banner").unwrap();
    let good = engine
        .load(PolicySource {
            name: bundled.name,
            component: bundled.component,
            config: bundled.config,
            limits: None,
        })
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let (engine, done) = (engine.clone(), done.clone());
        std::thread::spawn(move || {
            let mut decided = 0u32;
            // At least one good decision even if the hostile one is quick.
            while decided == 0 || !done.load(Ordering::Relaxed) {
                let decision = engine.decide(&good, &context(), &customer().into(), &[]);
                assert_eq!(
                    decision.map(|d| d.reason),
                    Ok(Reason::Split),
                    "good policy failed meanwhile"
                );
                decided += 1;
            }
            decided
        })
    };
    let result = hostile();
    done.store(true, Ordering::Relaxed);
    assert!(worker.join().expect("good traffic thread") > 0);
    result
}

/// Decides with the hostile policy through `evaluate`, checks the fallback is served with
/// reason ERROR, and returns the error.
fn fails_with_fallback(engine: &Engine, policy: &LoadedPolicy) -> DecisionError {
    let fallback = Decision {
        variant: Some("house-default".into()),
        ..Decision::new(Reason::Static)
    };
    let evaluation = engine.evaluate(policy, &context(), &customer().into(), &[], &fallback);
    assert_eq!(
        evaluation.decision.variant.as_deref(),
        Some("house-default")
    );
    assert_eq!(evaluation.decision.reason, Reason::Error);
    evaluation.error.expect("the hostile policy must fail")
}

fn hostile_decision(name: &str, component: &[u8], limits: Limits) -> DecisionError {
    let engine = engine();
    let policy = engine
        .load(PolicySource {
            name,
            component,
            config: None,
            limits: Some(limits),
        })
        .unwrap();
    alongside_good_traffic(&engine, || fails_with_fallback(&engine, &policy))
}

fn refused(name: &str, component: &[u8]) -> LoadError {
    load(&engine(), name, component).expect_err("the policy must be refused at load time")
}

mod expect {
    use super::*;

    pub fn infinite_loop(component: &[u8]) {
        let error = hostile_decision("infinite-loop", component, Limits::default());
        assert_eq!(error.code, ErrorCode::Timeout, "{error}");
        assert!(error.message.contains("10ms"), "{error}");
    }

    pub fn memory_bomb(component: &[u8]) {
        let error = hostile_decision("memory-bomb", component, test_limits());
        assert_eq!(error.code, ErrorCode::MemoryLimit, "{error}");
        assert!(
            error.message.contains(&(16u32 << 20).to_string()),
            "{error}"
        );
    }

    pub fn deep_recursion(component: &[u8]) {
        let error = hostile_decision("deep-recursion", component, test_limits());
        // Rust puts the stack first in linear memory: overflowing it runs off the bottom of
        // memory, which wasmtime reports as an out-of-bounds access.
        assert!(
            matches!(error.code, ErrorCode::StackOverflow | ErrorCode::Trap),
            "{error}"
        );
        assert!(
            error.message.contains("call stack") || error.message.contains("out of bounds"),
            "{error}"
        );
    }

    pub fn panicker(component: &[u8]) {
        let error = hostile_decision("panicker", component, test_limits());
        assert_eq!(error.code, ErrorCode::Trap, "{error}");
        assert!(
            error.message.contains("no creative for customer cust-1"),
            "{error}"
        );
    }

    pub fn oversized_output(component: &[u8]) {
        let error = hostile_decision("oversized-output", component, test_limits());
        assert_eq!(error.code, ErrorCode::OutputTooLarge, "{error}");
    }

    pub fn invalid_output(component: &[u8]) {
        let error = hostile_decision("invalid-output", component, test_limits());
        assert_eq!(error.code, ErrorCode::InvalidOutput, "{error}");
        assert!(error.message.contains("items[0].score"), "{error}");
    }

    pub fn forbidden_filesystem(component: &[u8]) {
        match refused("forbidden-filesystem", component) {
            LoadError::ForbiddenImport { import, why, .. } => {
                assert!(import.starts_with("wasi:filesystem/"), "{import}");
                assert!(why.contains("no filesystem"));
            }
            other => panic!("unexpected refusal: {other}"),
        }
    }

    pub fn forbidden_clock(component: &[u8]) {
        match refused("forbidden-clock", component) {
            LoadError::ForbiddenImport { import, why, .. } => {
                assert!(import.starts_with("wasi:clocks/"), "{import}");
                assert!(why.contains("now-ms"));
            }
            other => panic!("unexpected refusal: {other}"),
        }
    }

    pub fn forbidden_socket(component: &[u8]) {
        match refused("forbidden-socket", component) {
            LoadError::ForbiddenImport { import, .. } => {
                assert!(import.starts_with("wasi:sockets/"), "{import}");
            }
            other => panic!("unexpected refusal: {other}"),
        }
    }

    pub fn env_probe(component: &[u8]) {
        let engine = engine();
        let policy = load(&engine, "env-probe", component).unwrap();
        let decision = engine
            .decide(&policy, &context(), &customer().into(), &[])
            .unwrap();
        let render = |key: &str| tailor_types::lookup(&decision.render, key).cloned();
        // Nothing of the host leaks in: no variables, arguments, home or working directory.
        assert_eq!(render("vars").as_deref(), Some("0"));
        assert_eq!(render("args").as_deref(), Some("0"));
        assert_eq!(render("home").as_deref(), Some(""));
        // No initial working directory is given; the guest's libc reports its own root.
        assert!(
            matches!(render("cwd").as_deref(), Some("" | "/")),
            "{:?}",
            render("cwd")
        );
    }

    pub fn slow_for_some(component: &[u8]) {
        let engine = engine();
        let policy = engine
            .load(PolicySource {
                name: "slow-for-some",
                component,
                config: None,
                // Timing is the subject: short enough to keep the test quick, long enough that
                // a fast customer never reaches it on a loaded machine.
                limits: Some(Limits {
                    deadline: Duration::from_millis(250),
                    ..Limits::default()
                }),
            })
            .unwrap();
        let fallback = Decision::new(Reason::Default);
        let mut slow = 0;
        for i in 0..20 {
            let profile = Profile {
                customer_id: Some(format!("cust-{i:02}")),
                ..customer()
            };
            let evaluation = engine.evaluate(&policy, &context(), &profile.into(), &[], &fallback);
            if i % 10 == 7 {
                // Cut off at the deadline, the slot's fallback served.
                let error = evaluation
                    .error
                    .expect("a customer ending in 7 must time out");
                assert_eq!(error.code, ErrorCode::Timeout, "{error}");
                assert_eq!(evaluation.decision.reason, Reason::Error);
                slow += 1;
            } else {
                // Everyone else is unaffected, before and after the slow ones.
                assert!(evaluation.error.is_none(), "{:?}", evaluation.error);
                assert_eq!(evaluation.decision.reason, Reason::Static);
            }
        }
        assert_eq!(slow, 2);
    }

    /// Legal work inside the deadline answers normally (tests/burn_policy.rs covers the rest).
    pub fn burn(component: &[u8]) {
        let engine = engine();
        let policy = engine
            .load(PolicySource {
                name: "burn",
                component,
                config: Some(r#"{"iterations": 1000}"#),
                limits: None,
            })
            .unwrap();
        let decision = alongside_good_traffic(&engine, || {
            engine.decide(&policy, &context(), &customer().into(), &[])
        })
        .unwrap();
        assert_eq!(decision.reason, Reason::Static);
        assert_eq!(
            tailor_types::lookup(&decision.render, "burned").map(String::as_str),
            Some("1000")
        );
    }

    /// A policy that writes globals never sees them in the next decision, not even on the same
    /// thread right after: every decision starts from a fresh instance.
    pub fn remembers(component: &[u8]) {
        let engine = engine();
        let policy = engine
            .load(PolicySource {
                name: "remembers",
                component,
                config: None,
                limits: None,
            })
            .unwrap();
        std::thread::scope(|scope| {
            for thread in 0..2 {
                let (engine, policy) = (&engine, &policy);
                scope.spawn(move || {
                    for n in 0..100 {
                        let mut profile = customer();
                        profile.customer_id = Some(format!("cust-{thread}-{n}"));
                        let decision = engine
                            .decide(policy, &context(), &profile.into(), &[])
                            .unwrap();
                        let render = |key| {
                            tailor_types::lookup(&decision.render, key)
                                .cloned()
                                .unwrap_or_default()
                        };
                        assert_eq!(render("decisions_seen"), "1", "{decision:?}");
                        assert_eq!(render("previous_customer"), "", "{decision:?}");
                        assert_eq!(render("customer"), format!("cust-{thread}-{n}"));
                    }
                });
            }
        });
        // A 0.2.0 component (the SDK's) decides a page's slots in one instance: they share it,
        // in order, and the next page starts from nothing.
        assert_eq!(policy.contract(), Contract::V0_2);
        for customer in ["cust-a", "cust-b"] {
            let (profile, slots) = page(customer);
            let evaluations = engine.evaluate_page(&policy, &profile, slots);
            let seen: Vec<String> = evaluations
                .iter()
                .map(|e| rendered(&e.decision, "decisions_seen"))
                .collect();
            assert_eq!(seen, ["1", "2", "3"], "{evaluations:?}");
            let previous: Vec<String> = evaluations
                .iter()
                .map(|e| rendered(&e.decision, "previous_customer"))
                .collect();
            assert_eq!(
                previous,
                ["", customer, customer],
                "never another customer's"
            );
        }
    }

    pub fn wrong_world(component: &[u8]) {
        let error = refused("wrong-world", component);
        assert!(matches!(error, LoadError::WrongWorld { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains("tailor:policy/policy world (0.1.0 or 0.2.0)"),
            "{error}"
        );
    }

    /// Three slots of one page for `customer`, each with its own slot name.
    fn page(customer: &str) -> (CustomerProfile, Vec<SlotInput>) {
        let mut profile = self::customer();
        profile.customer_id = Some(customer.into());
        let slots = ["top", "middle", "bottom"]
            .into_iter()
            .map(|slot| SlotInput {
                context: Context::new(Channel::Web, slot, 0),
                candidates: vec![Candidate {
                    id: "c1".into(),
                    tags: Vec::new(),
                    numbers: Vec::new(),
                }],
                fallback: Decision::new(Reason::Default),
            })
            .collect();
        (profile.into(), slots)
    }

    fn rendered(decision: &Decision, key: &str) -> String {
        tailor_types::lookup(&decision.render, key)
            .cloned()
            .unwrap_or_default()
    }

    /// A component built against 0.1.0 directly (not with the SDK, which targets 0.2.0) keeps
    /// loading and deciding, reading config and profile through the 0.1.0 interfaces; a page of
    /// it gets a fresh instance per slot.
    pub fn contract_0_1(component: &[u8]) {
        let engine = engine();
        let policy = engine
            .load(PolicySource {
                name: "contract-0-1",
                component,
                config: Some(r#"{"greeting": "hi"}"#),
                limits: None,
            })
            .unwrap();
        assert_eq!(policy.contract(), Contract::V0_1);
        let (profile, slots) = page("cust-7");
        let evaluations = engine.evaluate_page(&policy, &profile, slots);
        assert_eq!(evaluations.len(), 3);
        for (evaluation, slot) in evaluations.iter().zip(["top", "middle", "bottom"]) {
            assert!(evaluation.error.is_none(), "{evaluation:?}");
            let decision = &evaluation.decision;
            assert_eq!(decision.variant.as_deref(), Some("v0-1"));
            assert_eq!(rendered(decision, "greeting"), "hi");
            assert_eq!(rendered(decision, "customer"), "cust-7");
            assert_eq!(rendered(decision, "slot"), slot);
            assert_eq!(rendered(decision, "candidates"), "1");
            assert_eq!(
                rendered(decision, "decisions_seen"),
                "1",
                "a fresh instance per slot"
            );
        }
        // It cannot check or describe its config (0.2.0 exports): it has nothing to say.
        assert_eq!(engine.check_config(&policy).unwrap(), vec![]);
        assert_eq!(engine.config_schema(&policy).unwrap(), None);
    }

    pub fn log_flood(component: &[u8]) {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let subscriber = capture::Capture(lines.clone());
        let decision = tracing::subscriber::with_default(subscriber, || {
            let engine = engine();
            let policy = load(&engine, "log-flood", component).unwrap();
            engine.decide(&policy, &context(), &customer().into(), &[])
        });
        assert_eq!(decision.unwrap().variant.as_deref(), Some("after-flood"));
        let lines = lines.lock().unwrap();
        let from_policy = lines
            .iter()
            .filter(|l| l.starts_with("tailor::policy"))
            .count();
        assert_eq!(from_policy, 16, "the per-decision cap is 16 lines");
        assert!(
            lines
                .iter()
                .filter(|l| l.starts_with("tailor::policy"))
                .all(|l| l.len() < 1200)
        );
        assert!(
            lines.iter().any(|l| l.contains("dropped")),
            "dropping must be reported"
        );
    }

    pub fn host_call_probe(component: &[u8]) {
        let engine = engine();
        let policy = engine
            .load(PolicySource {
                name: "probe",
                component,
                config: Some(r#"{"probe": 1.5}"#),
                limits: None,
            })
            .unwrap();
        let mut context = context();
        context.attributes = vec![("calls".into(), Value::Integer(10))];
        let mut profile = customer();
        profile.segments = vec!["a".into(), "b".into()];
        profile.affinities = vec![("shoes".into(), 0.5)];
        let profile = CustomerProfile::from(profile);
        let decision = engine.decide(&policy, &context, &profile, &[]).unwrap();
        assert_eq!(tailor_types::lookup(&decision.render, "sum").unwrap(), "15");
        // Typical reads: customer id and consent count; no tier, segment, trait or affinity hit.
        assert_eq!(
            tailor_types::lookup(&decision.render, "profile_fields").unwrap(),
            "2"
        );
        context
            .attributes
            .push(("read".into(), Value::Text("all".into())));
        let decision = engine.decide(&policy, &context, &profile, &[]).unwrap();
        // Everything: two segments and one affinity.
        assert_eq!(
            tailor_types::lookup(&decision.render, "profile_fields").unwrap(),
            "3"
        );
        // Nothing: no profile read and no config read (the benches' floor of a decision).
        context.attributes = vec![("read".into(), Value::Text("nothing".into()))];
        let decision = engine.decide(&policy, &context, &profile, &[]).unwrap();
        assert_eq!(tailor_types::lookup(&decision.render, "sum").unwrap(), "0");
        assert_eq!(
            tailor_types::lookup(&decision.render, "profile_fields").unwrap(),
            "0"
        );
    }

    pub fn echo(component: &[u8]) {
        let engine = engine();
        let config = r#"{"headline": "Hello", "weights": [1, 2], "flag": true}"#;
        let policy = engine
            .load(PolicySource {
                name: "echo",
                component,
                config: Some(config),
                limits: None,
            })
            .unwrap();
        let mut context = context();
        context.device = DeviceClass::Other("smart-fridge".into());
        context.locale = Some("de-DE".into());
        context.store_id = Some("store-0042".into());
        context.anonymous_id = Some("anon-1".into());
        context.attributes = vec![
            ("campaign".into(), Value::Text("spring".into())),
            ("basket".into(), Value::Number(12.5)),
        ];
        let mut profile = customer();
        profile.segments = vec!["a".into(), "b".into()];
        profile.affinities = vec![("shoes".into(), 0.5)];
        let candidates = vec![
            Candidate {
                id: "x".into(),
                tags: vec![],
                numbers: vec![("score".into(), 2.0)],
            },
            Candidate {
                id: "y".into(),
                tags: vec!["t".into()],
                numbers: vec![],
            },
        ];
        let decision = engine
            .decide(&policy, &context, &profile.into(), &candidates)
            .unwrap();
        let render = |key: &str| {
            tailor_types::lookup(&decision.render, key)
                .cloned()
                .unwrap_or_else(|| panic!("no {key}"))
        };
        assert_eq!(decision.variant.as_deref(), Some("home-hero"));
        assert_eq!(render("channel"), "web");
        assert_eq!(render("device"), "smart-fridge");
        assert_eq!(render("now_ms"), "1774000000000");
        assert_eq!(render("locale"), "de-DE");
        assert_eq!(render("store_id"), "store-0042");
        assert_eq!(render("customer_id"), "cust-1");
        assert_eq!(render("unit"), "cust-1");
        assert_eq!(render("segments"), "a,b");
        assert!(render("attributes").contains("Number(12.5)"));
        assert!(render("affinities").contains("0.5"));
        assert_eq!(render("config.headline"), "Hello");
        assert_eq!(render("config.weights"), "Some(Array(2))");
        assert_eq!(render("config.flag"), "Some(Boolean(true))");
        let items: Vec<(&str, f64)> = decision
            .items
            .iter()
            .map(|i| (i.id.as_str(), i.score))
            .collect();
        assert_eq!(items, [("x", 2.0), ("y", 1.0)]);
        assert_eq!(decision.ttl_seconds, Some(42));
    }
}

macro_rules! hostile_test {
    ($ident:ident, $component:path) => {
        #[test]
        fn $ident() {
            expect::$ident($component);
        }
    };
}

tailor_test_policies::foreach_test_policy!(hostile_test);

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let error = refused("garbage", b"\0asm\x01\0\0\0not really");
    assert!(matches!(error, LoadError::NotAComponent { .. }), "{error}");
    assert!(error.to_string().contains("`garbage`"), "{error}");
}

#[test]
fn an_invalid_config_document_is_refused_with_its_position() {
    let bundled = tailor_policies::find("hero-banner").unwrap();
    let error = engine()
        .load(PolicySource {
            name: "hero-banner",
            component: bundled.component,
            config: Some("{\n \"a\": }"),
            limits: None,
        })
        .unwrap_err();
    assert!(matches!(error, LoadError::InvalidConfig { .. }), "{error}");
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn a_full_pool_answers_capacity_instead_of_queueing() {
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 1,
        default_limits: test_limits(),
        ..EngineConfig::default()
    })
    .unwrap();
    let spin = engine
        .load(PolicySource {
            name: "infinite-loop",
            component: tailor_test_policies::INFINITE_LOOP,
            config: None,
            limits: Some(Limits {
                deadline: Duration::from_millis(100),
                ..test_limits()
            }),
        })
        .unwrap();
    let echo = load(&engine, "echo", tailor_test_policies::ECHO).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let spinner = {
        let (engine, started) = (engine.clone(), started.clone());
        std::thread::spawn(move || {
            started.store(true, Ordering::SeqCst);
            for _ in 0..100_000 {
                // The main thread may hold the slot for a moment: retry until the spinner has it.
                match engine.decide(&spin, &context(), &customer().into(), &[]) {
                    Err(error) if error.code == ErrorCode::Capacity => std::thread::yield_now(),
                    other => return other,
                }
            }
            panic!("the spinner never got the slot");
        })
    };
    // Wait until the spinner holds the only slot, then ask for another.
    let mut saw_capacity = false;
    for _ in 0..10_000 {
        if spinner.is_finished() {
            break;
        }
        if started.load(Ordering::SeqCst)
            && let Err(error) = engine.decide(&echo, &context(), &customer().into(), &[])
        {
            // Refused: the spinner holds the only slot.
            assert_eq!(error.code, ErrorCode::Capacity, "{error}");
            saw_capacity = true;
            break;
        }
        // Leave the slot free for a moment so the spinner can take it.
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        spinner.join().unwrap().unwrap_err().code,
        ErrorCode::Timeout
    );
    assert!(
        saw_capacity,
        "a second decision must be refused while the only slot is busy"
    );
    assert!(
        engine
            .decide(&echo, &context(), &customer().into(), &[])
            .is_ok(),
        "the slot is free again"
    );
}

mod capture {
    //! A tracing subscriber that records `target message fields` lines.
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    pub struct Capture(pub Arc<Mutex<Vec<String>>>);

    struct Line(String);

    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = Line(event.metadata().target().to_owned());
            event.record(&mut line);
            self.0.lock().unwrap().push(line.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}
