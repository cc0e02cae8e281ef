//! The policy end to end, natively: decisions, `check_config`, and the bundled documents.

use super::*;
use serde_json::{Value, json};
use std::path::Path;
use tailor_guest::{Channel, Consent, Context, ProfileData, Reason, testing};

/// The property names of the schema's definition `def` (`""`: the document itself).
pub(crate) fn schema_properties(def: &str) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let object = if def.is_empty() {
        &schema
    } else {
        &schema["$defs"][def]
    };
    object["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn crate_dir() -> &'static Path {
    env!("CARGO_MANIFEST_DIR").as_ref()
}

fn customer(id: &str) -> ProfileData {
    ProfileData {
        customer_id: Some(id.into()),
        consent: Consent {
            personalization: true,
            ..Consent::default()
        },
        ..ProfileData::default()
    }
}

fn decide(config: Value, profile: ProfileData) -> Result<Decision, PolicyError> {
    testing::decide::<Rules>(
        Context::new(Channel::Web, "home-hero", 0),
        profile,
        vec![],
        config,
    )
}

#[test]
fn the_bundled_config_and_every_fixture_config_are_valid() {
    let bundled = testing::load_config(crate_dir());
    assert_eq!(check(&bundled), Vec::<Problem>::new());
    let mut checked = 0;
    for case in std::fs::read_dir(crate_dir().join("fixtures")).unwrap() {
        let path = case.unwrap().path().join("config.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let document: Value = serde_json::from_str(&text).unwrap();
        let problems = check(&document);
        // A case that expects `invalid_config` carries its problem on purpose.
        let expected = std::fs::read_to_string(path.with_file_name("expected.json")).unwrap();
        assert_eq!(
            problems.is_empty(),
            !expected.contains("invalid_config"),
            "{}: {problems:?}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} fixture configs");
}

#[test]
fn the_schema_is_draft_2020_12_and_lists_every_operator() {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(Rules::config_schema(), Some(SCHEMA));
    let condition = &schema["$defs"]["condition"];
    let operators = &condition["anyOf"][2]["propertyNames"]["enum"];
    let names: Vec<&str> = logic::operator_names().collect();
    assert_eq!(operators, &json!(names));
    let description = condition["description"].as_str().unwrap();
    for root in logic::ROOTS {
        assert!(
            description.contains(root),
            "{root} is not in the condition's description"
        );
    }
}

#[test]
fn check_config_reports_what_check_does() {
    let problems =
        testing::check_config::<Rules>(json!({"default": {"variant": "d"}, "rules": []}));
    assert_eq!(
        problems,
        [ConfigProblem::new("default.render", "is required")]
    );
    assert!(testing::check_config::<Rules>(testing::load_config(crate_dir())).is_empty());
}

#[test]
fn an_invalid_document_refuses_with_its_first_problem() {
    let err = decide(
        json!({"default": {"variant": "d", "render": {}}, "rules": [{"name": "x"}], "ttl": 1}),
        customer("c"),
    )
    .unwrap_err();
    assert_eq!(err.code, "invalid_config");
    assert_eq!(err.message, "unknown field \"ttl\"");
}

fn experiment_config(holdout: f64) -> Value {
    json!({
        "default": {"variant": "evergreen", "render": {"headline": "Evergreen"}},
        "rules": [{"name": "test", "then": {"experiment": {"key": "spring-hero", "holdout": holdout, "arms": [
            {"variant": "a", "weight": 50, "render": {"headline": "A"}},
            {"variant": "b", "weight": 50, "render": {"headline": "B"}}
        ]}}}]
    })
}

#[test]
fn the_holdout_gets_the_default_creative_and_reports_the_experiment() {
    let config = experiment_config(0.1);
    let mut held = 0;
    for i in 0..10_000 {
        let d = decide(config.clone(), customer(&format!("cust-{i}"))).unwrap();
        assert_eq!(d.reason, Reason::Split);
        let experiment = d.experiment.unwrap();
        assert_eq!(experiment.key, "spring-hero");
        if experiment.variant == "holdout" {
            held += 1;
            assert_eq!(d.variant.as_deref(), Some("evergreen"));
            assert_eq!(d.render, [("headline".to_owned(), "Evergreen".to_owned())]);
        } else {
            assert_eq!(d.variant, Some(experiment.variant));
        }
    }
    assert!((900..1_100).contains(&held), "{held} of 10000 held out");
}

#[test]
fn an_experiment_needs_a_unit_and_consent() {
    let mut anonymous = customer("x");
    anonymous.customer_id = None;
    let d = decide(experiment_config(0.0), anonymous).unwrap();
    assert_eq!(
        (d.variant.as_deref(), d.reason, d.experiment),
        (Some("evergreen"), Reason::Default, None)
    );
    let mut refused = customer("x");
    refused.consent.personalization = false;
    let d = decide(experiment_config(0.0), refused).unwrap();
    assert_eq!(
        (d.variant.as_deref(), d.reason),
        (Some("evergreen"), Reason::Default)
    );
}
