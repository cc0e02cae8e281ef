//! One rule: a name, an optional condition (`when`) and schedule, and what it serves (`then`).

use super::{Creative, Experiment};
use crate::logic::{Compiler, Expr, Slot};
use crate::problem::{Problems, field};
use crate::schedule::Schedule;
use serde_json::Value;

pub(crate) const FIELDS: &[&str] = &["name", "description", "when", "schedule", "then"];

#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    /// `None`: every request with personalization consent.
    pub(crate) when: Option<Expr>,
    pub(crate) schedule: Option<Schedule>,
    pub(crate) then: Then,
}

/// What a rule that applies serves.
#[derive(Debug)]
pub(crate) enum Then {
    Creative(Creative),
    Experiment(Experiment),
}

impl Rule {
    pub(crate) fn parse(
        value: &Value,
        path: &str,
        slots: &mut Vec<Slot>,
        problems: &mut Problems,
    ) -> Option<Rule> {
        let object = problems.object(value, path)?;
        problems.deny_unknown(object, path, FIELDS);
        let name = problems
            .required(object, path, "name")
            .and_then(|name| problems.name(name, &field(path, "name")));
        if let Some(description) = object.get("description")
            && !description.is_string()
        {
            problems.add(&field(path, "description"), "must be a string");
        }
        let when = object
            .get("when")
            .map(|when| Compiler::new(problems, slots).condition(when, &field(path, "when")));
        let schedule = object
            .get("schedule")
            .map(|s| Schedule::parse(s, &field(path, "schedule"), problems));
        let then = problems
            .required(object, path, "then")
            .and_then(|then| parse_then(then, &field(path, "then"), problems));
        Some(Rule {
            name: name?,
            when,
            // A schedule with problems refuses the whole document.
            schedule: schedule.flatten(),
            then: then?,
        })
    }
}

/// `{"variant": …, "render": …}` or `{"experiment": …}`.
fn parse_then(value: &Value, path: &str, problems: &mut Problems) -> Option<Then> {
    let object = problems.object(value, path)?;
    match object.get("experiment") {
        Some(experiment) => {
            problems.deny_unknown(object, path, &["experiment"]);
            Experiment::parse(experiment, &field(path, "experiment"), problems)
                .map(Then::Experiment)
        }
        None => Creative::parse(value, path, problems).map(Then::Creative),
    }
}
