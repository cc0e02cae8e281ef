//! Host memory after hostile policies: after a warm-up, hundreds more decisions of each hostile
//! policy leave the process's resident memory where it was (the pooling allocator resets each
//! instance; nothing a failed decision allocated in the host survives it). Its own test binary,
//! so no other test's allocations move the figure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use tailor_host::{Engine, EngineConfig, Limits, PolicySource};
use tailor_types::{Channel, Consent, Context, Decision, Profile, Reason};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[test]
fn hostile_decisions_leave_host_memory_at_its_baseline() {
    let engine = Engine::new(EngineConfig {
        max_concurrent_decisions: 4,
        ..EngineConfig::default()
    })
    .unwrap();
    let hostile: [(&str, &[u8]); 6] = [
        ("infinite-loop", tailor_test_policies::INFINITE_LOOP),
        ("memory-bomb", tailor_test_policies::MEMORY_BOMB),
        ("deep-recursion", tailor_test_policies::DEEP_RECURSION),
        ("panicker", tailor_test_policies::PANICKER),
        ("oversized-output", tailor_test_policies::OVERSIZED_OUTPUT),
        ("log-flood", tailor_test_policies::LOG_FLOOD),
    ];
    let context = Context::new(Channel::Web, "hero", 1_774_000_000_000);
    let profile = Profile {
        customer_id: Some("cust-1".into()),
        consent: Consent {
            personalization: true,
            ..Consent::default()
        },
        ..Profile::default()
    }
    .into();
    let fallback = Decision::new(Reason::Default);
    let mut report = Vec::new();
    for (name, component) in hostile {
        let policy = engine
            .load(PolicySource {
                name,
                component,
                config: None,
                // The default deadline (10 ms): only the infinite loop reaches it.
                limits: Some(Limits::default()),
            })
            .unwrap();
        let run = |n: usize| {
            for _ in 0..n {
                let _ = engine.evaluate(&policy, &context, &profile, &[], &fallback);
            }
        };
        run(30);
        let before = rss_kib();
        run(300);
        let after = rss_kib();
        report.push(format!("{name}: {before} → {after} KiB"));
        // A leak of anything a decision touches (a memory bomb grows 16 MiB each time) would
        // be hundreds of MiB here; the slack only absorbs allocator noise.
        assert!(
            after <= before + 16 * 1024,
            "{name} left host memory growing: {}",
            report.join("; ")
        );
    }
    eprintln!("{}", report.join("\n"));
}
