//! Real-time customer events: a durable log on disk (redb, committed with fsync before the
//! caller acknowledges) and the overlay that applies a customer's events newer than the
//! snapshot to their profile.
//!
//! With a broker configured the log is also the fleet's outbox: every event this node accepts
//! gets a sequence number in the same transaction, and stays in the outbox until the broker
//! has acknowledged it (`crate::fleet`). Events other nodes accepted are appended without one.
//!
//! With a data key the log is encrypted at rest: customer and event ids in its keys are keyed
//! hashes, and every event and outbox entry is sealed (AES-256-GCM, bound to its key), under
//! the log's own keys derived from the data key and a salt the log keeps (`sealing`); a log
//! written without encryption is refused with one, and the other way round.
//!
//! The log also keeps the customers erased here or in the fleet (by pseudonym, with the time of
//! their erasure): their events are removed, and an event of theirs from before the erasure that
//! arrives later (re-sent, or replayed from the fleet's stream) is dropped.

mod erasure;
mod holders;
#[cfg(test)]
mod tests;

pub use erasure::{Erased, ErasedEvents};

use crate::privacy::{CipherError, DataKey, Erasure, Pseudonyms, Sealing, StoreCipher};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tailor_types::{Consent, Event, Loyalty, Profile};

/// `customer_id \0 at_ms (20 digits) \0 event_id` → event JSON.
const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("events");
/// `event_id` → `customer_id`, to ignore re-sent events.
const EVENT_IDS: TableDefinition<&str, &str> = TableDefinition::new("event_ids");
/// Outbox sequence number → `Outgoing` JSON: accepted here, not yet acknowledged by the broker.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// `sealing` → the log's `Sealing` JSON, when it is encrypted.
const SEALING: TableDefinition<&str, &str> = TableDefinition::new("sealing");
/// The file's name, and the store name its keys are derived for.
const FILE: &str = "events.redb";
/// Customer pseudonym → `Erased` JSON: customers erased here or in the fleet.
const ERASED: TableDefinition<&str, &[u8]> = TableDefinition::new("erased");
/// `next_seq` → the outbox sequence number the next accepted event gets; `joined` → 1 once
/// this log has a consumer position in the fleet's stream.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Events kept per customer in a profile's `recent_events`.
pub const RECENT_EVENTS_KEPT: usize = 50;

/// A customer event as channels send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerEvent {
    /// Unique per event: a re-sent id is ignored.
    pub event_id: String,
    pub customer_id: String,
    /// `page_view`, `product_view`, `add_to_cart`, `purchase`, `store_visit`,
    /// `consent_change`, `loyalty_change` …
    pub kind: String,
    #[serde(deserialize_with = "tailor_types::integer::deserialize")]
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// For `consent_change`: the customer's consent from now on.
    #[serde(
        default,
        deserialize_with = "tailor_types::object::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consent: Option<Consent>,
    /// For `loyalty_change`: the new tier and points.
    #[serde(
        default,
        deserialize_with = "tailor_types::object::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub loyalty: Option<Loyalty>,
    /// The decision this event is an outcome of (`decision_id` of a `/v1/decide` answer): the
    /// event is attributed to that decision's exposures only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// With `decision_id`: the slot of that decision the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
}

/// An event log operation failed; names the file.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("event log {path}")]
    Database {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("event log {path}: an event cannot be encoded or decoded")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("event log {path}")]
    Cipher {
        path: PathBuf,
        #[source]
        source: CipherError,
    },
}

/// What this node accepted, waiting in the outbox for the broker's acknowledgment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    #[serde(skip)]
    pub seq: u64,
    /// When this node acknowledged it (wall clock, ms): replication latency is measured from here.
    pub accepted_ms: i64,
    #[serde(flatten)]
    pub item: Outbound,
}

/// An entry of the outbox: `{"event": …}` (the format before erasures) or `{"erasure": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outbound {
    Event(CustomerEvent),
    Erasure(Erasure),
}

impl Outbound {
    /// The customer it is about.
    pub fn customer_id(&self) -> &str {
        match self {
            Outbound::Event(event) => &event.customer_id,
            Outbound::Erasure(erasure) => &erasure.customer_id,
        }
    }
}

/// What appending a batch did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Appended {
    /// Events that were new.
    pub new: usize,
    /// Events skipped because their id was in the log already (or twice in the batch).
    pub duplicates: usize,
    /// The customers whose new events these are.
    pub touched: Vec<String>,
    /// The positions in the batch of the events that were new.
    pub fresh: Vec<usize>,
    /// Events dropped because their customer was erased after them.
    pub forgotten: usize,
}

