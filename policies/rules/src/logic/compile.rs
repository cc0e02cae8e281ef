//! From a condition as written (JSON) to an [`Expr`] tree, checking operators, arities and
//! variables on the way and naming each problem by its path (`rules[3].when.and[1]`).

use super::op::Op;
use super::recent::RecentEvent;
use super::vars::{self, Slot};
use super::{Expr, Var, VarPath};
use crate::problem::{Problems, field, index};
use serde_json::{Map, Value};

/// Compiles the conditions of one document; the request variables they read accumulate in
/// `slots`, which the [`Data`](super::Data) of a decision is built over.
#[derive(Debug)]
pub(crate) struct Compiler<'p> {
    problems: &'p mut Problems,
    slots: &'p mut Vec<Slot>,
}

/// What a condition with a problem compiles to (the document is refused anyway).
const INVALID: Expr = Expr::Literal(Value::Null);

impl<'p> Compiler<'p> {
    pub(crate) fn new(problems: &'p mut Problems, slots: &'p mut Vec<Slot>) -> Self {
        Compiler { problems, slots }
    }

    /// Compiles the condition at `path`.
    pub(crate) fn condition(&mut self, value: &Value, path: &str) -> Expr {
        self.expr(value, path, false)
    }

    /// `element`: inside the per-element argument of `some`, `map` …, where `var` reads the
    /// element rather than the request.
    fn expr(&mut self, value: &Value, path: &str, element: bool) -> Expr {
        match value {
            Value::Array(items) => Expr::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.expr(item, &index(path, i), element))
                    .collect(),
            ),
            Value::Object(object) => self.operation(object, path, element),
            literal => Expr::Literal(literal.clone()),
        }
    }

    fn operation(&mut self, object: &Map<String, Value>, path: &str, element: bool) -> Expr {
        let mut members = object.iter();
        let (Some((name, args)), None) = (members.next(), members.next()) else {
            self.problems.add(
                path,
                format!(
                    "a condition object has exactly one operator, not {}",
                    object.len()
                ),
            );
            return INVALID;
        };
        let Some((op, arity)) = Op::named(name) else {
            self.problems
                .add(path, format!("unknown operator {name:?}"));
            return INVALID;
        };
        let path = field(path, name);
        // An array is the argument list; anything else is the one argument.
        let args: Vec<(&Value, String)> = match args {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (item, index(&path, i)))
                .collect(),
            single => vec![(single, path.clone())],
        };
        if !arity.allows(args.len()) {
            self.problems.add(&path, arity.describe(name, args.len()));
            return INVALID;
        }
        match op {
            Op::Var => self.var(&args, element),
            Op::RecentEvent => {
                let events = self.slot(Slot::Events);
                let (spec, path) = &args[0];
                RecentEvent::parse(spec, path, events, self.problems)
                    .map_or(INVALID, Expr::RecentEvent)
            }
            Op::Missing | Op::MissingSome if !element => {
                let keys = match (op, args.first(), args.get(1)) {
                    (Op::MissingSome, _, Some(keys)) => std::slice::from_ref(keys),
                    (_, Some((Value::Array(_), _)), _) => &args[..1],
                    _ => &args[..],
                };
                for (keys, path) in keys {
                    self.missing_keys(keys, path);
                }
                self.op(op, &args, element)
            }
            _ => self.op(op, &args, element),
        }
    }

    fn op(&mut self, op: Op, args: &[(&Value, String)], element: bool) -> Expr {
        let args = args
            .iter()
            .enumerate()
            .map(|(i, (arg, path))| self.expr(arg, path, element || op.iterates(i)))
            .collect();
        Expr::Op(op, args)
    }

    /// `{"var": path}`, `{"var": [path, default]}`.
    fn var(&mut self, args: &[(&Value, String)], element: bool) -> Expr {
        let default = args
            .get(1)
            .map(|(value, path)| Box::new(self.expr(value, path, element)));
        let path = match args.first() {
            None | Some((Value::Null, _)) => self.path("", "var", element),
            Some((Value::String(text), path)) => self.path(text, path, element),
            Some((Value::Number(n), path)) => self.path(&n.to_string(), path, element),
            Some((computed @ (Value::Array(_) | Value::Object(_)), path)) => Some(
                VarPath::Computed(Box::new(self.expr(computed, path, element))),
            ),
            Some((Value::Bool(_), path)) => {
                self.problems
                    .add(path, "a variable path is a string or a number");
                None
            }
        };
        path.map_or(INVALID, |path| Expr::Var(Var { path, default }))
    }

    fn path(&mut self, text: &str, path: &str, element: bool) -> Option<VarPath> {
        if element {
            let parts = text.split('.').filter(|p| !p.is_empty());
            return Some(VarPath::Element(parts.map(str::to_owned).collect()));
        }
        match vars::resolve(text) {
            Some((slot, rest)) => Some(VarPath::Request {
                slot: self.slot(slot),
                rest,
            }),
            None => {
                self.problems
                    .add(path, format!("unknown variable {text:?}"));
                None
            }
        }
    }

    /// The literal keys of `missing` and `missing_some` name variables too.
    fn missing_keys(&mut self, keys: &Value, path: &str) {
        match keys {
            Value::String(key) => {
                self.path(key, path, false);
            }
            Value::Array(items) => {
                for (i, key) in items.iter().enumerate() {
                    if let Value::String(key) = key {
                        self.path(key, &index(path, i), false);
                    }
                }
            }
            _ => {}
        }
    }

    /// The index of `slot` in the document's slots, added on first use.
    fn slot(&mut self, slot: Slot) -> usize {
        match self.slots.iter().position(|known| *known == slot) {
            Some(index) => index,
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::logic::Slot;
    use crate::logic::test_support::compile;
    use serde_json::json;

    fn problems(condition: serde_json::Value) -> Vec<String> {
        compile(&condition).unwrap_err()
    }

    #[test]
    fn problems_are_named_by_path_and_all_reported() {
        assert_eq!(
            problems(json!({"and": [
                {"in_segment": "vip"},
                {"~=": [1, 2]},
                {">": [1, 2, 3]},
                {"var": "segmnts"},
                {"some": [{"var": "events"}, {"==": [{"var": "anything.goes"}, 1]}]},
                {"a": 1, "b": 2},
            ]})),
            [
                "when.and[1]: unknown operator \"~=\"",
                "when.and[2].>: \">\" takes 2 arguments, not 3",
                "when.and[3].var: unknown variable \"segmnts\"",
                "when.and[5]: a condition object has exactly one operator, not 2",
            ]
        );
        assert_eq!(
            problems(json!({"missing": ["tier", "tierr"]})),
            ["when.missing[1]: unknown variable \"tierr\""]
        );
        assert_eq!(
            problems(json!({"var": [true]})),
            ["when.var[0]: a variable path is a string or a number"]
        );
    }

    #[test]
    fn referenced_variables_become_slots_once() {
        let (_, slots) = compile(&json!({"or": [
            {"==": [{"var": "traits.a"}, 1]},
            {"==": [{"var": "traits.a"}, {"var": "tier"}]},
            {"recent_event": {"kind": "purchase"}},
            {"missing": ["consent.marketing"]},
        ]}))
        .unwrap();
        assert_eq!(
            slots,
            [
                Slot::Trait("a".into()),
                Slot::Tier,
                Slot::Events,
                Slot::Consent
            ]
        );
    }
}
