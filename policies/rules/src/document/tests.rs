//! Validation of whole documents: every problem, each at its path.

use super::Campaign;
use serde_json::{Value, json};

fn problems(document: Value) -> Vec<String> {
    match Campaign::compile(&document) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

fn creative(variant: &str) -> Value {
    json!({"variant": variant, "render": {"headline": variant}})
}

#[test]
fn a_minimal_document_is_valid() {
    assert_eq!(
        problems(json!({"default": creative("d"), "rules": []})),
        Vec::<String>::new()
    );
    let campaign = Campaign::compile(&json!({
        "default": creative("d"), "ttl_seconds": 60, "cache": {"scope": "segment"},
        "rules": [{"name": "all", "then": creative("x")}]
    }))
    .unwrap();
    assert_eq!(campaign.ttl_seconds, Some(60));
    assert_eq!(campaign.rules.len(), 1);
}

#[test]
fn every_problem_is_named_by_its_path() {
    let document = json!({
        "default": {"variant": "", "render": {"headline": 3}},
        "ttl": 300,
        "cache": {"scope": "person"},
        "rules": [
            {"name": "a", "whenn": true, "then": creative("x")},
            {"name": "a", "when": {"and": [true, {"~=": [1, 2]}]}, "then": creative("y")},
            {"name": "e1", "then": {"experiment": {"key": "x", "holdout": 1, "arms": [
                {"variant": "a", "weight": 0, "render": {}},
                {"variant": "b", "weight": -5, "render": {}}
            ]}}},
            {"name": "e2", "then": {"experiment": {"key": "x", "arms": [
                {"variant": "a", "weight": 0, "render": {}}
            ]}}},
            {"name": "e3", "then": {"experiment": {"key": "y", "arms": [
                {"variant": "holdout", "weight": 1, "render": {}},
                {"variant": "b", "weight": 1, "render": {}},
                {"variant": "b", "weight": 1, "render": {}}
            ]}}},
            {"name": "s", "schedule": {"timezone": "Mars/Olympus"}, "then": {"variant": "v"}},
            {"name": "both", "then": {"variant": "v", "render": {}, "experiment": {}}},
            {"name": "var", "when": {"in": ["vip", {"var": "segmnts"}]}, "then": creative("z")},
            "not a rule"
        ]
    });
    assert_eq!(
        problems(document),
        [
            "unknown field \"ttl\"",
            "cache.scope: must be \"segment\"",
            "default.variant: must be a non-empty string",
            "default.render.headline: must be a string",
            "rules[0]: unknown field \"whenn\"",
            "rules[1].when.and[1]: unknown operator \"~=\"",
            "rules[2].then.experiment.holdout: holdout must be in [0, 1)",
            "rules[2].then.experiment.arms[1].weight: weight must be a non-negative integer",
            "rules[3].then.experiment.arms: arm weights are all 0",
            "rules[4].then.experiment.arms[0].variant: variant \"holdout\" is reserved for the holdout",
            "rules[4].then.experiment.arms[2].variant: duplicate arm variant \"b\"",
            "rules[5].schedule.timezone: unknown timezone \"Mars/Olympus\"",
            "rules[5].then.render: is required",
            "rules[6].then: unknown field \"variant\"",
            "rules[6].then: unknown field \"render\"",
            "rules[6].then.experiment.key: is required",
            "rules[6].then.experiment.arms: is required",
            "rules[7].when.in[1].var: unknown variable \"segmnts\"",
            "rules[8]: must be an object",
            "rules[1].name: duplicate rule name \"a\"",
            "rules[3].then.experiment.key: duplicate experiment key \"x\"",
        ]
    );
}

#[test]
fn required_parts_are_named() {
    assert_eq!(
        problems(json!({})),
        ["default: is required", "rules: is required"]
    );
    assert_eq!(problems(json!([])), ["must be an object"]);
    assert_eq!(
        problems(json!({"default": creative("d"), "rules": {}, "ttl_seconds": -1})),
        [
            "ttl_seconds: must be a non-negative integer of seconds",
            "rules: must be a list of rules"
        ]
    );
    assert_eq!(
        problems(json!({"default": creative("d"), "rules": [{"when": true}]})),
        ["rules[0].name: is required", "rules[0].then: is required"]
    );
}

#[test]
fn the_schema_knows_the_fields_the_checks_know() {
    use crate::tests::schema_properties;
    assert_eq!(schema_properties(""), super::FIELDS);
    assert_eq!(schema_properties("rule"), super::rule::FIELDS);
    assert_eq!(schema_properties("creative"), ["variant", "render"]);
    assert_eq!(schema_properties("experiment"), ["key", "arms", "holdout"]);
    assert_eq!(schema_properties("arm"), ["variant", "weight", "render"]);
}
