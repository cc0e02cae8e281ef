//! Automatic rollback: watches the failure rate of canaries and of newly activated versions over
//! a sliding window, and their latency and cost against the guardrails, and takes a version out
//! of service when it passes a threshold.

use super::Lifecycle;
use super::guard::Guardrails;
use super::rollback::Trigger;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// When a version is rolled back on its own.
#[derive(Debug, Clone, Copy)]
pub struct AutoRollback {
    /// Failure share (traps, timeouts, limits, invalid output, policy errors) above which a
    /// watched version is rolled back; 0 disables automatic rollback.
    pub error_rate: f64,
    /// Decisions the window must hold before the rate is judged.
    pub min_decisions: u64,
    /// The sliding window the rate is taken over.
    pub window: Duration,
    /// How long a newly activated version stays watched (canaries are watched until they end).
    pub watch: Duration,
    /// How often the monitor samples.
    pub interval: Duration,
    /// Latency and cost budgets (judged over the version's decisions since it was installed).
    pub guard: Guardrails,
}

impl Default for AutoRollback {
    fn default() -> Self {
        AutoRollback {
            error_rate: 0.05,
            min_decisions: 50,
            window: Duration::from_secs(60),
            watch: Duration::from_secs(600),
            interval: Duration::from_secs(1),
            guard: Guardrails::default(),
        }
    }
}

/// Samples of one version's counters, oldest first.
type Samples = VecDeque<(Instant, u64, u64)>;

/// Runs until the task is dropped: every `interval`, judges each watched version.
pub async fn monitor(lifecycle: Arc<Lifecycle>) {
    let settings = lifecycle.config.auto_rollback;
    if settings.error_rate <= 0.0 && !settings.guard.any() {
        return;
    }
    let mut samples: HashMap<String, Samples> = HashMap::new();
    let mut ticker = tokio::time::interval(settings.interval);
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        let mut verdicts = Vec::new();
        let state = lifecycle.state();
        for (name, entry) in lifecycle.registry.list() {
            let has_previous = state
                .policies
                .get(&name)
                .is_some_and(|r| !r.previous.is_empty());
            let watched = entry.canary.iter().map(|c| (&c.version, true)).chain(
                (has_previous && entry.active.installed_at.elapsed() < settings.watch)
                    .then_some((&entry.active, false)),
            );
            for (version, is_canary) in watched {
                seen.insert(version.digest.clone());
                let history = samples.entry(version.digest.clone()).or_default();
                history.push_back((
                    now,
                    version.health.decisions.load(Ordering::Relaxed),
                    version.health.failures.load(Ordering::Relaxed),
                ));
                while history
                    .front()
                    .is_some_and(|(at, _, _)| now.duration_since(*at) > settings.window)
                {
                    history.pop_front();
                }
                let failing = (settings.error_rate > 0.0)
                    .then(|| judge(history, &settings))
                    .flatten();
                let baseline = if is_canary {
                    Some(entry.active.cost.summary())
                } else {
                    version.baseline().copied()
                };
                let guarded = || {
                    let (guard, reason) = settings.guard.judge(
                        &version.cost.summary(),
                        baseline.as_ref(),
                        settings.min_decisions,
                    )?;
                    Some((
                        format!("{} guardrail: {reason}", guard.as_str()),
                        Some(guard),
                    ))
                };
                if let Some((reason, guard)) = failing.map(|r| (r, None)).or_else(guarded) {
                    verdicts.push((
                        name.clone(),
                        version.digest.clone(),
                        is_canary,
                        reason,
                        guard,
                    ));
                }
            }
        }
        samples.retain(|digest, _| seen.contains(digest));
        for (name, digest, is_canary, reason, guard) in verdicts {
            samples.remove(&digest);
            let worker = lifecycle.clone();
            let policy = name.clone();
            let acted = tokio::task::spawn_blocking(move || {
                // Only if the judged version is still the one serving: checked under the
                // change lock, so a version published since is not the one taken out.
                let reason = Some(format!("{reason} ({digest})"));
                if is_canary {
                    worker.abort_canary_version(&name, &digest, Trigger::Automatic, reason)
                } else {
                    worker.rollback_version(&name, &digest, Trigger::Automatic, reason)
                }
            })
            .await;
            match acted {
                Ok(Ok(Some(_))) => {
                    if let Some(guard) = guard {
                        lifecycle
                            .metrics
                            .guardrail_rollback(&policy, guard.as_str());
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(error = %crate::report::chain(&error), "automatic rollback failed")
                }
                _ => {}
            }
        }
    }
}

/// A reason to roll back, if the window's failure rate is over the threshold.
fn judge(history: &Samples, settings: &AutoRollback) -> Option<String> {
    let (_, last_decisions, last_failures) = *history.back()?;
    // Over the window: the change since its oldest sample. A version seen once has only its
    // counts since it was installed, which are its window so far.
    let (decisions, failures) = match history.front() {
        Some(&(_, first_decisions, first_failures)) if history.len() > 1 => (
            last_decisions.saturating_sub(first_decisions),
            last_failures.saturating_sub(first_failures),
        ),
        _ => (last_decisions, last_failures),
    };
    if decisions < settings.min_decisions.max(1) {
        return None;
    }
    let rate = failures as f64 / decisions as f64;
    (rate > settings.error_rate).then(|| {
        format!(
            "failure rate {:.1}% over {decisions} decisions passed the {:.1}% threshold",
            rate * 100.0,
            settings.error_rate * 100.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_the_window_not_the_lifetime() {
        let settings = AutoRollback {
            min_decisions: 10,
            ..AutoRollback::default()
        };
        let t = Instant::now();
        let healthy: Samples = [(t, 1000, 900), (t, 1100, 900)].into();
        assert!(judge(&healthy, &settings).is_none());
        let failing: Samples = [(t, 1000, 0), (t, 1100, 50)].into();
        assert!(judge(&failing, &settings).unwrap().contains("50.0%"));
        let too_few: Samples = [(t, 0, 0), (t, 5, 5)].into();
        assert!(judge(&too_few, &settings).is_none());
        let first_sample: Samples = [(t, 20, 20)].into();
        assert!(judge(&first_sample, &settings).is_some());
    }
}
