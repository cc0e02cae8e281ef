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
    /// `GET /admin/v1/policies/{name}/schema`
    PolicySchema(&'a str),
    /// `POST /admin/v1/policies/{name}/validate`
    ValidateConfig(&'a str),
    /// `POST /admin/v1/policies/{name}/preview`
    Preview(&'a str),
    /// `GET /admin/v1/snapshot`
    SnapshotStatus,
    /// `POST /admin/v1/snapshot`
    ReloadSnapshot,
    /// `GET /admin/v1/status`
    Status,
    /// `GET /admin/v1/experiments`
    ListExperiments,
    /// `GET /admin/v1/experiments/{key}`
    DescribeExperiment(&'a str),
    /// `GET /admin/v1/exposures`
    Exposures,
    /// `POST /admin/v1/customers/{id}/erase`: forget a customer (the id as the path has it,
    /// percent-encoded).
    EraseCustomer(&'a str),
    /// `GET /admin/v1/erasures`: the erasure audit log.
    Erasures,
    /// `GET /openapi.json`
    OpenApi,
    /// `POST /ofrep/v1/evaluate/flags/{key}`: one OpenFeature flag (a policy).
    OfrepFlag(&'a str),
    /// `POST /ofrep/v1/evaluate/flags`: every flag the node serves.
    OfrepFlags,
    /// `GET /console`: the console's page.
    Console,
    /// `GET /console/assets/{file}`
    ConsoleAsset(&'a str),
    /// `GET /console/session`: the signed-in session.
    Session,
    /// `POST /console/session`: sign in with a token.
    SignIn,
    /// `DELETE /console/session`: sign out.
    SignOut,
    /// A known path with a method it does not take; `allow` lists those it does.
    MethodNotAllowed { allow: &'static str },
    /// No such path.
    NotFound,
}

/// The token a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// None: probes, metrics, the OpenAPI document, and answers that no route matched.
    Open,
    /// The API token, when one is configured.
    Api,
    /// The editor token or the admin token (an unconfigured admin API is closed): reading
    /// the node, previews, config changes, canaries and rollbacks.
    Editor,
    /// The admin token, always: everything an editor may do, and components, snapshots and
    /// the exposure log.
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
    OpenApi,
    Policies,
    Policy(&'a str, PolicyAction),
    Snapshot,
    Status,
    Experiments,
    Experiment(&'a str),
    Exposures,
    Erasures,
    Customer(&'a str),
    Console,
    ConsoleAsset(&'a str),
    Session,
    OfrepFlags,
    OfrepFlag(&'a str),
}

/// What follows `/admin/v1/policies/{name}`: nothing (the policy itself) or an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyAction {
    Itself,
    Rollback,
    Promote,
    Abort,
    Schema,
    Validate,
    Preview,
}

/// The paths without parameters. The parser matches these and nothing else (the OpenAPI
/// document's test walks them).
const FIXED_PATHS: [(&str, Resource<'static>); 16] = [
    ("/v1/decide", Resource::Decide),
    ("/v1/segment-decide", Resource::SegmentDecide),
    ("/v1/events", Resource::Events),
    ("/healthz", Resource::Health),
    ("/readyz", Resource::Ready),
    ("/metrics", Resource::Metrics),
    ("/openapi.json", Resource::OpenApi),
    ("/admin/v1/policies", Resource::Policies),
    ("/admin/v1/snapshot", Resource::Snapshot),
    ("/admin/v1/status", Resource::Status),
    ("/admin/v1/experiments", Resource::Experiments),
    ("/admin/v1/exposures", Resource::Exposures),
    ("/admin/v1/erasures", Resource::Erasures),
    ("/console", Resource::Console),
    ("/console/session", Resource::Session),
    ("/ofrep/v1/evaluate/flags", Resource::OfrepFlags),
];

/// Under `/ofrep/v1/evaluate/flags/`: a flag's key (a policy's name).
const OFREP_FLAG_PREFIX: &str = "/ofrep/v1/evaluate/flags/";

/// Under `/console/assets/`: a file of the console (one path segment).
const ASSET_PREFIX: &str = "/console/assets/";

/// Under `/admin/v1/customers/`: a customer id (one path segment), then `/erase`.
const CUSTOMER_PREFIX: &str = "/admin/v1/customers/";
const ERASE_SUFFIX: &str = "/erase";

/// Under `/admin/v1/experiments/`: an experiment's key.
const EXPERIMENT_PREFIX: &str = "/admin/v1/experiments/";

/// Under `/admin/v1/policies/`: the policy's name, then one of these suffixes.
const POLICY_PREFIX: &str = "/admin/v1/policies/";
const POLICY_ACTIONS: [(&str, PolicyAction); 7] = [
    ("", PolicyAction::Itself),
    ("rollback", PolicyAction::Rollback),
    ("promote", PolicyAction::Promote),
    ("abort", PolicyAction::Abort),
    ("schema", PolicyAction::Schema),
    ("validate", PolicyAction::Validate),
    ("preview", PolicyAction::Preview),
];

impl<'a> Resource<'a> {
    fn parse(path: &'a str) -> Option<Resource<'a>> {
        if let Some((_, resource)) = FIXED_PATHS.iter().find(|(fixed, _)| *fixed == path) {
            return Some(*resource);
        }
        if let Some(file) = path.strip_prefix(ASSET_PREFIX) {
            return (!file.is_empty() && !file.contains('/'))
                .then_some(Resource::ConsoleAsset(file));
        }
        if let Some(key) = path.strip_prefix(OFREP_FLAG_PREFIX) {
            return (!key.is_empty() && !key.contains('/')).then_some(Resource::OfrepFlag(key));
        }
        if let Some(id) = path
            .strip_prefix(CUSTOMER_PREFIX)
            .and_then(|rest| rest.strip_suffix(ERASE_SUFFIX))
        {
            return (!id.is_empty() && !id.contains('/')).then_some(Resource::Customer(id));
        }
        if let Some(key) = path.strip_prefix(EXPERIMENT_PREFIX) {
            return (!key.is_empty() && !key.contains('/')).then_some(Resource::Experiment(key));
        }
        let rest = path.strip_prefix(POLICY_PREFIX)?;
        let (name, suffix) = rest.split_once('/').unwrap_or((rest, ""));
        if name.is_empty() {
            return None;
        }
        let (_, action) = POLICY_ACTIONS.iter().find(|(s, _)| *s == suffix)?;
        Some(Resource::Policy(name, *action))
    }

    /// The methods the path takes, as the `Allow` header lists them.
    fn allow(self) -> &'static str {
        match self {
            Resource::Decide
            | Resource::Events
            | Resource::OfrepFlags
            | Resource::OfrepFlag(_)
            | Resource::Customer(_)
            | Resource::Policy(_, PolicyAction::Rollback)
            | Resource::Policy(_, PolicyAction::Promote)
            | Resource::Policy(_, PolicyAction::Abort)
            | Resource::Policy(_, PolicyAction::Validate)
            | Resource::Policy(_, PolicyAction::Preview) => "POST",
            Resource::SegmentDecide
            | Resource::Health
            | Resource::Ready
            | Resource::Metrics
            | Resource::OpenApi
            | Resource::Policies
            | Resource::Status
            | Resource::Experiments
            | Resource::Experiment(_)
            | Resource::Exposures
            | Resource::Erasures
            | Resource::Console
            | Resource::ConsoleAsset(_)
            | Resource::Policy(_, PolicyAction::Schema) => "GET",
            Resource::Session => "GET, POST, DELETE",
            Resource::Policy(_, PolicyAction::Itself) => "GET, PUT",
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
            (&Method::POST, Resource::OfrepFlag(key)) => Route::OfrepFlag(key),
            (&Method::POST, Resource::OfrepFlags) => Route::OfrepFlags,
            (&Method::GET, Resource::Health) => Route::Health,
            (&Method::GET, Resource::Ready) => Route::Ready,
            (&Method::GET, Resource::Metrics) => Route::Metrics,
            (&Method::GET, Resource::OpenApi) => Route::OpenApi,
            (&Method::GET, Resource::Policies) => Route::ListPolicies,
            (&Method::GET, Resource::Policy(name, PolicyAction::Itself)) => {
                Route::DescribePolicy(name)
            }
            (&Method::PUT, Resource::Policy(name, PolicyAction::Itself)) => {
                Route::PublishPolicy(name)
            }
            (&Method::POST, Resource::Policy(name, PolicyAction::Rollback)) => {
                Route::RollBack(name)
            }
            (&Method::POST, Resource::Policy(name, PolicyAction::Promote)) => Route::Promote(name),
            (&Method::POST, Resource::Policy(name, PolicyAction::Abort)) => {
                Route::AbortCanary(name)
            }
            (&Method::GET, Resource::Policy(name, PolicyAction::Schema)) => {
                Route::PolicySchema(name)
            }
            (&Method::POST, Resource::Policy(name, PolicyAction::Validate)) => {
                Route::ValidateConfig(name)
            }
            (&Method::POST, Resource::Policy(name, PolicyAction::Preview)) => Route::Preview(name),
            (&Method::GET, Resource::Console) => Route::Console,
            (&Method::GET, Resource::ConsoleAsset(file)) => Route::ConsoleAsset(file),
            (&Method::GET, Resource::Session) => Route::Session,
            (&Method::POST, Resource::Session) => Route::SignIn,
            (&Method::DELETE, Resource::Session) => Route::SignOut,
            (&Method::GET, Resource::Snapshot) => Route::SnapshotStatus,
            (&Method::POST, Resource::Snapshot) => Route::ReloadSnapshot,
            (&Method::GET, Resource::Status) => Route::Status,
            (&Method::GET, Resource::Experiments) => Route::ListExperiments,
            (&Method::GET, Resource::Experiment(key)) => Route::DescribeExperiment(key),
            (&Method::GET, Resource::Exposures) => Route::Exposures,
            (&Method::POST, Resource::Customer(id)) => Route::EraseCustomer(id),
            (&Method::GET, Resource::Erasures) => Route::Erasures,
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
            Route::PolicySchema(_) => "/admin/v1/policies/{name}/schema",
            Route::ValidateConfig(_) => "/admin/v1/policies/{name}/validate",
            Route::Preview(_) => "/admin/v1/policies/{name}/preview",
            Route::Console => "/console",
            Route::ConsoleAsset(_) => "/console/assets/{file}",
            Route::Session => "/console/session",
            Route::SignIn => "/console/session:sign-in",
            Route::SignOut => "/console/session:sign-out",
            Route::SnapshotStatus => "/admin/v1/snapshot",
            Route::ReloadSnapshot => "/admin/v1/snapshot:reload",
            Route::Status => "/admin/v1/status",
            Route::ListExperiments => "/admin/v1/experiments",
            Route::DescribeExperiment(_) => "/admin/v1/experiments/{key}",
            Route::Exposures => "/admin/v1/exposures",
            Route::EraseCustomer(_) => "/admin/v1/customers/{id}/erase",
            Route::Erasures => "/admin/v1/erasures",
            Route::OpenApi => "/openapi.json",
            Route::OfrepFlag(_) => "/ofrep/v1/evaluate/flags/{key}",
            Route::OfrepFlags => "/ofrep/v1/evaluate/flags",
            Route::MethodNotAllowed { .. } => "method_not_allowed",
            Route::NotFound => "not_found",
        }
    }

    pub(super) fn access(self) -> Access {
        match self {
            Route::Decide
            | Route::SegmentDecide
            | Route::Events
            | Route::OfrepFlag(_)
            | Route::OfrepFlags => Access::Api,
            // A publish that carries a component is refused to an editor where the body is read.
            Route::ListPolicies
            | Route::DescribePolicy(_)
            | Route::PublishPolicy(_)
            | Route::RollBack(_)
            | Route::Promote(_)
            | Route::AbortCanary(_)
            | Route::PolicySchema(_)
            | Route::ValidateConfig(_)
            | Route::Preview(_)
            | Route::SnapshotStatus
            | Route::Status
            | Route::ListExperiments
            | Route::DescribeExperiment(_)
            | Route::Session
            | Route::SignOut => Access::Editor,
            Route::ReloadSnapshot
            | Route::Exposures
            | Route::EraseCustomer(_)
            | Route::Erasures => Access::Admin,
            // Signing in is how a token becomes a session; the page and its assets hold no data.
            Route::SignIn | Route::Console | Route::ConsoleAsset(_) => Access::Open,
            Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi
            | Route::MethodNotAllowed { .. }
            | Route::NotFound => Access::Open,
        }
    }
}

/// Every path the parser knows, with `name` in place of a policy's name (and `{key}` in place
/// of an experiment's): the fixed paths, each suffix under a policy, an experiment. The OpenAPI document's tests walk these; a new family of paths
/// (another prefix with a parameter) belongs in a table like `POLICY_ACTIONS` and here.
#[cfg(test)]
pub(super) fn known_paths(name: &str) -> Vec<String> {
    let fixed = FIXED_PATHS.iter().map(|(path, _)| (*path).to_owned());
    let policy = POLICY_ACTIONS.iter().map(|(suffix, _)| match *suffix {
        "" => format!("{POLICY_PREFIX}{name}"),
        suffix => format!("{POLICY_PREFIX}{name}/{suffix}"),
    });
    // `{key}` is itself a key the parser takes: the experiment path is its own template.
    let experiment = std::iter::once(format!("{EXPERIMENT_PREFIX}{{key}}"));
    let asset = std::iter::once(format!("{ASSET_PREFIX}{{file}}"));
    let flag = std::iter::once(format!("{OFREP_FLAG_PREFIX}{{key}}"));
    let customer = std::iter::once(format!("{CUSTOMER_PREFIX}{{id}}{ERASE_SUFFIX}"));
    fixed
        .chain(policy)
        .chain(experiment)
        .chain(asset)
        .chain(flag)
        .chain(customer)
        .collect()
}

#[cfg(test)]
mod tests;
