//! Masking a decision's personal data in text a policy wrote — its log lines, its error
//! messages, what it printed before a panic — before the text reaches the node's log: the
//! customer and anonymous ids and the profile's trait values become `‹…›`. A policy's own
//! words stay; this is a safety net for a policy that formats a profile into a message, not a
//! licence to do so.

use crate::profiles::CustomerProfile;
use std::borrow::Cow;
use tailor_types::Value;

/// What replaces a masked value.
const MASK: &str = "‹…›";
/// Shorter values are left alone (masking every `a` or `7` would garble the line and protect
/// nothing).
const MIN_MASKED: usize = 3;

/// `text` with the decision's ids and trait values masked.
pub(crate) fn mask<'t>(
    profile: &CustomerProfile,
    anonymous_id: Option<&str>,
    text: &'t str,
) -> Cow<'t, str> {
    let mut secrets: Vec<String> = Vec::new();
    secrets.extend(profile.customer_id().map(str::to_owned));
    secrets.extend(anonymous_id.map(str::to_owned));
    for (_, value) in profile.traits() {
        match value {
            Value::Text(text) => secrets.push(text),
            Value::TextList(items) => secrets.extend(items),
            Value::Number(n) => secrets.push(n.to_string()),
            Value::Integer(n) => secrets.push(n.to_string()),
            Value::Boolean(_) => {}
        }
    }
    if let Some(loyalty) = profile.loyalty() {
        secrets.push(loyalty.points.to_string());
    }
    secrets.retain(|s| s.chars().count() >= MIN_MASKED);
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    // Longest first, so a value holding a shorter one is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut masked = text.to_owned();
    for secret in &secrets {
        if masked.contains(secret.as_str()) {
            masked = masked.replace(secret.as_str(), MASK);
        }
    }
    Cow::Owned(masked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_types::{Loyalty, Profile};

    #[test]
    fn ids_and_trait_values_are_masked_and_the_policys_words_kept() {
        let profile: CustomerProfile = Profile {
            customer_id: Some("cust-000042".into()),
            traits: vec![
                ("first_name".into(), Value::Text("Priya".into())),
                ("city".into(), Value::Text("Leeds".into())),
                ("lifetime_value".into(), Value::Number(1234.5)),
                ("initial".into(), Value::Text("P".into())),
            ],
            loyalty: Some(Loyalty {
                tier: "gold".into(),
                points: 31337,
            }),
            ..Profile::default()
        }
        .into();
        let line =
            "greeting Priya of Leeds (cust-000042, visitor anon-77x, 31337 points, ltv 1234.5)";
        assert_eq!(
            mask(&profile, Some("anon-77x"), line),
            "greeting ‹…› of ‹…› (‹…›, visitor ‹…›, ‹…› points, ltv ‹…›)"
        );
        assert!(matches!(
            mask(&profile, None, "no variant matched"),
            Cow::Borrowed(_)
        ));
    }
}
