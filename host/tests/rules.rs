//! The bundled `rules` policy on a node: its campaign document checked at publish and while
//! edited (the field named), its JSON Schema served, and a draft previewed against the live
//! version on the store's profiles, reporting exactly the customers it changes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use tailor_host::profiles::sample;

mod common;
use common::{ADMIN, Reply, admin, publish_policy, start};

const PROFILES: u64 = 400;

fn node() -> common::Running {
    start(|file| {
        file.admin_token = Some(ADMIN.into());
        file.sample_profiles = PROFILES;
    })
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    admin(addr, "POST", path, Some(ADMIN), body.to_string().as_bytes())
}

/// A campaign: students get their own banner, everyone else the default.
fn campaign(student_variant: &str) -> Value {
    json!({
        "default": {"variant": "evergreen", "render": {"headline": "New season, new styles"}},
        "rules": [{
            "name": "students",
            "when": {"in_segment": "student"},
            "then": {"variant": student_variant, "render": {"headline": "Student offer"}}
        }],
        "ttl_seconds": 60
    })
}

#[test]
fn a_draft_that_changes_one_segments_variant_reports_exactly_those_customers() {
    let server = node();
    let addr = server.addr;
    let live = publish_policy(
        addr,
        "rules",
        &json!({"config": campaign("student-10").to_string()}),
    );
    assert_eq!(live.status, 200, "{}", live.body);
    let live_digest = common::describe_policy(addr, "rules")["active"]["digest"].clone();

    let reply = post(
        addr,
        "/admin/v1/policies/rules/preview",
        &json!({"config": campaign("student-free-delivery").to_string(), "sample": PROFILES}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let preview = &reply.body;
    assert_eq!(preview["profiles"], PROFILES);
    assert_eq!(preview["live"]["digest"], live_digest);

    // Who should change, from the sample profiles themselves: students who allow
    // personalization (the rules apply only with that consent).
    let expected: BTreeSet<String> = (0..PROFILES)
        .map(sample::profile)
        .filter(|p| p.consent.personalization && p.segments.iter().any(|s| s == "student"))
        .map(|p| p.customer_id.unwrap())
        .collect();
    assert!(
        expected.len() > 10,
        "too few students in the sample to mean anything"
    );
    let changed: BTreeSet<String> = preview["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["changed"] == true)
        .map(|d| d["customer_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(changed, expected);
    let summary = &preview["summary"];
    assert_eq!(summary["changed"], expected.len());
    assert_eq!(summary["unchanged"], PROFILES as usize - expected.len());
    assert_eq!(
        summary["transitions"],
        json!([{"from": "student-10", "to": "student-free-delivery", "count": expected.len()}])
    );
    assert_eq!(summary["errors"], json!({"live": 0, "draft": 0}));
    // The changed customers come first, each with both sides.
    let first = &preview["decisions"][0];
    assert_eq!(first["changed"], true);
    assert_eq!(first["live"]["variant"], "student-10");
    assert_eq!(first["draft"]["variant"], "student-free-delivery");

    // It changed nothing: the live version is the same, and decisions still get it.
    assert_eq!(
        common::describe_policy(addr, "rules")["active"]["digest"],
        live_digest
    );
    let student = expected.iter().next().unwrap();
    let decided = common::decide(
        addr,
        &json!({"channel": "web", "unit": {"customer_id": student}, "slots": [{"id": "hero", "policy": "rules"}]}),
    );
    assert_eq!(
        decided.body["slots"][0]["variant"], "student-10",
        "{}",
        decided.body
    );

    // Given customers and contexts instead of a sample; an unknown one decides as anonymous.
    let named = post(
        addr,
        "/admin/v1/policies/rules/preview",
        &json!({
            "config": campaign("student-free-delivery").to_string(),
            "customers": [
                {"customer_id": student, "channel": "app"},
                {"customer_id": "nobody-we-know"}
            ]
        }),
    );
    assert_eq!(named.status, 200, "{}", named.body);
    assert_eq!(named.body["profiles"], 2);
    assert_eq!(named.body["summary"]["changed"], 1);
    let unknown = named.body["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["customer_id"] == "nobody-we-know")
        .unwrap();
    assert_eq!(unknown["known"], false);
    assert_eq!(unknown["draft"]["variant"], "evergreen");
}

#[test]
fn a_campaign_with_a_mistake_is_refused_at_publish_and_in_preview_naming_the_field() {
    let server = node();
    let addr = server.addr;
    let mut bad = campaign("student-10");
    bad["rules"][0]["when"] = json!({"~=": [{"var": "tier"}, "gold"]});
    let text = bad.to_string();

    let refused = publish_policy(addr, "rules", &json!({"config": text}));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "invalid_config");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("rules[0].when") && message.contains("unknown operator \"~=\""),
        "{message}"
    );

    // The same problems while editing, as a list.
    let checked = post(
        addr,
        "/admin/v1/policies/rules/validate",
        &json!({"config": text}),
    );
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.body["valid"], false);
    let problem = &checked.body["problems"][0];
    assert!(
        problem["path"]
            .as_str()
            .unwrap()
            .starts_with("rules[0].when"),
        "{problem}"
    );
    assert!(
        problem["message"].as_str().unwrap().contains("~="),
        "{problem}"
    );
    let not_json = post(
        addr,
        "/admin/v1/policies/rules/validate",
        &json!({"config": "{\"rules\": ["}),
    );
    assert_eq!(not_json.body["valid"], false);
    assert!(
        not_json.body["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{}",
        not_json.body
    );
    let fine = post(
        addr,
        "/admin/v1/policies/rules/validate",
        &json!({"config": campaign("x").to_string()}),
    );
    assert_eq!(fine.body, json!({"valid": true, "problems": []}));

    let previewed = post(
        addr,
        "/admin/v1/policies/rules/preview",
        &json!({"config": text}),
    );
    assert_eq!(previewed.status, 422, "{}", previewed.body);
    assert_eq!(previewed.body["error"]["code"], "invalid_config");
}

#[test]
fn the_node_serves_the_json_schema_a_policy_describes_its_config_with() {
    let server = node();
    let schema = admin(
        server.addr,
        "GET",
        "/admin/v1/policies/rules/schema",
        Some(ADMIN),
        b"",
    );
    assert_eq!(schema.status, 200, "{}", schema.body);
    assert!(
        schema
            .headers
            .contains("content-type: application/schema+json")
    );
    assert!(
        schema.body["$schema"].as_str().unwrap().contains("2020-12"),
        "{}",
        schema.body
    );
    assert!(
        schema.body["properties"]["rules"].is_object(),
        "{}",
        schema.body
    );
    // A policy that describes none, and one that does not exist.
    let none = admin(
        server.addr,
        "GET",
        "/admin/v1/policies/hero-banner/schema",
        Some(ADMIN),
        b"",
    );
    assert_eq!(none.status, 404);
    assert_eq!(none.body["error"]["code"], "no_schema");
    let missing = admin(
        server.addr,
        "GET",
        "/admin/v1/policies/nope/schema",
        Some(ADMIN),
        b"",
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"]["code"], "unknown_policy");
}
