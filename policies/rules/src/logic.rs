//! The condition language: JSON Logic (<https://jsonlogic.com>), with flagd's `starts_with` and
//! `ends_with` and tailor's `in_segment` and `recent_event`.
//!
//! A condition is compiled once ([`Compiler`]: every operator, arity and variable checked, each
//! problem named by its path) into an [`Expr`] tree, then evaluated against a [`Data`] view of
//! the request that reads each variable the first time a condition needs it.
//!
//! Semantics follow json-logic-js: JavaScript truthiness (`0`, `""`, `null`, `false` and `[]`
//! are false), `==` as JavaScript's loose equality, `===` strict, `<` comparing strings as
//! strings and anything else as numbers, `+` and `*` parsing numbers like `parseFloat`, and
//! `in` as substring or array membership. Where JavaScript would give `NaN` or `Infinity`, the
//! result here is `null` (JSON has neither); two arrays or objects are never equal, as two
//! JavaScript objects are not.

mod coerce;
mod compile;
mod data;
mod eval;
mod iterate;
mod op;
mod recent;
mod vars;

pub(crate) use compile::Compiler;
pub use data::{Data, Source};
#[cfg(test)]
pub(crate) use op::names as operator_names;
#[cfg(test)]
pub(crate) use vars::ROOTS;
pub use vars::Slot;

use op::Op;
use serde_json::Value;

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A value as written (numbers, strings, booleans, null).
    Literal(Value),
    /// An array whose elements are evaluated.
    Array(Vec<Expr>),
    Var(Var),
    /// An operator and its arguments (evaluated lazily where the operator is: `and`, `if` …).
    Op(Op, Vec<Expr>),
    RecentEvent(recent::RecentEvent),
}

/// `{"var": [path, default]}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Var {
    path: VarPath,
    default: Option<Box<Expr>>,
}

#[derive(Debug, Clone, PartialEq)]
enum VarPath {
    /// A request variable known when compiling: the slot index in [`Data`], then the path
    /// inside the slot's value.
    Request { slot: usize, rest: Vec<String> },
    /// Inside `some`, `map` …: a path into the current element (`""` is the element itself).
    Element(Vec<String>),
    /// A path computed at run time.
    Computed(Box<Expr>),
}

impl Expr {
    /// Whether the condition holds for this request.
    pub(crate) fn holds(&self, data: &Data<'_>) -> bool {
        coerce::truthy(&self.eval(eval::Env::root(data)))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Compiling and evaluating conditions against plain JSON data, for the tests.

    use super::*;
    use crate::problem::Problems;

    /// Request data as a JSON object keyed by root: `{"tier": "gold", "traits": {…}}`.
    #[derive(Debug)]
    pub(crate) struct JsonSource {
        pub(crate) data: Value,
        pub(crate) fetched: std::cell::RefCell<Vec<Slot>>,
    }

    impl Source for JsonSource {
        fn fetch(&self, slot: &Slot) -> Value {
            self.fetched.borrow_mut().push(slot.clone());
            let root = &self.data[slot.root()];
            match slot {
                Slot::Trait(key) | Slot::Attribute(key) => root.get(key),
                _ => Some(root),
            }
            .cloned()
            .unwrap_or(Value::Null)
        }

        fn in_segment(&self, name: &str) -> bool {
            self.data["segments"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s == name))
        }

        fn now_ms(&self) -> i64 {
            self.data["now_ms"].as_i64().unwrap_or(0)
        }
    }

    /// Compiles `condition`, or the problems (`path: message`) found in it.
    pub(crate) fn compile(condition: &Value) -> Result<(Expr, Vec<Slot>), Vec<String>> {
        let mut problems = Problems::default();
        let mut slots = Vec::new();
        let expr = Compiler::new(&mut problems, &mut slots).condition(condition, "when");
        if problems.is_empty() {
            Ok((expr, slots))
        } else {
            Err(problems
                .into_vec()
                .iter()
                .map(ToString::to_string)
                .collect())
        }
    }

    /// What `condition` evaluates to against `data`.
    pub(crate) fn apply(condition: Value, data: Value) -> Value {
        let (expr, slots) = compile(&condition).unwrap_or_else(|p| panic!("{condition}: {p:?}"));
        let source = JsonSource {
            data,
            fetched: Default::default(),
        };
        let data = Data::new(&source, &slots);
        expr.eval(eval::Env::root(&data)).into_owned()
    }
}
