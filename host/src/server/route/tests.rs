use super::*;
use std::collections::BTreeSet;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

#[test]
fn each_method_and_path_parses_to_its_route_with_its_parameters() {
    let cases = [
        (Method::POST, "/v1/decide", Route::Decide),
        (Method::GET, "/v1/segment-decide", Route::SegmentDecide),
        (Method::POST, "/v1/events", Route::Events),
        (
            Method::POST,
            "/ofrep/v1/evaluate/flags/hero-banner",
            Route::OfrepFlag("hero-banner"),
        ),
        (Method::POST, "/ofrep/v1/evaluate/flags", Route::OfrepFlags),
        (Method::GET, "/healthz", Route::Health),
        (Method::GET, "/readyz", Route::Ready),
        (Method::GET, "/metrics", Route::Metrics),
        (Method::GET, "/admin/v1/policies", Route::ListPolicies),
        (
            Method::GET,
            "/admin/v1/policies/hero-banner",
            Route::DescribePolicy("hero-banner"),
        ),
        (
            Method::PUT,
            "/admin/v1/policies/hero-banner",
            Route::PublishPolicy("hero-banner"),
        ),
        (
            Method::POST,
            "/admin/v1/policies/hero-banner/rollback",
            Route::RollBack("hero-banner"),
        ),
        (
            Method::POST,
            "/admin/v1/policies/hero-banner/promote",
            Route::Promote("hero-banner"),
        ),
        (
            Method::POST,
            "/admin/v1/policies/hero-banner/abort",
            Route::AbortCanary("hero-banner"),
        ),
        (Method::GET, "/admin/v1/snapshot", Route::SnapshotStatus),
        (Method::POST, "/admin/v1/snapshot", Route::ReloadSnapshot),
        (Method::GET, "/admin/v1/status", Route::Status),
        (Method::GET, "/openapi.json", Route::OpenApi),
        (
            Method::GET,
            "/admin/v1/policies/rules/schema",
            Route::PolicySchema("rules"),
        ),
        (
            Method::POST,
            "/admin/v1/policies/rules/validate",
            Route::ValidateConfig("rules"),
        ),
        (
            Method::POST,
            "/admin/v1/policies/rules/preview",
            Route::Preview("rules"),
        ),
        (Method::GET, "/console", Route::Console),
        (
            Method::GET,
            "/console/assets/app.js",
            Route::ConsoleAsset("app.js"),
        ),
        (Method::GET, "/console/session", Route::Session),
        (Method::POST, "/console/session", Route::SignIn),
        (Method::DELETE, "/console/session", Route::SignOut),
    ];
    for (method, path, route) in cases {
        assert_eq!(Route::parse(&method, path), route, "{method} {path}");
    }
}

#[test]
fn unknown_paths_are_not_found() {
    for path in [
        "/",
        "/v2/decide",
        "/v1/decide/",
        "/healthz/x",
        "/admin/v1/policies/",
        "/admin/v1/policies//rollback",
        "/admin/v1/policies/p/delete",
        "/admin/v1/policies/p/rollback/again",
        "/admin/v1/snapshots",
        "/console/",
        "/console/assets/",
        "/console/assets/a/b.js",
        "/console/sessions",
        "/ofrep/v1/evaluate/flags/",
        "/ofrep/v1/evaluate/flags/a/b",
        "/ofrep/v1/evaluate",
    ] {
        for method in &METHODS {
            assert_eq!(
                Route::parse(method, path),
                Route::NotFound,
                "{method} {path}"
            );
        }
    }
}

#[test]
fn a_known_path_refuses_other_methods_listing_those_it_takes() {
    let paths = [
        "/v1/decide",
        "/v1/segment-decide",
        "/v1/events",
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/v1/policies",
        "/admin/v1/policies/p",
        "/admin/v1/policies/p/rollback",
        "/admin/v1/policies/p/promote",
        "/admin/v1/policies/p/abort",
        "/admin/v1/snapshot",
        "/admin/v1/status",
        "/openapi.json",
        "/ofrep/v1/evaluate/flags",
        "/ofrep/v1/evaluate/flags/p",
    ];
    for path in paths {
        let refuses = |m: &Method| matches!(Route::parse(m, path), Route::MethodNotAllowed { .. });
        let taken: BTreeSet<&str> = METHODS
            .iter()
            .filter(|m| !refuses(m))
            .map(Method::as_str)
            .collect();
        assert!(!taken.is_empty(), "{path} takes no method");
        for method in METHODS.iter().filter(|m| refuses(m)) {
            let Route::MethodNotAllowed { allow } = Route::parse(method, path) else {
                unreachable!()
            };
            let listed: BTreeSet<&str> = allow.split(", ").collect();
            assert_eq!(listed, taken, "{method} {path}");
        }
    }
}

#[test]
fn labels_are_templates_never_the_raw_path() {
    let a = Route::parse(&Method::GET, "/admin/v1/policies/customer-123456");
    let b = Route::parse(&Method::GET, "/admin/v1/policies/other");
    assert_eq!(a.label(), "/admin/v1/policies/{name}");
    assert_eq!(a.label(), b.label());
    assert_eq!(
        Route::parse(&Method::PUT, "/admin/v1/policies/p").label(),
        "/admin/v1/policies/{name}:publish"
    );
    assert_eq!(
        Route::parse(&Method::POST, "/admin/v1/policies/p/rollback").label(),
        "/admin/v1/policies/{name}/rollback"
    );
    assert_eq!(
        Route::parse(&Method::POST, "/admin/v1/snapshot").label(),
        "/admin/v1/snapshot:reload"
    );
    assert_eq!(
        Route::parse(&Method::GET, "/some/probe/for/secrets").label(),
        "not_found"
    );
    assert_eq!(
        Route::parse(&Method::DELETE, "/admin/v1/policies/p").label(),
        "method_not_allowed"
    );
}

#[test]
fn admin_routes_need_an_editor_or_the_admin_and_probes_nothing() {
    let access = |method: Method, path: &str| Route::parse(&method, path).access();
    // What an editor may do: read, change configs, preview, canaries, rollbacks.
    for (method, path) in [
        (Method::GET, "/admin/v1/policies"),
        (Method::PUT, "/admin/v1/policies/p"),
        (Method::POST, "/admin/v1/policies/p/abort"),
        (Method::POST, "/admin/v1/policies/p/preview"),
        (Method::POST, "/admin/v1/policies/p/validate"),
        (Method::GET, "/admin/v1/policies/p/schema"),
        (Method::GET, "/admin/v1/snapshot"),
        (Method::GET, "/console/session"),
        (Method::DELETE, "/console/session"),
    ] {
        assert_eq!(
            access(method.clone(), path),
            Access::Editor,
            "{method} {path}"
        );
    }
    // What only the admin may do.
    assert_eq!(access(Method::POST, "/admin/v1/snapshot"), Access::Admin);
    assert_eq!(access(Method::GET, "/admin/v1/exposures"), Access::Admin);
    assert_eq!(access(Method::POST, "/v1/decide"), Access::Api);
    assert_eq!(access(Method::GET, "/v1/segment-decide"), Access::Api);
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/nowhere",
        "/console",
        "/console/assets/app.js",
    ] {
        assert_eq!(access(Method::GET, path), Access::Open, "{path}");
    }
    // Signing in is how a token becomes a session.
    assert_eq!(access(Method::POST, "/console/session"), Access::Open);
    assert_eq!(access(Method::DELETE, "/admin/v1/policies"), Access::Open);
}
