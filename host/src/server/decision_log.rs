//! The sampled decision log (`tailor::decision` target): what replaying a decision needs — the
//! time, the snapshot version, each slot's policy digest and answer, and the request — without
//! personal data by default.
//!
//! The customer and anonymous ids are pseudonyms ([`crate::privacy::Pseudonyms`]: an operator
//! holding the node's pseudonym key finds the customer by hashing the snapshot's ids); request
//! attributes are listed by key only; profile traits are never logged. With
//! `decision_log_requests` the request body is logged as received instead, for operators who
//! have agreed to hold personal data in their logs.

use super::AppState;
use super::decide::DecideRequest;

/// Bytes of the request body kept in a decision-log entry (with `decision_log_requests`).
const REPLAY_BODY_BYTES: usize = 8192;

/// Logs the request of a sampled decision.
pub(super) fn request(
    state: &AppState,
    decision_id: &str,
    request: &DecideRequest,
    body: &[u8],
    now_ms: i64,
    snapshot: &str,
    profile_source: &str,
) {
    let logged = if state.config.decision_log_requests {
        String::from_utf8_lossy(&body[..body.len().min(REPLAY_BODY_BYTES)]).into_owned()
    } else {
        redacted(state, request).to_string()
    };
    tracing::info!(
        target: "tailor::decision",
        decision_id = %decision_id,
        now_ms,
        snapshot = %snapshot,
        profile_source,
        request = %logged,
        "decide request"
    );
}

/// The request with its ids pseudonymized and its attributes' values left out.
fn redacted(state: &AppState, request: &DecideRequest) -> serde_json::Value {
    let pseudonym = |id: &Option<String>| id.as_deref().map(|id| state.pseudonyms.label(id));
    let context = &request.context;
    serde_json::json!({
        "request_id": request.request_id,
        "channel": request.channel,
        "unit": {
            "customer": pseudonym(&request.unit.customer_id),
            "anonymous": pseudonym(&request.unit.anonymous_id),
        },
        "context": {
            "page": context.page,
            "locale": context.locale,
            "store_id": context.store_id,
            "device": context.device,
            "now_ms": context.now_ms,
            "attribute_keys": context.attributes.iter().map(|(key, _)| key).collect::<Vec<_>>(),
        },
        "consent": request.consent,
        "slots": request.slots.iter().map(|slot| serde_json::json!({
            "id": slot.id,
            "policy": slot.policy,
            "candidates": slot.candidates.iter().map(|c| &c.id).collect::<Vec<_>>(),
            "dedupe": slot.dedupe,
        })).collect::<Vec<_>>(),
    })
}