impl Appended {
    /// The events of the batch that were new, in order.
    pub fn fresh_of(&self, batch: Vec<CustomerEvent>) -> Vec<CustomerEvent> {
        if self.fresh.len() == batch.len() {
            return batch;
        }
        let mut fresh = self.fresh.iter().peekable();
        batch
            .into_iter()
            .enumerate()
            .filter(|(i, _)| fresh.next_if_eq(&i).is_some())
            .map(|(_, event)| event)
            .collect()
    }
}

/// Where a batch of events was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// By this node (`POST /v1/events`): goes to the outbox when it is enabled.
    Local,
    /// By another node of the fleet, received from the broker.
    Remote,
}

/// The durable event log.
#[derive(Debug)]
pub struct EventLog {
    db: Database,
    path: PathBuf,
    /// Record accepted events in the outbox (a broker is configured).
    outbox: std::sync::atomic::AtomicBool,
    pseudonyms: Arc<Pseudonyms>,
    /// The log's cipher, when it is encrypted at rest.
    cipher: Option<StoreCipher>,
    /// The `erased` table in memory (it is read on every append and every store read).
    erased: RwLock<HashMap<String, Erased>>,
    /// The customers it holds events of, so a lookup of one without events reads nothing.
    holders: holders::Holders,
}

struct Tables<'t> {
    events: redb::Table<'t, &'static str, &'static [u8]>,
    ids: redb::Table<'t, &'static str, &'static str>,
    outbox: redb::Table<'t, u64, &'static [u8]>,
    meta: redb::Table<'t, &'static str, u64>,
    erased: redb::Table<'t, &'static str, &'static [u8]>,
}

/// An `events` key from the customer and event ids as the log stores them ([`EventLog::id`]).
fn key(customer: &str, at_ms: i64, event: &str) -> String {
    format!("{customer}\0{:020}\0{event}", at_ms.max(0))
}

impl EventLog {
    /// Opens (or creates) the log in `dir`; with `key`, encrypted (a new log) or checked to be
    /// encrypted with that key (an existing one).
    pub fn open(
        dir: &Path,
        pseudonyms: Arc<Pseudonyms>,
        key: Option<&DataKey>,
    ) -> Result<EventLog, EventLogError> {
        let path = dir.join(FILE);
        let existed = path.exists();
        let db = redb::Builder::new()
            .set_cache_size(crate::profiles::EVENT_LOG_CACHE_BYTES)
            .create(&path)
            .map_err(|e| EventLogError::Database {
                path: path.clone(),
                source: Box::new(e.into()),
            })?;
        let cipher = sealing(&db, &path, existed, key)?;
        let log = EventLog {
            db,
            path,
            outbox: std::sync::atomic::AtomicBool::new(false),
            pseudonyms,
            cipher,
            erased: RwLock::default(),
            holders: holders::Holders::default(),
        };
        // Create the tables so readers never find them missing.
        let erased = log.write(|t| {
            let mut erased = HashMap::new();
            for entry in t.erased.iter().map_err(|e| log.error(e))? {
                let (key, value) = entry.map_err(|e| log.error(e))?;
                let record: Erased =
                    serde_json::from_slice(value.value()).map_err(|e| log.json(e))?;
                erased.insert(key.value().to_owned(), record);
            }
            Ok(erased)
        })?;
        *log.erased.write().unwrap_or_else(|p| p.into_inner()) = erased;
        {
            let txn = log.db.begin_read().map_err(|e| log.error(e))?;
            let table = txn.open_table(EVENTS).map_err(|e| log.error(e))?;
            for entry in table.iter().map_err(|e| log.error(e))? {
                let (key, _) = entry.map_err(|e| log.error(e))?;
                if let Some((customer, _)) = key.value().split_once('\0') {
                    log.holders.insert(customer);
                }
            }
        }
        Ok(log)
    }

