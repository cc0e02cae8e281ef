//! Latency and cost guardrails: a new or canary version whose decisions take too long or cost
//! too much CPU — past an absolute budget, or past a multiple of the version it replaces — is
//! judged like one that fails, and rolled back.

use crate::registry::CostSummary;
use std::time::Duration;

/// The budgets a watched version is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Guardrails {
    /// Most p99 wall-clock time per decision.
    pub p99: Option<Duration>,
    /// Most mean CPU time per decision (also the budget fixture cases are held to at publish).
    pub cpu: Option<Duration>,
    /// Most times the p99 or the mean CPU of the version it replaces.
    pub regression: Option<f64>,
}

/// A regression smaller than this is not judged, however many times the baseline it is:
/// going from 5 µs to 20 µs is noise on a busy node, not a slow version.
pub const REGRESSION_FLOOR: Duration = Duration::from_micros(100);

/// Which guardrail a version broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Latency,
    Cost,
}

impl Guard {
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::Latency => "latency",
            Guard::Cost => "cost",
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

impl Guardrails {
    /// Whether any budget is set.
    pub fn any(&self) -> bool {
        self.p99.is_some() || self.cpu.is_some() || self.regression.is_some()
    }

    /// The guardrail `current` breaks, with why, once it has `min_decisions` decisions;
    /// `baseline` is what the version it replaces cost (judged only when it also had that many).
    pub fn judge(
        &self,
        current: &CostSummary,
        baseline: Option<&CostSummary>,
        min_decisions: u64,
    ) -> Option<(Guard, String)> {
        if current.decisions < min_decisions.max(1) {
            return None;
        }
        let p99 = current.wall_ms.p99;
        let cpu = current.cpu_ms.mean;
        let n = current.decisions;
        if let Some(budget) = self.p99
            && p99 > budget
        {
            return Some((
                Guard::Latency,
                format!(
                    "p99 decision time {} over {n} decisions passed the {} budget",
                    ms(p99),
                    ms(budget)
                ),
            ));
        }
        if let Some(budget) = self.cpu
            && cpu > budget
        {
            return Some((
                Guard::Cost,
                format!(
                    "CPU per decision {} (mean of {n}) passed the {} budget",
                    ms(cpu),
                    ms(budget)
                ),
            ));
        }
        let (factor, base) = self.regression.zip(baseline)?;
        if base.decisions < min_decisions.max(1) {
            return None;
        }
        let regressed = |now: Duration, before: Duration| {
            now > before.mul_f64(factor) && now.saturating_sub(before) >= REGRESSION_FLOOR
        };
        let times =
            |now: Duration, before: Duration| now.as_secs_f64() / before.as_secs_f64().max(1e-9);
        if regressed(cpu, base.cpu_ms.mean) {
            return Some((
                Guard::Cost,
                format!(
                    "CPU per decision {} is {:.1}x the previous version's {}, past the {factor}x budget",
                    ms(cpu),
                    times(cpu, base.cpu_ms.mean),
                    ms(base.cpu_ms.mean)
                ),
            ));
        }
        if regressed(p99, base.wall_ms.p99) {
            return Some((
                Guard::Latency,
                format!(
                    "p99 decision time {} is {:.1}x the previous version's {}, past the {factor}x budget",
                    ms(p99),
                    times(p99, base.wall_ms.p99),
                    ms(base.wall_ms.p99)
                ),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Quantiles;

    fn cost(decisions: u64, cpu_us: u64, p99_us: u64) -> CostSummary {
        let q = |us| Quantiles {
            mean: Duration::from_micros(us),
            p50: Duration::from_micros(us),
            p99: Duration::from_micros(us),
        };
        CostSummary {
            decisions,
            cpu_ms: q(cpu_us),
            wall_ms: q(p99_us),
        }
    }

    #[test]
    fn absolute_budgets_and_regressions_are_judged_after_enough_decisions() {
        let guard = Guardrails {
            p99: Some(Duration::from_millis(5)),
            cpu: Some(Duration::from_millis(2)),
            regression: Some(3.0),
        };
        let fine = cost(100, 200, 300);
        assert_eq!(guard.judge(&fine, Some(&fine), 50), None);
        let (which, why) = guard.judge(&cost(100, 100, 6000), None, 50).unwrap();
        assert_eq!(which, Guard::Latency);
        assert!(
            why.contains("6.000 ms") && why.contains("5.000 ms"),
            "{why}"
        );
        assert_eq!(
            guard.judge(&cost(100, 2500, 3000), None, 50).unwrap().0,
            Guard::Cost
        );
        assert_eq!(
            guard.judge(&cost(10, 2500, 9000), None, 50),
            None,
            "too few"
        );
        // Ten times slower than its predecessor, within the absolute budgets.
        let (which, why) = guard
            .judge(&cost(100, 1900, 3000), Some(&fine), 50)
            .unwrap();
        assert_eq!(which, Guard::Cost);
        assert!(why.contains("9.5x"), "{why}");
        // A predecessor with too few decisions is no baseline.
        assert_eq!(
            guard.judge(&cost(100, 1900, 3000), Some(&cost(5, 200, 300)), 50),
            None
        );
        // Many times a tiny baseline, but under the floor: noise.
        assert_eq!(
            guard.judge(&cost(100, 40, 50), Some(&cost(100, 5, 6)), 50),
            None
        );
    }
}
