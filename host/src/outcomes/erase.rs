//! Erasing a unit (a customer, or an anonymous visitor) from the outcome store: its records
//! leave the log ([`super::log::OutcomeLog::erase`]), its state leaves every tally, and records
//! of it that other nodes made before the erasure are not taken in again.
//!
//! An erasure is a job of the outcome thread, so everything queued before it is counted and
//! written first and is erased with the rest. The counts are then rebuilt by replaying the
//! rewritten log, as a restart does: the unit's arms, latest exposures, impressions and
//! decisions go, and every aggregate is what a restart would count. Counts the log could not
//! take (a failed write) exist only in memory; a rebuild drops them, as a restart would.

use super::log::LogError;
use super::{Counted, Job, Outcomes, lock};
use rustc_hash::FxHashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard};

/// The records an erasure removed from this node's outcome log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasedOutcomes {
    pub exposures: u64,
    pub conversions: u64,
}

/// An erasure did not complete.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("cannot rewrite the outcome log without the unit")]
    Log(#[from] LogError),
    #[error("the outcome store has stopped")]
    Stopped,
}

/// Tells whether a unit was erased at or after a time: `forgotten(unit, at_ms)`.
pub type Forgotten = Arc<dyn Fn(&str, i64) -> bool + Send + Sync>;

/// An erasure waiting for the outcome thread.
#[derive(Debug)]
pub(super) struct Request {
    unit: String,
    erased_at_ms: i64,
    reply: SyncSender<Result<ErasedOutcomes, EraseError>>,
}

/// Which units are erased: as the node was told, and as this store erased them since it
/// started (so a record cannot come back before the node's list has it).
#[derive(Default)]
pub(super) struct Forgetting {
    told: Mutex<Option<Forgotten>>,
    /// Units erased here, with their latest erasure's time.
    erased: Mutex<FxHashMap<String, i64>>,
}

impl std::fmt::Debug for Forgetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forgetting")
            .field("told", &lock(&self.told).is_some())
            .field("erased", &lock(&self.erased).len())
            .finish()
    }
}

/// What the outcome thread checks another node's records against, for one batch.
pub(super) struct Filter<'a> {
    told: Option<Forgotten>,
    erased: MutexGuard<'a, FxHashMap<String, i64>>,
}

impl Filter<'_> {
    /// Whether a record of `unit` made at `at_ms` is of an erased unit.
    pub(super) fn is_forgotten(&self, unit: &str, at_ms: i64) -> bool {
        self.erased.get(unit).is_some_and(|&erased| at_ms <= erased)
            || self.told.as_ref().is_some_and(|told| told(unit, at_ms))
    }
}

impl Forgetting {
    pub(super) fn filter(&self) -> Filter<'_> {
        Filter {
            told: lock(&self.told).clone(),
            erased: lock(&self.erased),
        }
    }

    fn erased(&self, unit: &str, erased_at_ms: i64) {
        let mut erased = lock(&self.erased);
        let at = erased.entry(unit.to_owned()).or_insert(erased_at_ms);
        *at = (*at).max(erased_at_ms);
    }
}

impl Outcomes {
    /// Removes everything this store holds about `unit`: its exposures and conversions from
    /// every segment of the log (durably, before it returns) and its state from every count.
    /// Blocks until the outcome thread has done it, after everything queued before. Erasing a
    /// unit with nothing left returns zeros. Other nodes' records of the unit made at or before
    /// `erased_at_ms` are dropped from then on (see also [`Outcomes::set_forgotten`]).
    pub fn erase(&self, unit: &str, erased_at_ms: i64) -> Result<ErasedOutcomes, EraseError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let request = Request {
            unit: unit.to_owned(),
            erased_at_ms,
            reply,
        };
        self.enqueue(Job::Erase(request), 0);
        answer.recv().map_err(|_| EraseError::Stopped)?
    }

    /// Tells the store which units are erased: `forgotten(unit, at_ms)` is true when `unit`
    /// was erased at or after `at_ms`. Another node's records it is true for are neither
    /// counted nor kept. (This node's own exposures after an erasure are new decisions.)
    pub fn set_forgotten(&self, forgotten: Forgotten) {
        *lock(&self.forgotten.told) = Some(forgotten);
    }

    /// Runs an erasure (on the outcome thread).
    pub(super) fn erase_now(&self, request: Request) {
        let Request {
            unit,
            erased_at_ms,
            reply,
        } = request;
        self.forgotten.erased(&unit, erased_at_ms);
        let result = self.log.erase(&unit);
        let unwritten = self.unwritten.swap(0, Ordering::Relaxed);
        // A failed rewrite may have changed some segments; counts only in memory may hold
        // the unit.
        let changed = result
            .as_ref()
            .map_or(true, |e| e.exposures + e.conversions > 0);
        if changed || unwritten > 0 {
            if unwritten > 0 {
                tracing::warn!(
                    records = unwritten,
                    "outcome counts the log could not take are dropped by an erasure's rebuild, as a restart would drop them"
                );
            }
            self.rebuild();
        }
        match &result {
            Ok(erased) => {
                self.metrics
                    .outcome_erased
                    .inc_by(erased.exposures + erased.conversions);
                tracing::info!(
                    exposures = erased.exposures,
                    conversions = erased.conversions,
                    "a unit's outcome records erased"
                )
            }
            Err(error) => {
                tracing::error!(error = %crate::report::chain(error), "cannot erase a unit's outcome records")
            }
        }
        let _ = reply.send(result.map_err(EraseError::from));
    }

    /// Replaces every count with what replaying the log gives (what a restart counts).
    fn rebuild(&self) {
        let node = lock(&self.tally).fleet.as_ref().map(|f| f.node.clone());
        let mut counted = Counted::new(node);
        let mut records = 0u64;
        let skipped = self.log.replay(|record| {
            counted.apply(&record);
            records += 1;
        });
        let replaced = std::mem::replace(&mut *lock(&self.tally), counted);
        drop(replaced);
        tracing::info!(
            records,
            skipped,
            "outcome counts rebuilt from the log after an erasure"
        );
    }
}

#[cfg(test)]
#[path = "erase/tests.rs"]
mod tests;