    /// From now on, events accepted here also go to the outbox, for the fleet forwarder.
    pub fn enable_outbox(&self) {
        self.outbox
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn error(&self, e: impl Into<redb::Error>) -> EventLogError {
        EventLogError::Database {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    fn cipher_error(&self, source: CipherError) -> EventLogError {
        EventLogError::Cipher {
            path: self.path.clone(),
            source,
        }
    }

    /// A customer or event id as the log's keys hold it: a keyed hash when encrypted.
    fn id<'a>(&self, id: &'a str) -> Cow<'a, str> {
        match &self.cipher {
            Some(cipher) => Cow::Owned(cipher.id_hash_hex(id)),
            None => Cow::Borrowed(id),
        }
    }

    /// JSON of `value`, sealed for `place` when the log is encrypted.
    fn encode<T: Serialize>(&self, place: &str, value: &T) -> Result<Vec<u8>, EventLogError> {
        let bytes = serde_json::to_vec(value).map_err(|e| self.json(e))?;
        match &self.cipher {
            Some(cipher) => cipher
                .seal(place.as_bytes(), &bytes)
                .map_err(|e| self.cipher_error(e)),
            None => Ok(bytes),
        }
    }

    /// A value [`EventLog::encode`] wrote for `place`.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        place: &str,
        bytes: &[u8],
    ) -> Result<T, EventLogError> {
        let opened;
        let bytes = match &self.cipher {
            Some(cipher) => {
                opened = cipher
                    .open(place.as_bytes(), bytes)
                    .map_err(|e| self.cipher_error(e))?;
                opened.as_slice()
            }
            None => bytes,
        };
        serde_json::from_slice(bytes).map_err(|e| self.json(e))
    }

    fn json(&self, source: serde_json::Error) -> EventLogError {
        EventLogError::Json {
            path: self.path.clone(),
            source,
        }
    }

