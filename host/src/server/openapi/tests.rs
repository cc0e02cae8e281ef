//! The document against the code: every route the parser takes is an operation and back, the
//! `Allow` lists and tokens agree, and each schema names exactly the fields serde reads and
//! writes.

use super::DOCUMENT;
use crate::server::route::{Access, Route, known_paths};
use hyper::Method;
use serde_json::Value;
use std::collections::BTreeSet;

mod fields;

const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

fn document() -> Value {
    serde_json::from_str(DOCUMENT).unwrap()
}

/// `(METHOD, path template)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().unwrap();
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|key| METHODS.iter().any(|m| m.as_str().eq_ignore_ascii_case(key)))
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> &'d Value {
    &doc["paths"][path][method.to_lowercase()]
}

#[test]
fn the_document_is_openapi_3_1_and_the_node_serves_it_as_committed() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .unwrap();
    assert_eq!(DOCUMENT, committed);
}

#[test]
fn every_method_and_path_the_parser_takes_is_an_operation_and_every_operation_a_route() {
    let doc = document();
    let mut taken = BTreeSet::new();
    // `{name}` is itself a name the parser takes, so each known path is its own template.
    for path in known_paths("{name}") {
        for method in &METHODS {
            match Route::parse(method, &path) {
                Route::NotFound => panic!("{path} is a known path, yet not found"),
                Route::MethodNotAllowed { .. } => {}
                route => {
                    let template = route.label().split(':').next().unwrap();
                    assert_eq!(template, path, "{method} {path}: label {}", route.label());
                    taken.insert((method.to_string(), path.clone()));
                }
            }
        }
    }
    let documented = operations(&doc);
    let undocumented: Vec<_> = taken.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&taken).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without an operation: {undocumented:?}; operations without a route: {unrouted:?}"
    );
}

#[test]
fn a_refused_method_lists_in_allow_exactly_the_documented_methods() {
    let doc = document();
    let documented = operations(&doc);
    for path in known_paths("{name}") {
        let methods: BTreeSet<&str> = documented
            .iter()
            .filter(|(_, p)| *p == path)
            .map(|(m, _)| m.as_str())
            .collect();
        for method in &METHODS {
            if let Route::MethodNotAllowed { allow } = Route::parse(method, &path) {
                let listed: BTreeSet<&str> = allow.split(", ").collect();
                assert_eq!(listed, methods, "{method} {path}");
            }
        }
    }
}

/// The security alternatives of a route open to editors: either token, or a console session.
fn editor_security() -> Value {
    serde_json::json!([{"adminToken": []}, {"editorToken": []}, {"consoleSession": []}])
}

#[test]
fn each_operation_asks_for_the_token_its_route_checks_and_documents_the_refusal() {
    let doc = document();
    for (method, path) in operations(&doc) {
        let op = operation(&doc, &method, &path);
        let route = Route::parse(&method.parse().unwrap(), &path);
        let security = &op["security"];
        let unauthorized = &op["responses"]["401"];
        let forbidden = &op["responses"]["403"];
        // A change made with a console session needs its CSRF token (`auth::caller`): every
        // method but GET and HEAD can be refused 403.
        let change = method != "GET" && method != "HEAD";
        match route.access() {
            Access::Open => {
                assert_eq!(security, &serde_json::json!([]), "{method} {path}");
                // Signing in answers 401 for a wrong token, but never asks for a bearer token.
                assert_ne!(
                    unauthorized["$ref"], "#/components/responses/Unauthorized",
                    "{method} {path} is open"
                );
            }
            Access::Api => {
                assert_eq!(
                    security,
                    &serde_json::json!([{}, {"apiToken": []}]),
                    "{method} {path}"
                );
                assert!(!unauthorized.is_null(), "{method} {path}: no 401");
            }
            Access::Editor => {
                assert_eq!(security, &editor_security(), "{method} {path}");
                assert!(!unauthorized.is_null(), "{method} {path}: no 401");
                assert!(
                    !change || !forbidden.is_null(),
                    "{method} {path}: no 403 for a change without the CSRF token"
                );
            }
            Access::Admin => {
                assert_eq!(
                    security,
                    &serde_json::json!([{"adminToken": []}, {"consoleSession": []}]),
                    "{method} {path}"
                );
                assert!(!unauthorized.is_null(), "{method} {path}: no 401");
                assert!(
                    !forbidden.is_null(),
                    "{method} {path}: no 403 for an editor"
                );
                let said = op["description"].as_str().unwrap_or_default();
                assert!(
                    said.contains("editor") && said.contains("403"),
                    "{method} {path}: the description must say an editor is refused 403"
                );
            }
        }
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn the_limits_the_document_states_are_the_ones_the_server_applies() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let defaults = crate::config::ServeConfig::default();
    assert_eq!(
        schemas["DecideRequest"]["properties"]["slots"]["maxItems"],
        defaults.max_slots
    );
    assert_eq!(
        schemas["EventBatch"]["properties"]["events"]["maxItems"],
        crate::server::events::MAX_EVENTS_PER_BATCH
    );
    let decide = operation(&doc, "POST", "/v1/decide")["description"]
        .as_str()
        .unwrap();
    assert!(
        decide.contains(&format!("(default {})", defaults.max_body_bytes)),
        "{decide}"
    );
    let publish = operation(&doc, "PUT", "/admin/v1/policies/{name}")["description"]
        .as_str()
        .unwrap();
    let mib = crate::server::policies::MAX_PUBLISH_BYTES >> 20;
    assert!(publish.contains(&format!("at most {mib} MiB")), "{publish}");
    let preview = operation(&doc, "POST", "/admin/v1/policies/{name}/preview")["description"]
        .as_str()
        .unwrap();
    assert!(preview.contains(&format!("at most {mib} MiB")), "{preview}");
}
