//! `POST /admin/v1/policies/{name}/preview`: a draft (a config, a component, or both) run
//! beside the live version on a sample of the store's profiles or on given customers, and
//! what would change. Nothing changes: the decisions run detached (no exposures, no outcome
//! counts read, no cost charged to the live version), the sampled profiles stay out of the
//! cache, and the draft is never stored.

use super::auth::Role;
use super::decide::RequestContext;
use super::errors::{ApiError, ApiErrorKind};
use super::policies::{draft_problems, unknown};
use super::{AppState, console};
use crate::engine::{DecisionError, Engine, LoadedPolicy};
use crate::profiles::CustomerProfile;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tailor_types::{Candidate, Channel, Context, Decision, Profile};

/// Profiles sampled when the request names none.
const DEFAULT_SAMPLE: usize = 1_000;
/// Most profiles one preview runs on.
const MAX_SAMPLE: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewRequest {
    /// The draft's config text; the live config when absent (with a component).
    config: Option<String>,
    /// Standard base64 of a draft component (admin only); the live component when absent.
    component: Option<String>,
    /// How many of the store's profiles to sample (ignored with `customers`).
    #[serde(default, deserialize_with = "tailor_types::integer::option")]
    sample: Option<u64>,
    /// These customers instead of a sample, each with its own context if given.
    #[serde(default)]
    customers: Vec<PreviewCustomer>,
    #[serde(default = "web")]
    channel: Channel,
    /// The slot id the policy sees.
    slot: Option<String>,
    /// The context of every decision (a customer's own replaces it).
    #[serde(default)]
    context: RequestContext,
    #[serde(default, deserialize_with = "tailor_types::object::list")]
    candidates: Vec<Candidate>,
}

fn web() -> Channel {
    Channel::Web
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewCustomer {
    customer_id: String,
    channel: Option<Channel>,
    context: Option<RequestContext>,
}

/// What one side served a customer.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Served {
    #[serde(flatten)]
    decision: Decision,
    error: Option<ServedError>,
}

