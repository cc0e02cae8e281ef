//! A decided slot as an OFREP evaluation, and the bulk answer's `ETag`.
//!
//! - `value`: the decision's variant (a string), or its render map (an object of strings)
//!   where the policy's config says `{"ofrep": {"value": "render"}}`. A decision with neither
//!   has no `value`: the SDK uses the code's default (OFREP's `codeDefaultFlag`).
//! - `reason`: the decision's, unchanged (tailor's reasons are OpenFeature's: `STATIC`,
//!   `TARGETING_MATCH`, `SPLIT`, `DEFAULT`, `CACHED`, `DISABLED`, `UNKNOWN`, `ERROR`).
//! - `variant`: the decision's variant.
//! - `metadata`: `version` (the policy version's digest), and for a unit in an experiment
//!   `experiment` (its key), `arm` and `bucket`.
//! - A policy that failed (its slot fell back) is an evaluation failure: `errorCode`
//!   `GENERAL`, the node's error code and message in `errorDetails`.

use crate::server::AppState;
use crate::server::decide::SlotResult;
use serde_json::{Map, Value, json};

/// Where the value of a policy's flag comes from (its config's `/ofrep/value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueFrom {
    Variant,
    Render,
}

/// The OFREP evaluation of one decided slot (its id is the flag's key).
pub(super) fn evaluation(state: &AppState, slot: &SlotResult) -> Value {
    let mut metadata = Map::new();
    metadata.insert("version".into(), slot.version.clone().into());
    if let Some(experiment) = &slot.decision.experiment {
        metadata.insert("experiment".into(), experiment.key.clone().into());
        metadata.insert("arm".into(), experiment.variant.clone().into());
        metadata.insert("bucket".into(), experiment.bucket.into());
    }
    if let Some(error) = &slot.error {
        return json!({
            "key": slot.id,
            "errorCode": "GENERAL",
            "errorDetails": format!("{}: {}", error.code, error.message),
            "metadata": metadata,
        });
    }
    let decision = &slot.decision;
    let mut answer = Map::new();
    answer.insert("key".into(), slot.id.clone().into());
    answer.insert("reason".into(), decision.reason.as_str().into());
    if let Some(variant) = &decision.variant {
        answer.insert("variant".into(), variant.clone().into());
    }
    let value = match value_from(state, &slot.policy, &slot.version) {
        ValueFrom::Variant => decision.variant.clone().map(Value::from),
        ValueFrom::Render if decision.render.is_empty() => None,
        ValueFrom::Render => Some(Value::Object(
            decision
                .render
                .iter()
                .map(|(key, text)| (key.clone(), Value::from(text.clone())))
                .collect(),
        )),
    };
    if let Some(value) = value {
        answer.insert("value".into(), value);
    }
    answer.insert("metadata".into(), metadata.into());
    Value::Object(answer)
}

/// Read from the config of the version that answered (the active version or the canary).
fn value_from(state: &AppState, policy: &str, digest: &str) -> ValueFrom {
    let Some(entry) = state.registry.entry(policy) else {
        return ValueFrom::Variant;
    };
    let version = std::iter::once(&entry.active)
        .chain(entry.canary.as_ref().map(|canary| &canary.version))
        .find(|version| version.digest == digest);
    let render = version.is_some_and(|version| {
        version.loaded.config().json().pointer("/ofrep/value") == Some(&Value::from("render"))
    });
    if render {
        ValueFrom::Render
    } else {
        ValueFrom::Variant
    }
}

/// A strong `ETag` over the evaluations: any change to any flag's answer (value, variant,
/// reason, version, experiment arm) changes it.
pub(super) fn etag(evaluations: &[Value]) -> String {
    let bytes = serde_json::to_vec(evaluations).unwrap_or_default();
    let digest = crate::digest::sha256_hex(&bytes);
    format!("\"{}\"", &digest[..32.min(digest.len())])
}

/// Whether an `If-None-Match` header names `etag` (a list, weak tags and `*` included).
pub(super) fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|given| given == "*" || given.strip_prefix("W/").unwrap_or(given) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_any() {
        let etag = etag(&[json!({"key": "a", "value": "x"})]);
        assert!(matches(&etag, &etag));
        assert!(matches(&format!("\"other\", W/{etag}"), &etag));
        assert!(matches("*", &etag));
        assert!(!matches("\"other\"", &etag));
    }

    #[test]
    fn the_etag_changes_with_any_answer() {
        let one = etag(&[json!({"key": "a", "value": "x"})]);
        let other = etag(&[json!({"key": "a", "value": "y"})]);
        assert_ne!(one, other);
        assert!(one.starts_with('"') && one.ends_with('"'));
    }
}
