//! Erased customers in the event log: the `erased` table (by pseudonym) and its copy in memory,
//! erasing a customer's events, and the suppression of their snapshot profile.

use super::{EventLog, EventLogError, Origin, Outbound, Outgoing};
use crate::privacy::{Erasure, Pseudonyms};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A customer erased here or in the fleet, as the log keeps it (by pseudonym).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Erased {
    /// When the customer was (last) erased, ms since the Unix epoch: their events at or before
    /// it are forgotten.
    pub at_ms: i64,
    /// Their snapshot profile is served as anonymous: until a snapshot without them is loaded.
    pub snapshot_suppressed: bool,
}

/// What erasing a customer removed from the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasedEvents {
    /// Their events removed from the log (and from the outbox, when there).
    pub events: u64,
    /// Whether they had been erased before.
    pub again: bool,
}

impl EventLog {
    /// The pseudonyms customers are erased under.
    pub fn pseudonyms(&self) -> &Pseudonyms {
        &self.pseudonyms
    }

    /// Whether `customer_id` was erased, and how.
    pub fn erased(&self, customer_id: &str) -> Option<Erased> {
        let erased = self.erased.read().unwrap_or_else(|p| p.into_inner());
        if erased.is_empty() {
            return None;
        }
        erased.get(&self.pseudonyms.label(customer_id)).copied()
    }

    /// How many customers were erased.
    pub fn erased_count(&self) -> usize {
        self.erased.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The pseudonyms of the customers whose snapshot profile is suppressed.
    pub fn suppressed(&self) -> HashSet<String> {
        let erased = self.erased.read().unwrap_or_else(|p| p.into_inner());
        erased
            .iter()
            .filter(|(_, e)| e.snapshot_suppressed)
            .map(|(label, _)| label.clone())
            .collect()
    }

    /// Ends the suppression of erased customers a loaded snapshot no longer holds (`present`:
    /// the pseudonyms of the suppressed customers it does hold).
    pub fn lift_suppression(&self, present: &HashSet<String>) -> Result<usize, EventLogError> {
        let lifted: Vec<(String, Erased)> = {
            let erased = self.erased.read().unwrap_or_else(|p| p.into_inner());
            erased
                .iter()
                .filter(|(label, e)| e.snapshot_suppressed && !present.contains(*label))
                .map(|(label, e)| {
                    let mut e = *e;
                    e.snapshot_suppressed = false;
                    (label.clone(), e)
                })
                .collect()
        };
        if lifted.is_empty() {
            return Ok(0);
        }
        self.write(|t| {
            for (label, record) in &lifted {
                let bytes = serde_json::to_vec(record).map_err(|e| self.json(e))?;
                t.erased
                    .insert(label.as_str(), bytes.as_slice())
                    .map_err(|e| self.error(e))?;
            }
            Ok(())
        })?;
        let mut erased = self.erased.write().unwrap_or_else(|p| p.into_inner());
        for (label, record) in lifted.iter() {
            erased.insert(label.clone(), *record);
        }
        Ok(lifted.len())
    }

    /// Forgets a customer in one fsync'd commit: removes their events (and their ids, and any
    /// of them still in the outbox) and records the erasure, so their snapshot profile is
    /// suppressed and their events from before `erasure.at_ms` are dropped when they arrive
    /// later. An erasure accepted here (`Origin::Local`) goes to the outbox for the fleet.
    /// Erasing again moves the erasure time forward (events since the first erasure go too).
    pub fn erase(&self, erasure: &Erasure, origin: Origin) -> Result<ErasedEvents, EventLogError> {
        let to_outbox =
            origin == Origin::Local && self.outbox.load(std::sync::atomic::Ordering::Acquire);
        let label = self.pseudonyms.label(&erasure.customer_id);
        let accepted_ms = crate::clock::now_ms();
        let (erased, record) = self.write(|t| {
            let mut erased = ErasedEvents::default();
            let customer = self.id(&erasure.customer_id);
            let start = format!("{customer}\0");
            let end = format!("{customer}\u{1}");
            let mut ids = Vec::new();
            for entry in t
                .events
                .extract_from_if(start.as_str()..end.as_str(), |_, _| true)
                .map_err(|e| self.error(e))?
            {
                let (key, _) = entry.map_err(|e| self.error(e))?;
                if let Some(id) = key.value().splitn(3, '\0').nth(2) {
                    ids.push(id.to_owned());
                }
                erased.events += 1;
            }
            for id in &ids {
                t.ids.remove(id.as_str()).map_err(|e| self.error(e))?;
            }
            let mut queued = Vec::new();
            for entry in t.outbox.iter().map_err(|e| self.error(e))? {
                let (seq, value) = entry.map_err(|e| self.error(e))?;
                let outgoing: Outgoing =
                    self.decode(&super::outbox_place(seq.value()), value.value())?;
                // Their events only: an earlier erasure of theirs still has to reach the fleet.
                if matches!(&outgoing.item, Outbound::Event(e) if e.customer_id == erasure.customer_id) {
                    queued.push(seq.value());
                }
            }
            for seq in queued {
                t.outbox.remove(seq).map_err(|e| self.error(e))?;
            }
            let before = match t.erased.get(label.as_str()).map_err(|e| self.error(e))? {
                Some(value) => Some(
                    serde_json::from_slice::<Erased>(value.value()).map_err(|e| self.json(e))?,
                ),
                None => None,
            };
            erased.again = before.is_some();
            let record = Erased {
                at_ms: before.map_or(erasure.at_ms, |b| b.at_ms.max(erasure.at_ms)),
                snapshot_suppressed: true,
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| self.json(e))?;
            t.erased
                .insert(label.as_str(), bytes.as_slice())
                .map_err(|e| self.error(e))?;
            if to_outbox {
                let seq = t
                    .meta
                    .get("next_seq")
                    .map_err(|e| self.error(e))?
                    .map_or(1, |v| v.value());
                let outgoing = Outgoing {
                    seq,
                    accepted_ms,
                    item: Outbound::Erasure(erasure.clone()),
                };
                let bytes = self.encode(&super::outbox_place(seq), &outgoing)?;
                t.outbox
                    .insert(seq, bytes.as_slice())
                    .map_err(|e| self.error(e))?;
                t.meta
                    .insert("next_seq", seq + 1)
                    .map_err(|e| self.error(e))?;
            }
            Ok((erased, record))
        })?;
        self.erased
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label, record);
        Ok(erased)
    }
}
