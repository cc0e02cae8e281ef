//! The operators the condition language knows, by name, with how many arguments each takes.

/// A JSON Logic operator (standard, flagd's string operators, or one of tailor's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Var,
    Missing,
    MissingSome,
    If,
    Eq,
    StrictEq,
    NotEq,
    StrictNotEq,
    Not,
    Truthy,
    Or,
    And,
    Gt,
    Ge,
    Lt,
    Le,
    Max,
    Min,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    In,
    Cat,
    Substr,
    Merge,
    Some,
    All,
    None,
    Filter,
    Map,
    Reduce,
    StartsWith,
    EndsWith,
    InSegment,
    RecentEvent,
}

/// How many arguments an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arity {
    pub(crate) min: usize,
    /// `None`: any number from `min` on.
    pub(crate) max: Option<usize>,
}

const fn exactly(n: usize) -> Arity {
    Arity {
        min: n,
        max: Some(n),
    }
}

const fn between(min: usize, max: usize) -> Arity {
    Arity {
        min,
        max: Some(max),
    }
}

const fn at_least(min: usize) -> Arity {
    Arity { min, max: None }
}

/// Every operator: its name in a document, and its arity.
const OPERATORS: &[(&str, Op, Arity)] = &[
    ("var", Op::Var, between(0, 2)),
    ("missing", Op::Missing, at_least(0)),
    ("missing_some", Op::MissingSome, exactly(2)),
    ("if", Op::If, at_least(0)),
    ("?:", Op::If, at_least(0)),
    ("==", Op::Eq, exactly(2)),
    ("===", Op::StrictEq, exactly(2)),
    ("!=", Op::NotEq, exactly(2)),
    ("!==", Op::StrictNotEq, exactly(2)),
    ("!", Op::Not, exactly(1)),
    ("!!", Op::Truthy, exactly(1)),
    ("or", Op::Or, at_least(1)),
    ("and", Op::And, at_least(1)),
    (">", Op::Gt, exactly(2)),
    (">=", Op::Ge, exactly(2)),
    ("<", Op::Lt, between(2, 3)),
    ("<=", Op::Le, between(2, 3)),
    ("max", Op::Max, at_least(1)),
    ("min", Op::Min, at_least(1)),
    ("+", Op::Add, at_least(1)),
    ("-", Op::Sub, between(1, 2)),
    ("*", Op::Mul, at_least(1)),
    ("/", Op::Div, exactly(2)),
    ("%", Op::Rem, exactly(2)),
    ("in", Op::In, exactly(2)),
    ("cat", Op::Cat, at_least(0)),
    ("substr", Op::Substr, between(2, 3)),
    ("merge", Op::Merge, at_least(0)),
    ("some", Op::Some, exactly(2)),
    ("all", Op::All, exactly(2)),
    ("none", Op::None, exactly(2)),
    ("filter", Op::Filter, exactly(2)),
    ("map", Op::Map, exactly(2)),
    ("reduce", Op::Reduce, between(2, 3)),
    ("starts_with", Op::StartsWith, exactly(2)),
    ("ends_with", Op::EndsWith, exactly(2)),
    ("in_segment", Op::InSegment, exactly(1)),
    ("recent_event", Op::RecentEvent, exactly(1)),
];

impl Op {
    /// The operator called `name` in a document, and its arity.
    pub(crate) fn named(name: &str) -> Option<(Op, Arity)> {
        OPERATORS
            .iter()
            .find(|(known, ..)| *known == name)
            .map(|&(_, op, arity)| (op, arity))
    }

    /// Whether the argument at `index` is evaluated once per array element, with `var`
    /// reading the element (`some`, `all`, `none`, `filter`, `map`, `reduce`).
    pub(crate) fn iterates(self, index: usize) -> bool {
        index == 1
            && matches!(
                self,
                Op::Some | Op::All | Op::None | Op::Filter | Op::Map | Op::Reduce
            )
    }
}

impl Arity {
    pub(crate) fn allows(self, count: usize) -> bool {
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }

    /// `takes 2 or 3 arguments, not 4`.
    pub(crate) fn describe(self, name: &str, count: usize) -> String {
        let wanted = match self.max {
            Some(max) if max == self.min => format!("{max}"),
            Some(max) if max == self.min + 1 => format!("{} or {max}", self.min),
            Some(max) => format!("{} to {max}", self.min),
            None => format!("at least {}", self.min),
        };
        let noun = if wanted == "1" {
            "argument"
        } else {
            "arguments"
        };
        format!("{name:?} takes {wanted} {noun}, not {count}")
    }
}

/// Every operator name, for the schema test.
#[cfg(test)]
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    OPERATORS.iter().map(|(name, ..)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_with_their_arity() {
        let (op, arity) = Op::named("<").unwrap();
        assert_eq!(op, Op::Lt);
        assert!(arity.allows(3) && !arity.allows(4));
        assert_eq!(
            arity.describe("<", 4),
            "\"<\" takes 2 or 3 arguments, not 4"
        );
        assert_eq!(
            Op::named("!").unwrap().1.describe("!", 2),
            "\"!\" takes 1 argument, not 2"
        );
        assert_eq!(Op::named("~="), None);
        assert_eq!(names().count(), OPERATORS.len());
    }
}
