//! Forgetting a customer: `POST /admin/v1/customers/{id}/erase` here, or an erasure another
//! node of the fleet accepted.
//!
//! In order, each step durable before the next: the event log removes the customer's events
//! (and any still in the outbox) and records the erasure, which suppresses their snapshot
//! profile and drops their older events arriving later ([`crate::profiles::Profiles::erase`]);
//! the outcome log removes their exposures and conversions; the audit log records who erased
//! whom (by pseudonym) and when. Each step is idempotent, so an erasure cut short by a crash is
//! completed by asking again (the answer comes only once every step is done), and one from the
//! fleet by its re-delivery (acknowledged only once every step is done).

use crate::outcomes::{ErasedOutcomes, Outcomes};
use crate::profiles::events::{EventLogError, Origin};
use crate::profiles::{Profiles, StoreError};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The audit log under the data directory: one JSON line per erasure, fsync'd.
const AUDIT_FILE: &str = "erasures.ndjson";

/// An erasure as it travels between nodes (the fleet's stream, the outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    pub customer_id: String,
    /// When the node that accepted it did, ms since the Unix epoch: the customer's events at or
    /// before it are forgotten wherever they arrive later.
    pub at_ms: i64,
}

/// An erasure could not be completed; names the store. Asking again completes it.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("erasing from the profiles")]
    Profiles(#[source] StoreError),
    #[error("erasing from the outcome log")]
    Outcomes(#[source] crate::outcomes::EraseError),
    #[error("erasure audit log {path}")]
    Audit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<EventLogError> for ErasureError {
    fn from(error: EventLogError) -> Self {
        ErasureError::Profiles(StoreError::Events(error))
    }
}

/// What an erasure removed, as the audit log keeps it and the API answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureReport {
    /// The customer's pseudonym (the id itself is kept nowhere).
    pub customer: String,
    pub at_ms: i64,
    /// Who asked: `admin token`, `console (admin)`, or `fleet (<node>)` for an erasure another
    /// node accepted.
    pub by: String,
    /// Their events removed from the event log.
    pub events: u64,
    /// Their exposures and conversions removed from the outcome log.
    pub exposures: u64,
    pub conversions: u64,
    /// Whether their profile was in the cache.
    pub cached_profile: bool,
    /// Whether the serving snapshot holds them: served as anonymous until a snapshot without
    /// them is loaded.
    pub snapshot_profile_suppressed: bool,
    /// Whether they had been erased before.
    pub again: bool,
}

/// Erases customers and keeps the audit log.
#[derive(Debug)]
pub struct Eraser {
    profiles: Arc<Profiles>,
    outcomes: Option<Arc<Outcomes>>,
    audit_path: PathBuf,
    audit: Mutex<()>,
}

impl Eraser {
    /// Also tells the outcome store which units are erased, so other nodes' records of them
    /// that arrive later are dropped.
    pub fn new(data_dir: &Path, profiles: Arc<Profiles>, outcomes: Option<Arc<Outcomes>>) -> Self {
        if let Some(outcomes) = &outcomes {
            let erased = profiles.clone();
            outcomes.set_forgotten(Arc::new(move |unit: &str, at_ms: i64| {
                erased
                    .event_log()
                    .erased(unit)
                    .is_some_and(|e| at_ms <= e.at_ms)
            }));
        }
        Eraser {
            profiles,
            outcomes,
            audit_path: data_dir.join(AUDIT_FILE),
            audit: Mutex::new(()),
        }
    }

    /// Forgets a customer (blocking: several fsync'd writes). `by` says who asked; an erasure
    /// accepted here (`Origin::Local`) is sent to the fleet.
    pub fn erase(
        &self,
        erasure: &Erasure,
        by: &str,
        origin: Origin,
    ) -> Result<ErasureReport, ErasureError> {
        let profile = self
            .profiles
            .erase(erasure, origin)
            .map_err(ErasureError::Profiles)?;
        let outcomes = match &self.outcomes {
            Some(outcomes) => outcomes
                .erase(&erasure.customer_id, erasure.at_ms)
                .map_err(ErasureError::Outcomes)?,
            None => ErasedOutcomes::default(),
        };
        let report = ErasureReport {
            customer: self.profiles.pseudonym(&erasure.customer_id),
            at_ms: erasure.at_ms,
            by: by.to_owned(),
            events: profile.events,
            exposures: outcomes.exposures,
            conversions: outcomes.conversions,
            cached_profile: profile.cached,
            snapshot_profile_suppressed: profile.in_snapshot,
            again: profile.again,
        };
        self.record(&report)?;
        tracing::info!(
            customer = %report.customer,
            by = %report.by,
            events = report.events,
            exposures = report.exposures,
            conversions = report.conversions,
            "customer erased"
        );
        Ok(report)
    }

    /// Appends to the audit log, synced before this returns.
    fn record(&self, report: &ErasureReport) -> Result<(), ErasureError> {
        let io = |source| ErasureError::Audit {
            path: self.audit_path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(report).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        let _guard = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.audit_path)
            .map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<ErasureReport>, ErasureError> {
        let io = |source| ErasureError::Audit {
            path: self.audit_path.clone(),
            source,
        };
        let file = match std::fs::File::open(&self.audit_path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io(error)),
        };
        let mut entries = std::collections::VecDeque::with_capacity(limit.min(1024));
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(io)?;
            // A line torn by a crash mid-write is skipped; the erasure it belonged to was not
            // answered and is completed (and recorded) when asked again.
            let Ok(entry) = serde_json::from_str::<ErasureReport>(&line) else {
                continue;
            };
            if entries.len() == limit {
                entries.pop_front();
            }
            if limit > 0 {
                entries.push_back(entry);
            }
        }
        Ok(entries.into_iter().rev().collect())
    }
}

/// Why a customer id cannot be erased, for the API's error (which names `id`). Only the empty
/// one: any id an event or a snapshot can carry can be erased.
pub fn check_customer_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the customer id is empty".into());
    }
    Ok(())
}
