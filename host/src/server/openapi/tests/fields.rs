//! Each schema of the document names exactly the fields the Rust type has: request types as
//! serde's derived `Deserialize` lists them (they all refuse unknown fields, so the schema must
//! too), response types as a fully populated value serializes.

use super::document;
use crate::engine::ConfigProblem;
use crate::fleet::FleetStatus;
use crate::lifecycle::rollback::ChangeOutcome;
use crate::lifecycle::{HistoryEntry, PublishOutcome};
use crate::outcomes::record::{Exposure, Record};
use crate::outcomes::stats::{Analysis, ArmResult, Comparison, Srm};
use crate::profiles::ProfileSource;
use crate::profiles::events::CustomerEvent;
use crate::server::admin::ReloadRequest;
use crate::server::auth::{Caller, Role};
use crate::server::console::SignIn;
use crate::server::decide::{
    DecideRequest, DecideResponse, ProfileInfo, RequestContext, SlotError, SlotRequest, SlotResult,
    Unit,
};
use crate::server::events::EventBatch;
use crate::server::experiments::{ExperimentQuery, ExposureQuery};
use crate::server::policies::{ChangeNote, Draft, PublishBody};
use crate::server::preview::{PreviewCustomer, PreviewRequest, Sides, Summary};
use crate::server::segment::{SegmentDecision, SegmentQuery};
use crate::server::session::Session;
use crate::server::{AppState, preview};
use serde::de::{Deserialize, Visitor};
use serde_json::Value;
use std::collections::BTreeSet;
use tailor_types::fixture::FixtureCase;
use tailor_types::{
    Candidate, Consent, Context, Decision, Event, Experiment, Loyalty, Page, Profile, RankedItem,
    Reason,
};

/// What probing a type's `Deserialize` found: the field names of a struct, or something else.
#[derive(Debug)]
enum Probe {
    Fields(&'static [&'static str]),
    NotAStruct(String),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Fields(fields) => write!(f, "a struct with fields {fields:?}"),
            Probe::NotAStruct(what) => write!(f, "not a struct: {what}"),
        }
    }
}

impl std::error::Error for Probe {}

impl serde::de::Error for Probe {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Probe::NotAStruct(message.to_string())
    }
}

/// A deserializer that answers every request with an error, except that a struct's request
/// carries its field names out.
struct FieldNames;

