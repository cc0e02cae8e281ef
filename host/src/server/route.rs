//! The routes the service answers, parsed once from method and path. The variant is both what
//! `server.rs` dispatches on (one `match`) and the request's metric label (the route template,
//! never the raw path), and it says which token the route requires.

use hyper::Method;

/// A request's route, carrying the parameters its path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// `POST /v1/decide`
    Decide,
    /// `GET /v1/segment-decide`
    SegmentDecide,
    /// `POST /v1/events`
    Events,
    /// `GET /healthz`
    Health,
    /// `GET /readyz`
    Ready,
    /// `GET /metrics`
    Metrics,
    /// `GET /admin/v1/policies`
    ListPolicies,
    /// `GET /admin/v1/policies/{name}`
    DescribePolicy(&'a str),
    /// `PUT /admin/v1/policies/{name}`
    PublishPolicy(&'a str),
    /// `POST /admin/v1/policies/{name}/rollback`
    RollBack(&'a str),
    /// `POST /admin/v1/policies/{name}/promote`
    Promote(&'a str),
    /// `POST /admin/v1/policies/{name}/abort`
    AbortCanary(&'a str),
    /// `GET /admin/v1/snapshot`
    SnapshotStatus,
    /// `POST /admin/v1/snapshot`
    ReloadSnapshot,
    /// `GET /admin/v1/status`
    Status,
    /// A known path with a method it does not take; `allow` lists those it does.
    MethodNotAllowed { allow: &'static str },
    /// No such path.
    NotFound,
}

/// The token a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// None: probes, metrics, and answers that no route matched.
    Open,
    /// The API token, when one is configured.
    Api,
    /// The admin token, always (an unconfigured admin API is closed).
    Admin,
}

/// A path the service knows, whatever the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource<'a> {
    Decide,
    SegmentDecide,
    Events,
    Health,
    Ready,
    Metrics,
    Policies,
    Policy(&'a str),
    Rollback(&'a str),
    Promote(&'a str),
    Abort(&'a str),
    Snapshot,
    Status,
}

impl<'a> Resource<'a> {
    fn parse(path: &'a str) -> Option<Resource<'a>> {
        Some(match path {
            "/v1/decide" => Resource::Decide,
            "/v1/segment-decide" => Resource::SegmentDecide,
            "/v1/events" => Resource::Events,
            "/healthz" => Resource::Health,
            "/readyz" => Resource::Ready,
            "/metrics" => Resource::Metrics,
            "/admin/v1/policies" => Resource::Policies,
            "/admin/v1/snapshot" => Resource::Snapshot,
            "/admin/v1/status" => Resource::Status,
            _ => {
                let rest = path.strip_prefix("/admin/v1/policies/")?;
                let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
                if name.is_empty() {
                    return None;
                }
                match action {
                    "" => Resource::Policy(name),
                    "rollback" => Resource::Rollback(name),
                    "promote" => Resource::Promote(name),
                    "abort" => Resource::Abort(name),
                    _ => return None,
                }
            }
        })
    }

    /// The methods the path takes, as the `Allow` header lists them.
    fn allow(self) -> &'static str {
        match self {
            Resource::Decide
            | Resource::Events
            | Resource::Rollback(_)
            | Resource::Promote(_)
            | Resource::Abort(_) => "POST",
            Resource::SegmentDecide
            | Resource::Health
            | Resource::Ready
            | Resource::Metrics
            | Resource::Policies
            | Resource::Status => "GET",
            Resource::Policy(_) => "GET, PUT",
            Resource::Snapshot => "GET, POST",
        }
    }
}

impl<'a> Route<'a> {
    pub(super) fn parse(method: &Method, path: &'a str) -> Route<'a> {
        let Some(resource) = Resource::parse(path) else {
            return Route::NotFound;
        };
        match (method, resource) {
            (&Method::POST, Resource::Decide) => Route::Decide,
            (&Method::GET, Resource::SegmentDecide) => Route::SegmentDecide,
            (&Method::POST, Resource::Events) => Route::Events,
            (&Method::GET, Resource::Health) => Route::Health,
            (&Method::GET, Resource::Ready) => Route::Ready,
            (&Method::GET, Resource::Metrics) => Route::Metrics,
            (&Method::GET, Resource::Policies) => Route::ListPolicies,
            (&Method::GET, Resource::Policy(name)) => Route::DescribePolicy(name),
            (&Method::PUT, Resource::Policy(name)) => Route::PublishPolicy(name),
            (&Method::POST, Resource::Rollback(name)) => Route::RollBack(name),
            (&Method::POST, Resource::Promote(name)) => Route::Promote(name),
            (&Method::POST, Resource::Abort(name)) => Route::AbortCanary(name),
            (&Method::GET, Resource::Snapshot) => Route::SnapshotStatus,
            (&Method::POST, Resource::Snapshot) => Route::ReloadSnapshot,
            (&Method::GET, Resource::Status) => Route::Status,
            (_, resource) => Route::MethodNotAllowed {
                allow: resource.allow(),
            },
        }
    }

    /// The metric label: the route template (with `:verb` where one template takes two
    /// methods), one label for every wrong method and one for every unknown path.
    pub(super) fn label(self) -> &'static str {
        match self {
            Route::Decide => "/v1/decide",
            Route::SegmentDecide => "/v1/segment-decide",
            Route::Events => "/v1/events",
            Route::Health => "/healthz",
            Route::Ready => "/readyz",
            Route::Metrics => "/metrics",
            Route::ListPolicies => "/admin/v1/policies",
            Route::DescribePolicy(_) => "/admin/v1/policies/{name}",
            Route::PublishPolicy(_) => "/admin/v1/policies/{name}:publish",
            Route::RollBack(_) => "/admin/v1/policies/{name}/rollback",
            Route::Promote(_) => "/admin/v1/policies/{name}/promote",
            Route::AbortCanary(_) => "/admin/v1/policies/{name}/abort",
            Route::SnapshotStatus => "/admin/v1/snapshot",
            Route::ReloadSnapshot => "/admin/v1/snapshot:reload",
            Route::Status => "/admin/v1/status",
            Route::MethodNotAllowed { .. } => "method_not_allowed",
            Route::NotFound => "not_found",
        }
    }

    pub(super) fn access(self) -> Access {
        match self {
            Route::Decide | Route::SegmentDecide | Route::Events => Access::Api,
            Route::ListPolicies
            | Route::DescribePolicy(_)
            | Route::PublishPolicy(_)
            | Route::RollBack(_)
            | Route::Promote(_)
            | Route::AbortCanary(_)
            | Route::SnapshotStatus
            | Route::ReloadSnapshot
            | Route::Status => Access::Admin,
            Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::MethodNotAllowed { .. }
            | Route::NotFound => Access::Open,
        }
    }
}

#[cfg(test)]
mod tests;