    /// One fsync'd write transaction.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut Tables<'_>) -> Result<R, EventLogError>,
    ) -> Result<R, EventLogError> {
        self.write_with(Durability::Immediate, f)
    }

    fn write_with<R>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut Tables<'_>) -> Result<R, EventLogError>,
    ) -> Result<R, EventLogError> {
        let mut txn = self.db.begin_write().map_err(|e| self.error(e))?;
        txn.set_durability(durability).map_err(|e| self.error(e))?;
        let result = {
            let mut tables = Tables {
                events: txn.open_table(EVENTS).map_err(|e| self.error(e))?,
                ids: txn.open_table(EVENT_IDS).map_err(|e| self.error(e))?,
                outbox: txn.open_table(OUTBOX).map_err(|e| self.error(e))?,
                meta: txn.open_table(META).map_err(|e| self.error(e))?,
                erased: txn.open_table(ERASED).map_err(|e| self.error(e))?,
            };
            f(&mut tables)?
        };
        txn.commit().map_err(|e| self.error(e))?;
        Ok(result)
    }

    /// Appends a batch durably (one fsync'd commit); re-sent event ids (in the log or twice in
    /// the batch) are skipped. Events accepted here go to the outbox in the same commit when it
    /// is enabled.
    pub fn append(
        &self,
        batch: &[CustomerEvent],
        origin: Origin,
    ) -> Result<Appended, EventLogError> {
        let to_outbox =
            origin == Origin::Local && self.outbox.load(std::sync::atomic::Ordering::Acquire);
        let accepted_ms = crate::clock::now_ms();
        let erased = self.erased.read().unwrap_or_else(|p| p.into_inner());
        let forgotten = |event: &CustomerEvent| {
            !erased.is_empty()
                && erased
                    .get(&self.pseudonyms.label(&event.customer_id))
                    .is_some_and(|e| event.at_ms <= e.at_ms)
        };
        self.write(|t| {
            let mut appended = Appended::default();
            let mut touched = std::collections::HashSet::new();
            let mut seq = match to_outbox {
                true => t
                    .meta
                    .get("next_seq")
                    .map_err(|e| self.error(e))?
                    .map_or(1, |v| v.value()),
                false => 0,
            };
            for (position, event) in batch.iter().enumerate() {
                if forgotten(event) {
                    appended.forgotten += 1;
                    continue;
                }
                let event_id = self.id(&event.event_id);
                if t.ids
                    .get(event_id.as_ref())
                    .map_err(|e| self.error(e))?
                    .is_some()
                {
                    appended.duplicates += 1;
                    continue;
                }
                let customer = self.id(&event.customer_id);
                // Before the commit makes the event visible to lookups.
                self.holders.insert(&customer);
                let key = key(&customer, event.at_ms, &event_id);
                let bytes = self.encode(&key, event)?;
                t.events
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(|e| self.error(e))?;
                t.ids
                    .insert(event_id.as_ref(), customer.as_ref())
                    .map_err(|e| self.error(e))?;
                if to_outbox {
                    let outgoing = Outgoing {
                        seq,
                        accepted_ms,
                        item: Outbound::Event(event.clone()),
                    };
                    let bytes = self.encode(&outbox_place(seq), &outgoing)?;
                    t.outbox
                        .insert(seq, bytes.as_slice())
                        .map_err(|e| self.error(e))?;
                    seq += 1;
                }
                appended.new += 1;
                appended.fresh.push(position);
                if touched.insert(event.customer_id.as_str()) {
                    appended.touched.push(event.customer_id.clone());
                }
            }
            if to_outbox {
                t.meta.insert("next_seq", seq).map_err(|e| self.error(e))?;
            }
            Ok(appended)
        })
    }

    /// The oldest `limit` events in the outbox, in the order they were accepted.
    pub fn outbox(&self, limit: usize) -> Result<Vec<Outgoing>, EventLogError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(OUTBOX).map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))?.take(limit) {
            let (seq, value) = entry.map_err(|e| self.error(e))?;
            let mut outgoing: Outgoing = self.decode(&outbox_place(seq.value()), value.value())?;
            outgoing.seq = seq.value();
            out.push(outgoing);
        }
        Ok(out)
    }

    /// Whether this log has read the fleet's stream before (a log that has not, a new or wiped
    /// data directory, must read it from the start whatever its node id's consumer says).
    pub fn joined_fleet(&self) -> Result<bool, EventLogError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let meta = txn.open_table(META).map_err(|e| self.error(e))?;
        Ok(meta.get("joined").map_err(|e| self.error(e))?.is_some())
    }

    /// Records that this log has a consumer position in the fleet's stream.
    pub fn mark_joined_fleet(&self) -> Result<(), EventLogError> {
        self.write(|t| {
            t.meta.insert("joined", 1).map_err(|e| self.error(e))?;
            Ok(())
        })
    }

    /// Events in the outbox.
    /// Events held on top of the snapshot (the ones newer than it; older ones are pruned).
    pub fn held(&self) -> Result<u64, EventLogError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(EVENTS).map_err(|e| self.error(e))?;
        table.len().map_err(|e| self.error(e))
    }

    pub fn outbox_depth(&self) -> Result<u64, EventLogError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(OUTBOX).map_err(|e| self.error(e))?;
        table.len().map_err(|e| self.error(e))
    }

    /// Removes the outbox entries up to and including `seq`: the broker has them. Not fsync'd
    /// on its own (the next accepted event's commit makes it durable): a removal lost in a
    /// crash only re-sends events the stream and every consumer drop as duplicates, and the
    /// forwarder does not queue behind the accepting requests' fsyncs.
    pub fn forwarded(&self, seq: u64) -> Result<(), EventLogError> {
        self.write_with(Durability::None, |t| {
            t.outbox
                .retain_in(..=seq, |_, _| false)
                .map_err(|e| self.error(e))
        })
    }

    /// Drops events at or before `until_ms` (a snapshot generated then already contains them),
    /// with their ids: a re-sent old event would be older than the snapshot and ignored anyway.
    /// Returns how many were dropped.
    pub fn prune_until(&self, until_ms: i64) -> Result<usize, EventLogError> {
        let stale: Vec<(String, String)> = {
            let txn = self.db.begin_read().map_err(|e| self.error(e))?;
            let table = txn.open_table(EVENTS).map_err(|e| self.error(e))?;
            let mut stale = Vec::new();
            for entry in table.iter().map_err(|e| self.error(e))? {
                let (key, _) = entry.map_err(|e| self.error(e))?;
                let key = key.value();
                let mut parts = key.splitn(3, '\0');
                let (_, at, id) = (parts.next(), parts.next(), parts.next());
                if let (Some(at), Some(id)) = (at.and_then(|a| a.parse::<i64>().ok()), id)
                    && at <= until_ms
                {
                    stale.push((key.to_owned(), id.to_owned()));
                }
            }
            stale
        };
        if stale.is_empty() {
            return Ok(0);
        }
        self.write(|t| {
            for (key, id) in &stale {
                t.events.remove(key.as_str()).map_err(|e| self.error(e))?;
                t.ids.remove(id.as_str()).map_err(|e| self.error(e))?;
            }
            Ok(stale.len())
        })
    }

    /// A customer's events after `after_ms`, oldest first.
    pub fn events_after(
        &self,
        customer_id: &str,
        after_ms: i64,
    ) -> Result<Vec<CustomerEvent>, EventLogError> {
        let customer = self.id(customer_id);
        if !self.holders.may_hold(&customer) {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(EVENTS).map_err(|e| self.error(e))?;
        let start = format!("{customer}\0{:020}", after_ms.saturating_add(1).max(0));
        let end = format!("{customer}\u{1}");
        let mut out = Vec::new();
        for entry in table
            .range(start.as_str()..end.as_str())
            .map_err(|e| self.error(e))?
        {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            out.push(self.decode(key.value(), value.value())?);
        }
        Ok(out)
    }
}

