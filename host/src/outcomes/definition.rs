//! What a policy's config says about its experiments and outcomes: the arms and their weights
//! (for the sample-ratio check), the control arm, which event kinds count as a conversion, and
//! the attribution window.
//!
//! ```json
//! {
//!   "outcomes": {"kinds": ["click", "purchase"], "window_hours": 24},
//!   "experiment": {"key": "hero-spring-2026", "arms": {"spring-brand": 50, "spring-lifestyle": 50},
//!                  "control": "spring-brand", "outcomes": {"kinds": ["purchase"]}}
//! }
//! ```
//!
//! `experiment` is one experiment, `experiments` a list of them; `outcomes` at the top applies to
//! the policy's items and is every experiment's default. Without any of it, `click`,
//! `add_to_cart` and `purchase` count, within 24 hours of the exposure, and an experiment's
//! control is its first arm.

use serde_json::Value;

/// Event kinds that count as a conversion when a config names none.
pub const DEFAULT_KINDS: [&str; 3] = ["click", "add_to_cart", "purchase"];
/// Hours after an exposure within which a conversion is attributed to it, by default.
pub const DEFAULT_WINDOW_HOURS: f64 = 24.0;

/// Which events count, and for how long after an exposure.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRule {
    pub kinds: Vec<String>,
    pub window_ms: i64,
}

impl Default for OutcomeRule {
    fn default() -> Self {
        OutcomeRule {
            kinds: DEFAULT_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            window_ms: (DEFAULT_WINDOW_HOURS * 3_600_000.0) as i64,
        }
    }
}

impl OutcomeRule {
    pub fn counts(&self, kind: &str) -> bool {
        self.kinds.iter().any(|k| k == kind)
    }
}

/// One experiment as its policy's config defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentDefinition {
    pub key: String,
    /// Arms in document order, with their weights.
    pub arms: Vec<(String, f64)>,
    /// Index of the control arm in `arms`.
    pub control: usize,
    pub outcomes: OutcomeRule,
}

/// Everything one policy version's config defines about outcomes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definitions {
    /// For the policy's ranked items (and every experiment's default).
    pub items: OutcomeRule,
    pub experiments: Vec<ExperimentDefinition>,
}

impl Definitions {
    pub fn experiment(&self, key: &str) -> Option<&ExperimentDefinition> {
        self.experiments.iter().find(|e| e.key == key)
    }
}

/// A config's outcome definitions are malformed; names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("config field `{field}`: {message}")]
pub struct DefinitionError {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        field: field.into(),
        message: message.into(),
    }
}