#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct ServedError {
    code: String,
    message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct CustomerPreview {
    customer_id: String,
    /// Whether the customer would be shown something else: variant, items, creative or arm.
    changed: bool,
    /// Absent from the store: decided as an anonymous visitor.
    known: bool,
    live: Served,
    draft: Served,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    changed: usize,
    unchanged: usize,
    /// How the changed customers moved, by variant (`from` = `to` when only the creative or
    /// the items changed), largest first.
    transitions: Vec<Transition>,
    errors: Sides<usize>,
    /// Customers per variant on each side.
    variants: Sides<BTreeMap<String, usize>>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Sides<T> {
    live: T,
    draft: T,
}

#[derive(Debug, Serialize)]
pub(crate) struct Transition {
    from: String,
    to: String,
    count: usize,
}

/// The whole answer.
#[derive(Debug, Serialize)]
pub(crate) struct Preview {
    policy: String,
    live: Version,
    draft: Draft,
    profiles: usize,
    elapsed_ms: f64,
    summary: Summary,
    /// Every customer, the changed ones first.
    decisions: Vec<CustomerPreview>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Version {
    digest: String,
}

/// What the draft is made of: the live component or an uploaded one, the live config or a
/// draft one.
#[derive(Debug, Serialize)]
pub(crate) struct Draft {
    component: &'static str,
    config: &'static str,
}

pub(super) async fn run(
    state: &Arc<AppState>,
    name: &str,
    body: &[u8],
    role: Role,
) -> Result<serde_json::Value, ApiError> {
    let request: PreviewRequest = super::parse_json(body)?;
    console::refuse_component(role, request.component.is_some())?;
    let entry = state.registry.entry(name).ok_or_else(|| unknown(name))?;
    let name = name.to_owned();
    let state = state.clone();
    let preview = super::blocking("aborted", move || {
        let live = &entry.active;
        let draft = draft(&state.engine, &name, &live.loaded, &request)?;
        let started = Instant::now();
        let targets = targets(&state, &request)?;
        let mut decisions = Vec::with_capacity(targets.len());
        for (customer_id, context) in targets {
            let profile = state.profiles.peek(&customer_id).map_err(store_error)?;
            let known = profile.is_some();
            let profile = profile.unwrap_or_else(|| Profile::default().into());
            let on = |policy: &LoadedPolicy| {
                serve(
                    &state.engine,
                    policy,
                    &context,
                    &profile,
                    &request.candidates,
                )
            };
            let (live, draft) = (on(&live.loaded), on(&draft));
            let changed = shown(&live) != shown(&draft);
            decisions.push(CustomerPreview {
                changed,
                customer_id,
                known,
                live,
                draft,
            });
        }
        let summary = summarize(&decisions);
        decisions.sort_by_key(|d| !d.changed);
        Ok::<_, ApiError>(Preview {
            policy: name,
            live: Version {
                digest: live.digest.clone(),
            },
            draft: Draft {
                component: if request.component.is_some() {
                    "uploaded"
                } else {
                    "live"
                },
                config: if request.config.is_some() {
                    "draft"
                } else {
                    "live"
                },
            },
            profiles: decisions.len(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            summary,
            decisions,
        })
    })
    .await??;
    tracing::info!(policy = %preview.policy, profiles = preview.profiles, changed = preview.summary.changed, elapsed_ms = preview.elapsed_ms, "preview run");
    serde_json::to_value(preview)
        .map_err(|e| ApiError::new(ApiErrorKind::Internal, "encode", None, e.to_string()))
}

/// The draft version: the live component under the draft config, or an uploaded component,
/// refused like a publish would be when its config has problems.
fn draft(
    engine: &Engine,
    name: &str,
    live: &LoadedPolicy,
    request: &PreviewRequest,
) -> Result<LoadedPolicy, ApiError> {
    let config = request.config.clone().or_else(|| {
        let document = live.config().json();
        (!document.is_null()).then(|| document.to_string())
    });
    let base = match &request.component {
        None if request.config.is_none() => {
            return Err(ApiError::field(
                ApiErrorKind::Unprocessable,
                "invalid_preview",
                "config",
                "send a draft config, a component, or both",
            ));
        }
        None => live.clone(),
        Some(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| {
                    ApiError::field(
                        ApiErrorKind::BadRequest,
                        "invalid_body",
                        "component",
                        format!("component is not standard base64: {e}"),
                    )
                })?;
            let compiled = engine
                .compile(name, &bytes)
                .map_err(|e| load_refused("component", &e))?;
            engine
                .prepare(name, &compiled, None, None)
                .map_err(|e| load_refused("component", &e))?
        }
    };
    let Some(config) = config else {
        return Ok(base);
    };
    let problems = draft_problems(engine, &base, &config)?;
    if let Some(first) = problems.first() {
        let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(ApiError::field(
            ApiErrorKind::Unprocessable,
            "invalid_config",
            format!("config.{}", first.path)
                .trim_end_matches('.')
                .to_owned(),
            format!("config: {}", all.join("; ")),
        ));
    }
    base.with_config(Some(&config))
        .map_err(|e| load_refused("config", &e))
}

fn load_refused(field: &str, error: &crate::engine::LoadError) -> ApiError {
    ApiError::field(
        ApiErrorKind::Unprocessable,
        "invalid_preview",
        field,
        crate::report::chain(error),
    )
}

/// The customers to decide for, each with the context of their decisions.
fn targets(state: &AppState, request: &PreviewRequest) -> Result<Vec<(String, Context)>, ApiError> {
    let now_ms = crate::clock::now_ms();
    let slot = request.slot.clone().unwrap_or_else(|| "preview".into());
    let context_of = |channel: &Channel, ctx: &RequestContext| Context {
        channel: channel.clone(),
        slot: slot.clone(),
        page: ctx.page.clone(),
        locale: ctx.locale.clone(),
        store_id: ctx.store_id.clone(),
        device: ctx.device.clone(),
        now_ms: ctx.now_ms.unwrap_or(now_ms),
        anonymous_id: None,
        attributes: ctx.attributes.clone(),
    };
    if !request.customers.is_empty() {
        if request.customers.len() > MAX_SAMPLE {
            return Err(ApiError::field(
                ApiErrorKind::Unprocessable,
                "invalid_preview",
                "customers",
                format!("at most {MAX_SAMPLE} customers per preview"),
            ));
        }
        return Ok(request
            .customers
            .iter()
            .map(|c| {
                let channel = c.channel.as_ref().unwrap_or(&request.channel);
                let ctx = c.context.as_ref().unwrap_or(&request.context);
                (c.customer_id.clone(), context_of(channel, ctx))
            })
            .collect());
    }
    let sample = request
        .sample
        .map_or(DEFAULT_SAMPLE, |n| usize::try_from(n).unwrap_or(usize::MAX));
    if !(1..=MAX_SAMPLE).contains(&sample) {
        return Err(ApiError::field(
            ApiErrorKind::Unprocessable,
            "invalid_preview",
            "sample",
            format!("sample must be 1 to {MAX_SAMPLE}, not {sample}"),
        ));
    }
    let ids = state.profiles.sample_ids(sample).map_err(store_error)?;
    let context = context_of(&request.channel, &request.context);
    Ok(ids.into_iter().map(|id| (id, context.clone())).collect())
}

/// One decision, detached: what a customer would be served (the empty default on an error).
fn serve(
    engine: &Engine,
    policy: &LoadedPolicy,
    context: &Context,
    profile: &CustomerProfile,
    candidates: &[Candidate],
) -> Served {
    match engine
        .decide_detached_measured(policy, context, profile, candidates)
        .0
    {
        Ok(decision) => Served {
            decision,
            error: None,
        },
        Err(DecisionError { code, message }) => Served {
            decision: Decision::new(tailor_types::Reason::Error),
            error: Some(ServedError {
                code: code.to_string(),
                message,
            }),
        },
    }
}

/// What the customer sees of a decision: variant, items, creative, experiment arm.
fn shown(served: &Served) -> impl PartialEq + '_ {
    let d = &served.decision;
    (
        &d.variant,
        d.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        &d.render,
        d.experiment.as_ref().map(|e| (&e.key, &e.variant)),
        served.error.as_ref().map(|e| &e.code),
    )
}

/// A decision's label in the summary: its variant, else its items, else what it is.
fn label(served: &Served) -> String {
    if served.error.is_some() {
        return "(error)".into();
    }
    let d = &served.decision;
    match (&d.variant, d.items.is_empty()) {
        (Some(variant), _) => variant.clone(),
        (None, false) => d
            .items
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>()
            .join(","),
        (None, true) => "(none)".into(),
    }
}

fn summarize(decisions: &[CustomerPreview]) -> Summary {
    let mut summary = Summary::default();
    let mut moves: BTreeMap<(String, String), usize> = BTreeMap::new();
    for d in decisions {
        let (from, to) = (label(&d.live), label(&d.draft));
        *summary.variants.live.entry(from.clone()).or_default() += 1;
        *summary.variants.draft.entry(to.clone()).or_default() += 1;
        summary.errors.live += usize::from(d.live.error.is_some());
        summary.errors.draft += usize::from(d.draft.error.is_some());
        if d.changed {
            summary.changed += 1;
            *moves.entry((from, to)).or_default() += 1;
        } else {
            summary.unchanged += 1;
        }
    }
    summary.transitions = moves
        .into_iter()
        .map(|((from, to), count)| Transition { from, to, count })
        .collect();
    summary
        .transitions
        .sort_by_key(|t| std::cmp::Reverse(t.count));
    summary
}

/// The profile store failed to read: a 500 naming it.
fn store_error(error: impl std::error::Error) -> ApiError {
    ApiError::new(
        ApiErrorKind::Internal,
        "profile_store",
        None,
        crate::report::chain(&error),
    )
}
