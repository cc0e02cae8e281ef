//! Fair shares, guardrails and cost per policy, against a node serving over HTTP: a heavy policy
//! at full demand beside hero-banner, a version ten times slower than its predecessor rolled
//! back on its own, a publish whose fixtures cost more than the budget refused, and the cost of
//! each version in the metrics and the admin API. Nothing here asserts a time.
mod common;

use base64::Engine as _;
use common::{
    ADMIN, decide, describe_policy as describe, publish_policy as publish, request, start,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn burn(iterations: u64) -> Value {
    json!({
        "component": base64::engine::general_purpose::STANDARD.encode(tailor_test_policies::BURN),
        "config": json!({"iterations": iterations}).to_string(),
    })
}

fn slot(addr: SocketAddr, policy: &str, customer: usize) -> Value {
    let reply = decide(
        addr,
        &json!({
            "channel": "web",
            "unit": {"customer_id": format!("cust-{:06}", customer % 500)},
            "slots": [{"id": "s", "policy": policy}],
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["slots"][0].clone()
}

fn metrics(addr: SocketAddr) -> String {
    let body = request(addr, "GET", "/metrics", "text/plain", b"").body;
    body.as_str().unwrap_or_default().to_owned()
}

/// About 4 ms of CPU per decision on this machine kind (the burn loop runs ~466k rounds/ms).
const HEAVY: u64 = 2_000_000;

#[test]
fn a_heavy_policy_at_full_demand_waits_for_its_share_and_hero_banner_is_answered() {
    let node = start(|c| {
        c.admin_token = Some(ADMIN.into());
        c.decision_threads = 2;
        // How long a slot may wait for its share: short enough that four clients at full
        // demand pass the heavy policy's cap, long enough for a loaded test machine.
        c.deadline_ms = 300;
    });
    let addr = node.addr;
    let mut heavy = burn(HEAVY);
    heavy["share"] = json!({"cpu_ms_per_second": 20, "max_concurrent": 1});
    let published = publish(addr, "heavy", &heavy);
    assert_eq!(published.status, 200, "{}", published.body);
    let detail = describe(addr, "heavy");
    assert_eq!(
        detail["share"],
        json!({"weight": 1, "max_concurrent": 1, "cpu_ms_per_second": 20,
               "set_by_publish": {"max_concurrent": 1, "cpu_ms_per_second": 20}})
    );

    let started = Instant::now();
    let done = AtomicBool::new(false);
    let (heavy_slots, hero_slots) = std::thread::scope(|scope| {
        // Four clients ask for the heavy policy back to back for as long as hero-banner runs.
        let hammers: Vec<_> = (0..4)
            .map(|client| {
                let done = &done;
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    let mut n = client;
                    while !done.load(Ordering::Relaxed) {
                        seen.push(slot(addr, "heavy", n));
                        n += 4;
                    }
                    seen
                })
            })
            .collect();
        let heroes: Vec<_> = (0..2)
            .map(|client| {
                scope.spawn(move || {
                    (0..300)
                        .map(|n| slot(addr, "hero-banner", n * 2 + client))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let hero: Vec<Value> = heroes.into_iter().flat_map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::Relaxed);
        let heavy: Vec<Value> = hammers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        (heavy, hero)
    });
    let elapsed = started.elapsed();

    assert_eq!(hero_slots.len(), 600);
    for hero in &hero_slots {
        assert!(hero["error"].is_null(), "hero-banner fell back: {hero}");
        assert_ne!(hero["reason"], "ERROR", "{hero}");
    }
    let answered = heavy_slots.iter().filter(|s| s["error"].is_null()).count();
    let over_budget: Vec<&Value> = heavy_slots
        .iter()
        .filter(|s| s["error"]["code"] == "over_budget")
        .collect();
    assert!(answered > 0, "the heavy policy was never answered");
    assert!(
        !over_budget.is_empty(),
        "four clients at full demand never passed 20 ms/s ({answered} answered)"
    );
    // Which reason a shed slot names depends on the lane's state the moment its wait ran out
    // (its budget may have just refilled, with another policy's slot ahead of it): some of
    // them name the CPU budget.
    assert!(
        over_budget.iter().any(|s| s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CPU budget")),
        "no shed slot names the CPU budget: {}",
        over_budget[0]
    );
    for shed in &over_budget {
        assert_eq!(shed["reason"], "ERROR", "a shed slot gets its fallback");
    }
    assert_eq!(
        answered + over_budget.len(),
        heavy_slots.len(),
        "every heavy slot is answered or shed over budget"
    );

    let heavy_detail = describe(addr, "heavy");
    let usage = &heavy_detail["active"]["scheduling"];
    assert_eq!(usage["decisions"].as_u64().unwrap() as usize, answered);
    assert_eq!(
        usage["shed_over_budget"].as_u64().unwrap() as usize,
        over_budget.len()
    );
    // Within its cap: what it banks (20 ms/s over 100 ms) plus its rate over the run, plus
    // one decision that starts inside the budget and runs past it.
    assert_eq!(
        usage["inline"], 0,
        "a policy slower than the inline bound never runs on the HTTP threads"
    );
    let cpu = Duration::from_nanos(usage["cpu_nanos"].as_u64().unwrap());
    let cost = heavy_detail["active"]["cost"]["cpu_ms"]["p99"]
        .as_f64()
        .unwrap();
    let allowed =
        Duration::from_millis(2) + elapsed.mul_f64(0.02) + Duration::from_secs_f64(cost / 1000.0);
    assert!(cpu <= allowed, "used {cpu:?} of CPU, allowed {allowed:?}");
    let hero_usage = &describe(addr, "hero-banner")["active"]["scheduling"];
    assert_eq!(hero_usage["shed_over_budget"], 0);
    assert_eq!(hero_usage["shed_capacity"], 0);
}

#[test]
fn a_version_ten_times_slower_than_its_predecessor_is_rolled_back_with_the_reason() {
    let node = start(|c| {
        c.admin_token = Some(ADMIN.into());
        c.auto_rollback_min_decisions = 20;
    });
    let addr = node.addr;
    let first = publish(addr, "burner", &burn(HEAVY / 20));
    assert_eq!(first.status, 200, "{}", first.body);
    let first_digest = first.body["digest"].as_str().unwrap().to_owned();
    for n in 0..40 {
        assert!(slot(addr, "burner", n)["error"].is_null());
    }
    // Its cost, per version, in the admin API and the metrics.
    let cost = describe(addr, "burner")["active"]["cost"].clone();
    assert_eq!(cost["decisions"], 40, "{cost}");
    assert!(cost["cpu_ms"]["mean"].as_f64().unwrap() > 0.0, "{cost}");
    assert!(
        cost["wall_ms"]["p99"].as_f64().unwrap() >= cost["cpu_ms"]["p50"].as_f64().unwrap(),
        "{cost}"
    );
    let short = &first_digest[7..19];
    let exported = metrics(addr);
    let line =
        format!("tailor_decision_cpu_seconds_count{{policy=\"burner\",version=\"{short}\"}} 40");
    assert!(exported.contains(&line), "no `{line}` in:\n{exported}");

    let second = publish(addr, "burner", &burn(HEAVY / 2));
    assert_eq!(second.status, 200, "{}", second.body);
    let second_digest = second.body["digest"].as_str().unwrap().to_owned();
    let mut n = 0;
    let detail = loop {
        let detail = describe(addr, "burner");
        if detail["active"]["digest"] == first_digest.as_str() {
            break detail;
        }
        assert!(n < 5_000, "never rolled back: {detail}");
        slot(addr, "burner", n);
        n += 1;
    };
    let entry = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "auto_rolled_back")
        .unwrap_or_else(|| panic!("no automatic rollback in {detail}"))
        .clone();
    assert_eq!(entry["digest"], first_digest.as_str(), "{entry}");
    let why = entry["detail"].as_str().unwrap();
    assert!(
        why.contains("cost guardrail") && why.contains("the previous version's"),
        "{why}"
    );
    assert!(why.contains(&second_digest), "{why}");
    // Counted by the health monitor once its rollback has returned: a moment after the
    // rollback shows.
    let line = "tailor_policy_guardrail_rollbacks_total{policy=\"burner\",guard=\"cost\"} 1";
    let mut exported = metrics(addr);
    for _ in 0..200 {
        if exported.contains(line) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        exported = metrics(addr);
    }
    assert!(exported.contains(line), "no `{line}` in:\n{exported}");
}

#[test]
fn a_publish_whose_fixtures_cost_more_than_the_budget_is_refused_naming_the_case() {
    let node = start(|c| {
        c.admin_token = Some(ADMIN.into());
        c.guard_cpu_ms = 1.0;
    });
    let addr = node.addr;
    // What the expensive version decides (it serves: publishes without fixtures are not
    // measured), to write a fixture case it passes.
    let probe = publish(addr, "probe", &burn(HEAVY));
    assert_eq!(probe.status, 200, "{}", probe.body);
    let decided = slot(addr, "probe", 1);
    let case = json!({
        "name": "one-customer",
        "context": {"channel": "web", "slot": "s", "now_ms": 1774000000000i64},
        "expected": {"decision": {"reason": decided["reason"], "render": decided["render"]}},
    });
    let mut costly = burn(HEAVY);
    costly["fixtures"] = json!([case]);
    let refused = publish(addr, "costly", &costly);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "fixture_over_budget");
    assert_eq!(refused.body["error"]["field"], "fixtures");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("one-customer") && message.contains("guard_cpu_ms"),
        "{message}"
    );
    // The same case on a cheap version passes the budget (and so is checked, not skipped).
    let mut cheap = burn(1000);
    let cheap_decision = {
        let probe = publish(addr, "cheap-probe", &burn(1000));
        assert_eq!(probe.status, 200, "{}", probe.body);
        slot(addr, "cheap-probe", 1)
    };
    cheap["fixtures"] = json!([{
        "name": "one-customer",
        "context": {"channel": "web", "slot": "s", "now_ms": 1774000000000i64},
        "expected": {"decision": {"reason": cheap_decision["reason"], "render": cheap_decision["render"]}},
    }]);
    let accepted = publish(addr, "cheap", &cheap);
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body["fixtures_passed"], 1);
}

#[test]
fn a_bad_share_is_refused_naming_the_field() {
    let node = start(|c| {
        c.admin_token = Some(ADMIN.into());
        c.decision_threads = 2;
    });
    for (share, field) in [
        (json!({"weight": 0}), "share.weight"),
        (json!({"max_concurrent": 0}), "share.max_concurrent"),
        (
            json!({"cpu_ms_per_second": 5000}),
            "share.cpu_ms_per_second",
        ),
    ] {
        let mut body = burn(1000);
        body["share"] = share;
        let refused = publish(node.addr, "bad-share", &body);
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert_eq!(refused.body["error"]["field"], "share", "{}", refused.body);
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    // A share for a version already serving applies without a new version.
    let first = publish(node.addr, "reshared", &burn(1000));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(describe(node.addr, "reshared")["share"]["weight"], 1);
    let mut again = burn(1000);
    again["share"] = json!({"weight": 5});
    let reshared = publish(node.addr, "reshared", &again);
    assert_eq!(reshared.status, 200, "{}", reshared.body);
    assert_eq!(reshared.body["unchanged"], true);
    let share = describe(node.addr, "reshared")["share"].clone();
    assert_eq!(share["weight"], 5, "{share}");
    assert_eq!(share["set_by_publish"], json!({"weight": 5}));

    let mut unknown = burn(1000);
    unknown["share"] = json!({"cpu": 1});
    let refused = publish(node.addr, "bad-share", &unknown);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["field"], "share.cpu",
        "{}",
        refused.body
    );
}

#[test]
fn decisions_inline_and_on_the_decision_threads_never_see_one_another() {
    let node = start(|c| {
        c.admin_token = Some(ADMIN.into());
        c.decision_threads = 2;
        c.share_max_concurrent = 2;
        // So that a loaded test machine cannot keep it off the HTTP threads.
        c.inline_under_us = 100_000;
    });
    let addr = node.addr;
    let body = json!({
        "component": base64::engine::general_purpose::STANDARD.encode(tailor_test_policies::REMEMBERS),
    });
    let published = publish(addr, "remembers", &body);
    assert_eq!(published.status, 200, "{}", published.body);
    std::thread::scope(|scope| {
        for client in 0..3 {
            scope.spawn(move || {
                for n in 0..100 {
                    let customer = client * 100 + n;
                    let slot = slot(addr, "remembers", customer);
                    assert!(slot["error"].is_null(), "{slot}");
                    let render = &slot["render"];
                    assert_eq!(render["decisions_seen"], "1", "{slot}");
                    assert_eq!(render["previous_customer"], "", "{slot}");
                    assert_eq!(
                        render["customer"],
                        format!("cust-{:06}", customer % 500),
                        "{slot}"
                    );
                }
            });
        }
    });
    let usage = &describe(addr, "remembers")["active"]["scheduling"];
    assert_eq!(usage["decisions"], 300);
    let inline = usage["inline"].as_u64().unwrap();
    assert!(
        (1..=300 - 32).contains(&inline),
        "the first 32 on the decision threads, then inline: {inline} inline"
    );
}

#[test]
fn a_pages_slots_of_one_policy_share_one_instance_and_nothing_else() {
    let node = start(|c| {
        c.admin_token = Some(ADMIN.into());
        c.decision_threads = 2;
    });
    let addr = node.addr;
    for (name, component) in [
        ("remembers", tailor_test_policies::REMEMBERS),
        ("contract-0-1", tailor_test_policies::CONTRACT_0_1),
    ] {
        let body = json!({
            "component": base64::engine::general_purpose::STANDARD.encode(component),
        });
        let published = publish(addr, name, &body);
        assert_eq!(published.status, 200, "{}", published.body);
    }
    for customer in 0..40 {
        let reply = decide(
            addr,
            &json!({
                "channel": "web",
                "unit": {"customer_id": format!("cust-{customer:06}")},
                "slots": [
                    {"id": "a", "policy": "remembers"},
                    {"id": "old-1", "policy": "contract-0-1"},
                    {"id": "b", "policy": "remembers"},
                    {"id": "old-2", "policy": "contract-0-1"},
                    {"id": "c", "policy": "remembers"},
                ],
            }),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let slots = reply.body["slots"].as_array().unwrap();
        let seen = |index: usize| slots[index]["render"]["decisions_seen"].clone();
        // The 0.2.0 policy's three slots were decided in one instance, in order, for this
        // customer only; each 0.1.0 slot had a fresh instance.
        assert_eq!(
            [seen(0), seen(2), seen(4)],
            [json!("1"), json!("2"), json!("3")],
            "{}",
            reply.body
        );
        assert_eq!(
            slots[0]["render"]["previous_customer"], "",
            "{}",
            reply.body
        );
        assert_eq!(
            slots[4]["render"]["previous_customer"],
            format!("cust-{customer:06}")
        );
        assert_eq!(
            [seen(1), seen(3)],
            [json!("1"), json!("1")],
            "{}",
            reply.body
        );
        assert_eq!(slots[3]["render"]["slot"], "old-2");
    }
    let remembers = describe(addr, "remembers");
    assert_eq!(remembers["active"]["contract"], "0.2.0");
    assert_eq!(
        remembers["active"]["scheduling"]["decisions"], 40,
        "one job per page of its slots"
    );
    assert_eq!(
        remembers["active"]["cost"]["decisions"], 120,
        "each slot's cost"
    );
    assert_eq!(
        describe(addr, "contract-0-1")["active"]["contract"],
        "0.1.0"
    );
}