/// Where an outbox entry is sealed for.
fn outbox_place(seq: u64) -> String {
    format!("outbox\0{seq}")
}

/// The log's cipher: a new log with a key is encrypted from its first commit; an existing one
/// is read as its `sealing` says, if the configured key agrees ([`crate::privacy::check`]).
fn sealing(
    db: &Database,
    path: &Path,
    existed: bool,
    key: Option<&DataKey>,
) -> Result<Option<StoreCipher>, EventLogError> {
    let failed = |e: redb::Error| EventLogError::Database {
        path: path.to_owned(),
        source: Box::new(e),
    };
    let cipher_error = |source| EventLogError::Cipher {
        path: path.to_owned(),
        source,
    };
    if !existed {
        let Some(key) = key else { return Ok(None) };
        let (cipher, sealing) = StoreCipher::new(key, FILE).map_err(cipher_error)?;
        let json = serde_json::to_string(&sealing).map_err(|source| EventLogError::Json {
            path: path.to_owned(),
            source,
        })?;
        let txn = db.begin_write().map_err(|e| failed(e.into()))?;
        txn.open_table(SEALING)
            .map_err(|e| failed(e.into()))?
            .insert("sealing", json.as_str())
            .map_err(|e| failed(e.into()))?;
        txn.commit().map_err(|e| failed(e.into()))?;
        return Ok(Some(cipher));
    }
    let txn = db.begin_read().map_err(|e| failed(e.into()))?;
    let found: Option<Sealing> =
        match txn.open_table(SEALING) {
            Ok(table) => match table.get("sealing").map_err(|e| failed(e.into()))? {
                Some(json) => Some(serde_json::from_str(json.value()).map_err(|source| {
                    EventLogError::Json {
                        path: path.to_owned(),
                        source,
                    }
                })?),
                None => None,
            },
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(failed(e.into())),
        };
    crate::privacy::check(FILE, found.as_ref(), key).map_err(cipher_error)
}

/// Applies events (oldest first) to a profile: recent events, category affinities, derived
/// segments (`cart_abandoner`), consent and loyalty changes.
pub fn apply(profile: &mut Profile, events: &[CustomerEvent]) {
    for event in events {
        match event.kind.as_str() {
            "consent_change" => {
                if let Some(consent) = event.consent {
                    profile.consent = consent;
                }
            }
            "loyalty_change" => {
                if let Some(loyalty) = &event.loyalty {
                    profile.loyalty = Some(loyalty.clone());
                }
            }
            kind => {
                let bump = match kind {
                    "product_view" | "page_view" => 0.05,
                    "add_to_cart" => 0.15,
                    "purchase" => 0.25,
                    _ => 0.0,
                };
                if let (Some(category), true) = (&event.category, bump > 0.0) {
                    match profile.affinities.iter_mut().find(|(c, _)| c == category) {
                        Some((_, score)) => *score = (*score + bump).min(1.0),
                        None => profile.affinities.push((category.clone(), bump)),
                    }
                }
                let segment = |p: &mut Profile, name: &str, on: bool| {
                    let has = p.in_segment(name);
                    if on && !has {
                        p.segments.push(name.to_owned());
                    } else if !on && has {
                        p.segments.retain(|s| s != name);
                    }
                };
                match kind {
                    "add_to_cart" => segment(profile, "cart_abandoner", true),
                    "purchase" => segment(profile, "cart_abandoner", false),
                    _ => {}
                }
            }
        }
        profile.recent_events.insert(
            0,
            Event {
                kind: event.kind.clone(),
                item_id: event.item_id.clone(),
                category: event.category.clone(),
                value: event.value,
                at_ms: event.at_ms,
            },
        );
    }
    profile
        .recent_events
        .sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    profile.recent_events.truncate(RECENT_EVENTS_KEPT);
}
