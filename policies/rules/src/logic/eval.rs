//! Evaluating a compiled condition: variables, logic, comparison and arithmetic (arrays and
//! strings are in [`super::iterate`]).

use super::coerce::{
    compare, loose_eq, number, parse_float, strict_eq, to_number, to_text, truthy,
};
use super::data::{Data, walk};
use super::op::Op;
use super::{Expr, Var, VarPath, iterate};
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

static NULL: Value = Value::Null;

/// What `var` reads: the request, or inside `some`, `map` … the current element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) data: &'a Data<'a>,
    pub(crate) element: Option<&'a Value>,
}

impl<'a> Env<'a> {
    pub(crate) fn root(data: &'a Data<'a>) -> Self {
        Env {
            data,
            element: None,
        }
    }

    /// The value at a dotted path computed at run time.
    pub(crate) fn lookup(self, path: &str) -> Cow<'a, Value> {
        match self.element {
            Some(element) => {
                let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
                Cow::Borrowed(walk(element, &parts).unwrap_or(&NULL))
            }
            None => self.data.lookup(path),
        }
    }
}

impl Expr {
    pub(crate) fn eval<'a>(&'a self, env: Env<'a>) -> Cow<'a, Value> {
        match self {
            Expr::Literal(value) => Cow::Borrowed(value),
            Expr::Array(items) => Cow::Owned(Value::Array(
                items
                    .iter()
                    .map(|item| item.eval(env).into_owned())
                    .collect(),
            )),
            Expr::Var(var) => var.eval(env),
            Expr::RecentEvent(spec) => Cow::Owned(Value::Bool(spec.holds(env.data))),
            Expr::Op(op, args) => apply(*op, args, env),
        }
    }
}

impl Var {
    fn eval<'a>(&'a self, env: Env<'a>) -> Cow<'a, Value> {
        let found = match &self.path {
            VarPath::Request { slot, rest } => {
                Cow::Borrowed(walk(env.data.slot(*slot), rest).unwrap_or(&NULL))
            }
            VarPath::Element(parts) => {
                Cow::Borrowed(env.element.and_then(|e| walk(e, parts)).unwrap_or(&NULL))
            }
            VarPath::Computed(path) => env.lookup(&to_text(&path.eval(env))),
        };
        match &self.default {
            Some(default) if found.is_null() => default.eval(env),
            _ => found,
        }
    }
}

fn apply<'a>(op: Op, args: &'a [Expr], env: Env<'a>) -> Cow<'a, Value> {
    let arg = |i: usize| args.get(i).map_or(Cow::Borrowed(&NULL), |a| a.eval(env));
    let yes = |b: bool| Cow::Owned(Value::Bool(b));
    match op {
        Op::If => {
            for pair in args.chunks(2) {
                match pair {
                    [condition, then] if truthy(&condition.eval(env)) => return then.eval(env),
                    [_, _] => {}
                    [otherwise] => return otherwise.eval(env),
                    _ => {}
                }
            }
            Cow::Borrowed(&NULL)
        }
        Op::Or | Op::And => {
            let stop = op == Op::Or;
            let mut last = Cow::Borrowed(&NULL);
            for arg in args {
                last = arg.eval(env);
                if truthy(&last) == stop {
                    break;
                }
            }
            last
        }
        Op::Not => yes(!truthy(&arg(0))),
        Op::Truthy => yes(truthy(&arg(0))),
        Op::Eq => yes(loose_eq(&arg(0), &arg(1))),
        Op::NotEq => yes(!loose_eq(&arg(0), &arg(1))),
        Op::StrictEq => yes(strict_eq(&arg(0), &arg(1))),
        Op::StrictNotEq => yes(!strict_eq(&arg(0), &arg(1))),
        Op::Gt => yes(compare(&arg(0), &arg(1)) == Some(Ordering::Greater)),
        Op::Ge => yes(matches!(
            compare(&arg(0), &arg(1)),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        Op::Lt | Op::Le => {
            let holds = |o: Option<Ordering>| match o {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => op == Op::Le,
                _ => false,
            };
            let values: Vec<_> = (0..args.len()).map(arg).collect();
            yes(values
                .windows(2)
                .all(|pair| holds(compare(&pair[0], &pair[1]))))
        }
        Op::Max | Op::Min => {
            let numbers: Vec<f64> = args.iter().map(|a| to_number(&a.eval(env))).collect();
            let pick = if op == Op::Max { f64::max } else { f64::min };
            let best = if numbers.iter().any(|n| n.is_nan()) {
                Some(f64::NAN)
            } else {
                numbers.into_iter().reduce(pick)
            };
            Cow::Owned(best.map_or(Value::Null, number))
        }
        Op::Add => Cow::Owned(number(args.iter().map(|a| parse_float(&a.eval(env))).sum())),
        Op::Mul => Cow::Owned(number(
            args.iter().map(|a| parse_float(&a.eval(env))).product(),
        )),
        Op::Sub if args.len() == 1 => Cow::Owned(number(-to_number(&arg(0)))),
        Op::Sub => Cow::Owned(number(to_number(&arg(0)) - to_number(&arg(1)))),
        Op::Div => Cow::Owned(number(to_number(&arg(0)) / to_number(&arg(1)))),
        Op::Rem => Cow::Owned(number(to_number(&arg(0)) % to_number(&arg(1)))),
        Op::InSegment => yes(arg(0)
            .as_str()
            .is_some_and(|s| env.data.source().in_segment(s))),
        // Compiled to their own expressions.
        Op::Var | Op::RecentEvent => Cow::Borrowed(&NULL),
        _ => iterate::apply(op, args, env),
    }
}

#[cfg(test)]
mod tests;
