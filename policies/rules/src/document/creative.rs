//! A creative: a variant name and what the channel renders for it (`headline`, `image`, `cta` …).

use crate::problem::{Problems, field};
use serde_json::Value;

/// A variant and its render fields, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Creative {
    pub(crate) variant: String,
    pub(crate) render: Vec<(String, String)>,
}

impl Creative {
    /// `{"variant": "vip", "render": {"headline": "…"}}` at `path`.
    pub(crate) fn parse(value: &Value, path: &str, problems: &mut Problems) -> Option<Creative> {
        let object = problems.object(value, path)?;
        problems.deny_unknown(object, path, &["variant", "render"]);
        Creative::fields(object, path, problems)
    }

    /// The `variant` and `render` members of `object` (which may hold others, like `weight`).
    pub(crate) fn fields(
        object: &serde_json::Map<String, Value>,
        path: &str,
        problems: &mut Problems,
    ) -> Option<Creative> {
        let variant = problems
            .required(object, path, "variant")
            .and_then(|v| problems.name(v, &field(path, "variant")));
        let render = problems
            .required(object, path, "render")
            .and_then(|render| parse_render(render, &field(path, "render"), problems));
        Some(Creative {
            variant: variant?,
            render: render?,
        })
    }
}

fn parse_render(
    value: &Value,
    path: &str,
    problems: &mut Problems,
) -> Option<Vec<(String, String)>> {
    let object = problems.object(value, path)?;
    let mut render = Vec::with_capacity(object.len());
    let mut valid = true;
    for (key, text) in object {
        match text.as_str() {
            Some(text) => render.push((key.clone(), text.to_owned())),
            None => {
                problems.add(&field(path, key), "must be a string");
                valid = false;
            }
        }
    }
    valid.then_some(render)
}