fn rule(value: &Value, field: &str, base: &OutcomeRule) -> Result<OutcomeRule, DefinitionError> {
    let Value::Object(object) = value else {
        return Err(invalid(field, "must be an object"));
    };
    let mut rule = base.clone();
    for (key, member) in object {
        match key.as_str() {
            "kinds" => {
                let Value::Array(kinds) = member else {
                    return Err(invalid(
                        format!("{field}.kinds"),
                        "must be a list of event kinds",
                    ));
                };
                rule.kinds = kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| match kind {
                        Value::String(kind) if !kind.is_empty() => Ok(kind.clone()),
                        _ => Err(invalid(
                            format!("{field}.kinds[{i}]"),
                            "must be a non-empty event kind",
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                if rule.kinds.is_empty() {
                    return Err(invalid(format!("{field}.kinds"), "names no event kind"));
                }
            }
            "window_hours" => match member.as_f64() {
                Some(hours) if hours > 0.0 && hours <= 24.0 * 366.0 => {
                    rule.window_ms = (hours * 3_600_000.0) as i64;
                }
                _ => {
                    return Err(invalid(
                        format!("{field}.window_hours"),
                        "must be a number of hours above 0, at most a year",
                    ));
                }
            },
            other => {
                return Err(invalid(
                    format!("{field}.{other}"),
                    "unknown field (expected kinds, window_hours)",
                ));
            }
        }
    }
    Ok(rule)
}

fn experiment(
    value: &Value,
    field: &str,
    base: &OutcomeRule,
) -> Result<ExperimentDefinition, DefinitionError> {
    let Value::Object(object) = value else {
        return Err(invalid(field, "must be an object"));
    };
    let key = match object.get("key") {
        Some(Value::String(key)) if !key.is_empty() => key.clone(),
        _ => {
            return Err(invalid(
                format!("{field}.key"),
                "must be a non-empty string",
            ));
        }
    };
    let Some(Value::Object(members)) = object.get("arms") else {
        return Err(invalid(
            format!("{field}.arms"),
            "must be an object of variant → weight",
        ));
    };
    let mut arms = Vec::with_capacity(members.len());
    for (variant, weight) in members {
        match weight.as_f64() {
            Some(weight) if weight >= 0.0 && weight.is_finite() => {
                arms.push((variant.clone(), weight));
            }
            _ => {
                return Err(invalid(
                    format!("{field}.arms.{variant}"),
                    "must be a weight of 0 or more",
                ));
            }
        }
    }
    if arms.is_empty() {
        return Err(invalid(format!("{field}.arms"), "names no arm"));
    }
    let control = match object.get("control") {
        None => 0,
        Some(Value::String(control)) => {
            arms.iter().position(|(v, _)| v == control).ok_or_else(|| {
                invalid(
                    format!("{field}.control"),
                    format!("{control:?} is not one of the arms"),
                )
            })?
        }
        Some(_) => return Err(invalid(format!("{field}.control"), "must be an arm's name")),
    };
    let outcomes = match object.get("outcomes") {
        Some(value) => rule(value, &format!("{field}.outcomes"), base)?,
        None => base.clone(),
    };
    Ok(ExperimentDefinition {
        key,
        arms,
        control,
        outcomes,
    })
}

/// Reads the outcome definitions from a policy's config document (`null` when it has none).
pub fn parse(config: &Value) -> Result<Definitions, DefinitionError> {
    let Value::Object(object) = config else {
        return Ok(Definitions::default());
    };
    let items = match object.get("outcomes") {
        Some(value) => rule(value, "outcomes", &OutcomeRule::default())?,
        None => OutcomeRule::default(),
    };
    let mut experiments = Vec::new();
    if let Some(value) = object.get("experiment") {
        experiments.push(experiment(value, "experiment", &items)?);
    }
    match object.get("experiments") {
        None => {}
        Some(Value::Array(list)) => {
            for (i, value) in list.iter().enumerate() {
                let definition = experiment(value, &format!("experiments[{i}]"), &items)?;
                if experiments.iter().any(|e| e.key == definition.key) {
                    return Err(invalid(
                        format!("experiments[{i}].key"),
                        format!("experiment {:?} is defined twice", definition.key),
                    ));
                }
                experiments.push(definition);
            }
        }
        Some(_) => return Err(invalid("experiments", "must be a list of experiments")),
    }
    Ok(Definitions { items, experiments })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_apply_without_definitions() {
        let definitions = parse(&json!({"ttl_seconds": 3})).unwrap();
        assert_eq!(definitions, Definitions::default());
        assert!(definitions.items.counts("purchase"));
        assert!(!definitions.items.counts("page_view"));
    }

    #[test]
    fn an_experiment_inherits_the_policy_rule_and_may_override_it() {
        let definitions = parse(&json!({
            "outcomes": {"kinds": ["click"], "window_hours": 2},
            "experiment": {"key": "a", "arms": {"x": 50, "y": 50}, "control": "y"},
            "experiments": [{"key": "b", "arms": {"p": 1}, "outcomes": {"kinds": ["purchase"]}}]
        }))
        .unwrap();
        let a = definitions.experiment("a").unwrap();
        assert_eq!(a.control, 1);
        assert_eq!(a.outcomes.kinds, ["click"]);
        assert_eq!(a.outcomes.window_ms, 7_200_000);
        let b = definitions.experiment("b").unwrap();
        assert_eq!(b.outcomes.kinds, ["purchase"]);
        assert_eq!(b.outcomes.window_ms, 7_200_000);
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let cases = [
            (json!({"experiment": {"arms": {"x": 1}}}), "experiment.key"),
            (
                json!({"experiment": {"key": "k", "arms": {"x": -1}}}),
                "experiment.arms.x",
            ),
            (
                json!({"experiment": {"key": "k", "arms": {"x": 1}, "control": "z"}}),
                "experiment.control",
            ),
            (json!({"outcomes": {"kinds": []}}), "outcomes.kinds"),
            (
                json!({"outcomes": {"kinds": ["click", 3]}}),
                "outcomes.kinds[1]",
            ),
            (
                json!({"outcomes": {"window_hours": 0}}),
                "outcomes.window_hours",
            ),
            (json!({"outcomes": {"window": 1}}), "outcomes.window"),
            (
                json!({"experiments": [{"key": "k", "arms": {"x": 1}}, {"key": "k", "arms": {"x": 1}}]}),
                "experiments[1].key",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(parse(&config).unwrap_err().field, field, "{config}");
        }
    }
}
