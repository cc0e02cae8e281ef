//! The array and string operators: `some`, `all`, `none`, `filter`, `map`, `reduce`, `merge`,
//! `in`, `missing`, `missing_some`, `cat`, `substr`, `starts_with`, `ends_with`.

use super::Expr;
use super::coerce::{strict_eq, to_number, to_text, truthy};
use super::eval::Env;
use super::op::Op;
use serde_json::{Value, json};
use std::borrow::Cow;

pub(crate) fn apply<'a>(op: Op, args: &'a [Expr], env: Env<'a>) -> Cow<'a, Value> {
    let arg = |i: usize| args.get(i).map(|a| a.eval(env));
    let owned = Cow::Owned;
    match op {
        Op::Some | Op::All | Op::None | Op::Filter | Op::Map => {
            let items = arg(0);
            let items = items
                .as_deref()
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            let each = &args[1];
            let test = |item: &Value| {
                truthy(&each.eval(Env {
                    element: Some(item),
                    ..env
                }))
            };
            owned(match op {
                Op::Some => Value::Bool(items.iter().any(test)),
                Op::None => Value::Bool(!items.iter().any(test)),
                Op::All => Value::Bool(!items.is_empty() && items.iter().all(test)),
                Op::Filter => items.iter().filter(|i| test(i)).cloned().collect(),
                _ => items
                    .iter()
                    .map(|item| {
                        each.eval(Env {
                            element: Some(item),
                            ..env
                        })
                        .into_owned()
                    })
                    .collect(),
            })
        }
        Op::Reduce => {
            let initial = arg(2).map_or(Value::Null, Cow::into_owned);
            let items = arg(0);
            let Some(items) = items.as_deref().and_then(Value::as_array) else {
                return owned(initial);
            };
            owned(items.iter().fold(initial, |accumulator, current| {
                let scope = json!({"current": current, "accumulator": accumulator});
                args[1]
                    .eval(Env {
                        element: Some(&scope),
                        ..env
                    })
                    .into_owned()
            }))
        }
        Op::Merge => owned(Value::Array(
            args.iter()
                .flat_map(|a| match a.eval(env).into_owned() {
                    Value::Array(items) => items,
                    other => vec![other],
                })
                .collect(),
        )),
        Op::In => {
            let (needle, haystack) = (arg(0).unwrap_or_default(), arg(1).unwrap_or_default());
            owned(Value::Bool(match &*haystack {
                Value::String(text) => text.contains(&to_text(&needle)),
                Value::Array(items) => items.iter().any(|item| strict_eq(&needle, item)),
                _ => false,
            }))
        }
        Op::Missing | Op::MissingSome => owned(missing(op, args, env)),
        Op::Cat => owned(Value::String(
            args.iter().map(|a| to_text(&a.eval(env))).collect(),
        )),
        Op::Substr => {
            let text: Vec<char> = to_text(&arg(0).unwrap_or_default()).chars().collect();
            let length = text.len() as f64;
            let start = to_number(&arg(1).unwrap_or_default()).trunc();
            let start = if start < 0.0 {
                (length + start).max(0.0)
            } else {
                start.min(length)
            };
            let end = match arg(2).map(|n| to_number(&n).trunc()) {
                None => length,
                Some(n) if n < 0.0 => (length + n).max(start),
                Some(n) => (start + n).min(length),
            };
            let (start, end) = (start as usize, end.max(start) as usize);
            owned(Value::String(text[start..end].iter().collect()))
        }
        Op::StartsWith | Op::EndsWith => {
            let (text, affix) = (arg(0).unwrap_or_default(), arg(1).unwrap_or_default());
            owned(Value::Bool(match (text.as_str(), affix.as_str()) {
                (Some(text), Some(affix)) if op == Op::StartsWith => text.starts_with(affix),
                (Some(text), Some(affix)) => text.ends_with(affix),
                _ => false,
            }))
        }
        _ => Cow::Owned(Value::Null),
    }
}

/// The keys (variable paths) whose value is null or `""`; for `missing_some`, none unless fewer
/// than the minimum are present.
fn missing(op: Op, args: &[Expr], env: Env<'_>) -> Value {
    let values: Vec<Value> = args.iter().map(|a| a.eval(env).into_owned()).collect();
    let (needed, keys) = match (op, values.as_slice()) {
        (Op::MissingSome, [needed, Value::Array(keys)]) => (Some(to_number(needed)), keys.clone()),
        (Op::MissingSome, _) => (None, Vec::new()),
        (_, [Value::Array(keys), ..]) => (None, keys.clone()),
        _ => (None, values),
    };
    let total = keys.len();
    let absent: Vec<Value> = keys
        .into_iter()
        .filter(|key| {
            let value = env.lookup(&to_text(key));
            value.is_null() || value.as_str() == Some("")
        })
        .collect();
    match needed {
        Some(needed) if (total - absent.len()) as f64 >= needed => Value::Array(Vec::new()),
        _ => Value::Array(absent),
    }
}