impl<'de> serde::Deserializer<'de> for FieldNames {
    type Error = Probe;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
        Err(Probe::NotAStruct("deserialize_any".into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probe> {
        Err(Probe::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

fn fields_of<'de, T: Deserialize<'de>>() -> BTreeSet<&'static str> {
    match T::deserialize(FieldNames) {
        Err(Probe::Fields(fields)) => fields.iter().copied().collect(),
        Err(other) => panic!("{}: {other}", std::any::type_name::<T>()),
        Ok(_) => unreachable!("FieldNames never yields a value"),
    }
}

fn schema(doc: &Value, name: &str) -> Value {
    let schema = doc["components"]["schemas"][name].clone();
    assert!(schema.is_object(), "no schema {name}");
    schema
}

fn properties(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties: {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_request<'de, T: Deserialize<'de>>(doc: &Value, name: &str) {
    let schema = schema(doc, name);
    let read: BTreeSet<String> = fields_of::<T>().into_iter().map(str::to_owned).collect();
    assert_eq!(properties(&schema), read, "schema {name}");
    assert_eq!(
        schema["additionalProperties"],
        Value::Bool(false),
        "schema {name}: the server refuses unknown fields"
    );
}

#[test]
fn request_schemas_name_the_fields_serde_reads() {
    let doc = document();
    assert_request::<DecideRequest>(&doc, "DecideRequest");
    assert_request::<Unit>(&doc, "Unit");
    assert_request::<RequestContext>(&doc, "RequestContext");
    assert_request::<SlotRequest>(&doc, "SlotRequest");
    assert_request::<Page>(&doc, "Page");
    assert_request::<Candidate>(&doc, "Candidate");
    assert_request::<Decision>(&doc, "Decision");
    assert_request::<Experiment>(&doc, "Experiment");
    assert_request::<RankedItem>(&doc, "RankedItem");
    assert_request::<Consent>(&doc, "Consent");
    assert_request::<Loyalty>(&doc, "Loyalty");
    assert_request::<EventBatch>(&doc, "EventBatch");
    assert_request::<CustomerEvent>(&doc, "CustomerEvent");
    assert_request::<PublishBody>(&doc, "PublishRequest");
    assert_request::<FixtureCase>(&doc, "FixtureCase");
    assert_request::<Context>(&doc, "Context");
    assert_request::<Profile>(&doc, "Profile");
    assert_request::<Event>(&doc, "Event");
    assert_request::<ReloadRequest>(&doc, "ReloadRequest");
    // A response type, but one the store reads back: its `Deserialize` lists what it writes.
    assert_request::<HistoryEntry>(&doc, "HistoryEntry");
    assert_request::<ChangeNote>(&doc, "ChangeNote");
    assert_request::<Draft>(&doc, "ConfigDraft");
    assert_request::<PreviewRequest>(&doc, "PreviewRequest");
    assert_request::<PreviewCustomer>(&doc, "PreviewCustomer");
    assert_request::<SignIn>(&doc, "SignIn");
}

/// The query parameters an operation documents (its path parameters left out).
fn query_parameters(doc: &Value, path: &str) -> BTreeSet<String> {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|p| p["in"] != "path")
                .map(|p| {
                    assert_eq!(p["in"], "query", "{path}: {p}");
                    p["name"].as_str().unwrap().to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn query_fields<'de, T: Deserialize<'de>>() -> BTreeSet<String> {
    fields_of::<T>().into_iter().map(str::to_owned).collect()
}

#[test]
fn query_parameters_are_the_query_fields_serde_reads() {
    let doc = document();
    assert_eq!(
        query_parameters(&doc, "/v1/segment-decide"),
        query_fields::<SegmentQuery>()
    );
    assert_eq!(
        query_parameters(&doc, "/admin/v1/experiments/{key}"),
        query_fields::<ExperimentQuery>()
    );
    assert_eq!(
        query_parameters(&doc, "/admin/v1/exposures"),
        query_fields::<ExposureQuery>()
    );
}

/// A decision with every optional field present.
fn full_decision() -> Decision {
    Decision::new(Reason::Split)
        .variant("a")
        .items(vec![RankedItem {
            id: "i".into(),
            score: 1.0,
        }])
        .experiment(Experiment {
            key: "k".into(),
            variant: "a".into(),
            bucket: 7,
        })
        .ttl(60)
        .render("headline", "Hi")
}

fn assert_response(doc: &Value, name: &str, value: impl serde::Serialize) {
    let value = serde_json::to_value(value).unwrap();
    let written: BTreeSet<String> = value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(properties(&schema(doc, name)), written, "schema {name}");
}

#[test]
fn response_schemas_name_the_fields_the_server_writes() {
    let doc = document();
    let slot = SlotResult {
        id: "hero".into(),
        policy: "p".into(),
        version: "sha256:0".into(),
        decision: full_decision(),
        error: Some(SlotError {
            code: "trap",
            message: "m".into(),
        }),
    };
    assert_response(&doc, "SlotResult", &slot);
    let profile = ProfileInfo {
        id: Some("c".into()),
        snapshot_version: "v".into(),
        age_seconds: 1,
        source: ProfileSource::Cache,
    };
    assert_response(&doc, "ProfileInfo", &profile);
    assert_response(&doc, "SlotError", &slot.error);
    assert_response(
        &doc,
        "DecideResponse",
        DecideResponse {
            decision_id: "d".into(),
            request_id: Some("r".into()),
            profile,
            slots: vec![],
        },
    );
    assert_response(
        &doc,
        "SegmentDecision",
        SegmentDecision {
            policy: "p".into(),
            version: "v".into(),
            segment: Some("s".into()),
            tier: None,
            decision: full_decision(),
            error: Some("trap"),
        },
    );
    assert_response(
        &doc,
        "PublishOutcome",
        PublishOutcome {
            name: "p".into(),
            digest: "d".into(),
            status: "canary",
            canary_percent: Some(5.0),
            previous: None,
            unchanged: false,
            precompiled: false,
            fixtures_passed: 0,
            signed_by: None,
            elapsed_ms: 1.0,
        },
    );
    assert_response(
        &doc,
        "ChangeOutcome",
        ChangeOutcome {
            name: "p".into(),
            active: "a".into(),
            canary: None,
            removed: "r".into(),
        },
    );
    assert_response(
        &doc,
        "FleetStatus",
        FleetStatus {
            node_id: "n".into(),
            servers: vec![],
            broker: "pending",
            outbox_depth: 0,
            consumer_lag: 0,
            events_forwarded: 0,
            remote_events_applied: 0,
            duplicates_dropped: 0,
        },
    );
}

/// A comparison, an arm against control with it, and a sample-ratio check: every field present.
fn full_analysis() -> Analysis {
    let comparison = Comparison {
        lift: 0.1,
        lift_interval_95: [-0.2, 0.4],
        probability_to_beat_control: 0.7,
    };
    let arm = |variant: &str, versus_control: Option<Comparison>| ArmResult {
        variant: variant.into(),
        weight: 50.0,
        exposures: 10,
        conversions: 2,
        conversion_rate: 0.2,
        value: 30.0,
        value_per_unit: 3.0,
        versus_control,
    };
    Analysis {
        control: "a".into(),
        arms: vec![arm("a", None), arm("b", Some(comparison))],
        srm: Some(Srm {
            expected_shares: vec![0.5, 0.5],
            observed: vec![10, 10],
            chi_square: 0.0,
            degrees_of_freedom: 1,
            p_value: 1.0,
            mismatch: false,
        }),
    }
}

#[test]
fn experiment_schemas_name_the_fields_the_server_writes() {
    let doc = document();
    let analysis = full_analysis();
    let srm = analysis.srm.clone().unwrap();
    let versus = analysis.arms[1].versus_control.clone().unwrap();
    assert_response(&doc, "ArmResult", &analysis.arms[1]);
    assert_response(&doc, "Comparison", &versus);
    assert_response(&doc, "Srm", &srm);
    // The control arm has no comparison, so the schema must not require one.
    let control = serde_json::to_value(&analysis.arms[0]).unwrap();
    assert!(control.get("versus_control").is_none(), "{control}");
    let arm = schema(&doc, "ArmResult");
    assert!(
        !arm["required"]
            .as_array()
            .unwrap()
            .contains(&"versus_control".into())
    );
    // serde_json writes the infinite statistic (a zero-weight arm with exposures) as null.
    let infinite = serde_json::to_value(Srm {
        chi_square: f64::INFINITY,
        ..srm
    })
    .unwrap();
    assert!(infinite["chi_square"].is_null(), "{infinite}");
    let chi_square = &schema(&doc, "Srm")["properties"]["chi_square"]["type"];
    assert!(
        chi_square.as_array().unwrap().contains(&"null".into()),
        "Srm.chi_square: {chi_square}"
    );
    // `analyse()` puts these fields before the analysis's own (a JSON object, not a type);
    // `nodes` only with a fleet broker.
    let mut written: BTreeSet<String> = ["key", "policy", "defined", "outcomes", "method", "nodes"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let value = serde_json::to_value(&analysis).unwrap();
    written.extend(value.as_object().unwrap().keys().cloned());
    let results = schema(&doc, "ExperimentResults");
    assert_eq!(properties(&results), written, "schema ExperimentResults");
    assert!(
        !results["required"]
            .as_array()
            .unwrap()
            .contains(&"nodes".into())
    );
    assert_eq!(
        properties(&results["properties"]["outcomes"]),
        BTreeSet::from(["kinds".to_owned(), "window_hours".to_owned()])
    );
    assert_eq!(
        results["properties"]["method"]["enum"],
        serde_json::json!(["bayesian-beta-binomial"])
    );
    assert_eq!(
        properties(&schema(&doc, "ExperimentList")),
        BTreeSet::from(["experiments".to_owned()])
    );
}

#[test]
fn the_exposure_schema_names_the_fields_of_a_log_line() {
    let doc = document();
    let exposure = Exposure {
        decision_id: "d".into(),
        slot: "hero".into(),
        policy: "p".into(),
        version: "sha256:0".into(),
        experiment: Some("k".into()),
        arm: Some("a".into()),
        items: vec!["i".into()],
        unit: "c".into(),
        channel: "web".into(),
        at_ms: 1,
        node: Some("n2".into()),
    };
    // The stream's lines are the log's own: records, tagged with their type.
    let line = Record::Exposure(exposure);
    assert_response(&doc, "ExposureRecord", &line);
    let value = serde_json::to_value(&line).unwrap();
    assert_eq!(
        schema(&doc, "ExposureRecord")["properties"]["type"]["enum"],
        serde_json::json!([value["type"]])
    );
}

#[test]
fn console_schemas_name_the_fields_the_server_writes() {
    let doc = document();
    let session = Session {
        role: Role::Editor,
        csrf: "c".into(),
        expires_at_ms: 1,
    };
    assert_response(&doc, "Session", &session);
    // With a bearer token there is no session: the same fields, written by hand.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bearer = crate::server::console::current(&Caller {
        role: Role::Admin,
        session: None,
    });
    let body = runtime.block_on(http_body_util::BodyExt::collect(bearer.into_body()));
    let body: Value = serde_json::from_slice(&body.unwrap().to_bytes()).unwrap();
    assert_response(&doc, "Session", &body);
    assert_eq!(
        schema(&doc, "Session")["properties"]["role"]["enum"],
        serde_json::json!([Role::Editor, Role::Admin])
    );
    assert_response(
        &doc,
        "ConfigProblem",
        ConfigProblem {
            path: "rules[3].when".into(),
            message: "m".into(),
        },
    );
    let summary = Summary::default();
    assert_response(&doc, "PreviewSummary", &summary);
    assert_response(&doc, "PreviewErrors", Sides::<usize>::default());
    assert_response(
        &doc,
        "PreviewVariants",
        Sides::<std::collections::BTreeMap<String, usize>>::default(),
    );
}

/// A node of its own (the bundled policies, a small sample snapshot), removed on drop.
struct Node {
    state: std::sync::Arc<AppState>,
    dir: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl Node {
    fn start() -> Node {
        let dir =
            std::env::temp_dir().join(format!("tailor-openapi-fields-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = crate::config::ServeConfig {
            data_dir: dir.clone(),
            sample_profiles: 20,
            snapshot_poll_seconds: 0,
            decision_log_rate: 0.0,
            ..crate::config::ServeConfig::default()
        };
        let state = std::sync::Arc::new(AppState::start(config).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Node {
            state,
            dir,
            runtime,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// The preview's types have no constructor outside their module, so a live node writes them:
/// a draft config the policy cannot decide with (`{}`), so the draft side fails for every
/// customer and each of them moves.
#[test]
fn preview_validation_and_version_schemas_name_the_fields_a_node_writes() {
    let doc = document();
    let node = Node::start();
    let state = &node.state;
    let body = br#"{"config": "{}", "sample": 5}"#;
    let answer = node
        .runtime
        .block_on(preview::run(state, "hero-banner", body, Role::Admin))
        .unwrap();
    assert_eq!(
        keys(&answer),
        properties(&schema(&doc, "Preview")),
        "Preview"
    );
    assert_eq!(
        keys(&answer["live"]),
        properties(&schema(&doc, "PreviewVersion"))
    );
    assert_eq!(
        keys(&answer["draft"]),
        properties(&schema(&doc, "PreviewDraft"))
    );
    let summary = &answer["summary"];
    assert_eq!(keys(summary), properties(&schema(&doc, "PreviewSummary")));
    assert_eq!(
        keys(&summary["errors"]),
        properties(&schema(&doc, "PreviewErrors"))
    );
    assert_eq!(
        keys(&summary["variants"]),
        properties(&schema(&doc, "PreviewVariants"))
    );
    let transition = &summary["transitions"][0];
    assert_eq!(
        keys(transition),
        properties(&schema(&doc, "PreviewTransition")),
        "{answer}"
    );
    let customer = &answer["decisions"][0];
    assert_eq!(keys(customer), properties(&schema(&doc, "CustomerPreview")));
    // A side is a decision flattened, plus its error (always written, null when none).
    let served = properties(&schema(&doc, "PreviewServed"));
    let mut decision = properties(&schema(&doc, "Decision"));
    decision.insert("error".into());
    assert_eq!(
        served, decision,
        "PreviewServed: Decision's fields and `error`"
    );
    for side in ["live", "draft"] {
        let written = keys(&customer[side]);
        assert!(written.is_subset(&served), "{side}: {written:?}");
        assert!(
            written.contains("reason") && written.contains("error"),
            "{side}: {written:?}"
        );
    }
    assert!(customer["live"]["error"].is_null(), "{customer}");
    assert_eq!(
        keys(&customer["draft"]["error"]),
        properties(&schema(&doc, "PreviewError"))
    );

    let checked = node
        .runtime
        .block_on(crate::server::policies::validate(
            state,
            "hero-banner",
            br#"{"config": "not json"}"#,
        ))
        .unwrap();
    assert_eq!(
        keys(&checked),
        properties(&schema(&doc, "ConfigValidation"))
    );
    assert_eq!(checked["valid"], false);
    assert_eq!(
        keys(&checked["problems"][0]),
        properties(&schema(&doc, "ConfigProblem"))
    );

    let policy = crate::server::policies::describe(state, "hero-banner").unwrap();
    assert_eq!(keys(&policy), properties(&schema(&doc, "PolicyDetail")));
    assert_eq!(
        keys(&policy["active"]),
        properties(&schema(&doc, "ActiveVersion"))
    );
    assert!(
        policy["active"]["config"].is_string(),
        "{}",
        policy["active"]
    );
}
