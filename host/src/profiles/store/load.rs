//! Loading a snapshot into a new store file: one thread reads the snapshot's lines (unsealing
//! and gunzipping on the way), every core parses batches of them, and one writer takes the
//! parsed batches in the snapshot's order, keeps those in the node's partition, encodes each profile against the store's dictionary,
//! seals it when the store is encrypted, and appends it; the index is written last, then the
//! header, and the finished file is mapped for reading.
//!
//! A bad line, an unreadable or damaged snapshot stops the load with the error of the first
//! failing line in the snapshot's order (the same error a one-threaded load would give), and the
//! half-written file is removed; the store serving until then keeps serving.

use super::codec::{self, Dictionary, Encoder, FORMAT_VERSION, Malformed};
use super::{EXTENSION, HEADER_LEN, Keys, MAGIC, ProfileStore, StoreError, index};
use crate::privacy::{DataKey, StoreCipher};
use crate::profiles::partition::Partition;
use crate::profiles::snapshot::{self, Line, SnapshotError};
use memmap2::Mmap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use tailor_types::Profile;

/// Lines parsed as one batch.
const BATCH_LINES: usize = 512;
/// Batches read ahead of the writer, per parsing thread.
const AHEAD: usize = 4;

/// What a parsing thread hands the writer: a batch's profiles, or the first error in it.
type Parsed = Result<Vec<Profile>, SnapshotError>;
/// A batch of lines to parse, and where its result goes.
type Job = (Vec<Line>, SyncSender<Parsed>);

/// Builds the store of the snapshot at `snapshot_path` in `dir`.
pub(super) fn build(
    dir: &Path,
    snapshot_path: &Path,
    key: Option<&DataKey>,
    partition: Option<&Partition>,
    mut seen: impl FnMut(&str),
) -> Result<ProfileStore, StoreError> {
    let (header, lines) = snapshot::lines(snapshot_path, key)?;
    let safe: String = header
        .snapshot_version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let name = format!("profiles-{safe}-{}.{EXTENSION}", crate::clock::now_ms());
    let path = dir.join(&name);
    let keys = match key {
        None => Keys::Plain(std::hash::RandomState::new()),
        Some(key) => Keys::Sealed(
            StoreCipher::new(key, &name)
                .map(|(cipher, _)| Box::new(cipher))
                .map_err(|source| StoreError::Cipher {
                    path: path.clone(),
                    source,
                })?,
        ),
    };
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    let mut dictionary = Dictionary::default();
    let mut outside = 0u64;
    let mut keep = |id: &str, profile: &Profile| {
        seen(id);
        let kept = partition.is_none_or(|p| p.holds(id, profile));
        outside += u64::from(!kept);
        kept
    };
    let written = write(
        &file,
        &path,
        &keys,
        &mut dictionary,
        snapshot_path,
        lines,
        &mut keep,
    )
    .and_then(|profiles| map(&file).map_err(io).map(|map| (profiles, map)));
    let (profiles, index_at, map) = match written {
        Ok(((profiles, index_at), map)) => (profiles, index_at, map),
        Err(error) => {
            // A snapshot that fails part way (a bad line, a damaged sealed chunk) leaves no
            // half-built store behind.
            drop(file);
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "could not remove a half-built profile store");
            }
            return Err(error);
        }
    };
    Ok(ProfileStore {
        file_bytes: map.len() as u64,
        map,
        path,
        header,
        profiles,
        loaded_at_ms: crate::clock::now_ms(),
        partition: partition.cloned(),
        outside_partition: outside,
        index_at,
        dictionary,
        keys,
    })
}

/// Writes the whole file; returns the profiles written and where the index starts.
fn write(
    file: &File,
    path: &Path,
    keys: &Keys,
    dictionary: &mut Dictionary,
    snapshot_path: &Path,
    lines: impl Iterator<Item = Result<Line, SnapshotError>> + Send,
    keep: &mut impl FnMut(&str, &Profile) -> bool,
) -> Result<(u64, usize), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    let mut offset = HEADER_LEN as u64;
    let mut entries: Vec<(u64, u64)> = Vec::new();
    let mut plain = Vec::with_capacity(1024);
    let mut value = Vec::with_capacity(1024);
    let mut prefix = Vec::with_capacity(8);
    parse_in_parallel(snapshot_path, lines, |profiles| {
        for profile in profiles {
            let id = profile.customer_id.as_deref().unwrap_or_default();
            if !keep(id, &profile) {
                continue;
            }
            let hash = keys.hash(id);
            plain.clear();
            Encoder { dictionary }.encode(id, &profile, &mut plain);
            let bytes = match keys {
                Keys::Plain(_) => &plain,
                Keys::Sealed(cipher) => {
                    value.clear();
                    value.extend_from_slice(&hash.to_le_bytes());
                    cipher
                        .seal_into(&hash.to_le_bytes(), &plain, &mut value)
                        .map_err(|source| StoreError::Cipher {
                            path: path.to_owned(),
                            source,
                        })?;
                    &value
                }
            };
            prefix.clear();
            write_len(&mut prefix, bytes.len());
            out.write_all(&prefix).map_err(io)?;
            out.write_all(bytes).map_err(io)?;
            entries.push((hash, offset));
            offset += (prefix.len() + bytes.len()) as u64;
        }
        Ok(())
    })?;
    // Later lines first, so a customer listed twice is found as the last line has them (as a
    // store that overwrote did).
    entries.reverse();
    let (table, _) = index::build(&entries);
    out.write_all(&table).map_err(io)?;
    let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let flags: u32 = match keys {
        Keys::Plain(_) => 0,
        Keys::Sealed(_) => 1,
    };
    header.extend_from_slice(&flags.to_le_bytes());
    header.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    header.extend_from_slice(&offset.to_le_bytes());
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    let index_at = usize::try_from(offset).map_err(|_| {
        io(std::io::Error::other(
            "the store is larger than this machine can address",
        ))
    })?;
    Ok((entries.len() as u64, index_at))
}

/// Reads `lines` on this thread's helper, parses them on every core, and calls `write` with
/// each batch's profiles in the snapshot's order. Stops at the first error, in order.
fn parse_in_parallel(
    snapshot_path: &Path,
    lines: impl Iterator<Item = Result<Line, SnapshotError>> + Send,
    mut write: impl FnMut(Vec<Profile>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let parsers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, 16);
    let (job_tx, job_rx) = sync_channel::<Job>(parsers * AHEAD);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (order_tx, order_rx) = sync_channel::<Receiver<Parsed>>(parsers * AHEAD);
    std::thread::scope(|scope| {
        scope.spawn(move || read_batches(lines, job_tx, order_tx));
        for _ in 0..parsers {
            let jobs = job_rx.clone();
            let path = snapshot_path.to_owned();
            scope.spawn(move || parse_batches(&path, &jobs));
        }
        // Dropping `order_rx` on an early return stops the reader, and with it the parsers.
        for batch in order_rx {
            let profiles = batch.recv().map_err(|_| SnapshotError::Io {
                path: snapshot_path.to_owned(),
                source: std::io::Error::other("a snapshot parsing thread stopped"),
            })??;
            write(profiles)?;
        }
        Ok(())
    })
}

/// The reading thread: batches of lines to the parsers, and each batch's result channel to the
/// writer in order. A read error goes to the writer as the next batch's result.
fn read_batches(
    lines: impl Iterator<Item = Result<Line, SnapshotError>>,
    jobs: SyncSender<Job>,
    order: SyncSender<Receiver<Parsed>>,
) {
    let mut batch = Vec::with_capacity(BATCH_LINES);
    let mut lines = lines.peekable();
    while lines.peek().is_some() {
        let mut failed = None;
        for line in lines.by_ref() {
            match line {
                Ok(line) => batch.push(line),
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
            if batch.len() == BATCH_LINES {
                break;
            }
        }
        if !batch.is_empty() {
            let (tx, rx) = sync_channel(1);
            if order.send(rx).is_err()
                || jobs
                    .send((
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES)),
                        tx,
                    ))
                    .is_err()
            {
                return;
            }
        }
        if let Some(error) = failed {
            let (tx, rx) = sync_channel(1);
            let _ = tx.send(Err(error));
            let _ = order.send(rx);
            return;
        }
    }
}

/// A parsing thread: parses batches until the reader is done.
fn parse_batches(path: &Path, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok((lines, result)) = job else {
            return;
        };
        let parsed: Parsed = lines
            .iter()
            .map(|(line_no, text)| snapshot::parse_profile(path, *line_no, text))
            .collect();
        // The writer stopped early: nothing more is wanted.
        let _ = result.send(parsed);
    }
}

/// Maps the finished store file for reading.
#[expect(
    unsafe_code,
    reason = "memmap2's map is unsafe because another process could change the file under it"
)]
pub(super) fn map(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the file was created by this process (create_new, mode 0600) in its data
    // directory, which the event log's lock keeps to this process alone, and is complete: no
    // one writes it again, and it is only removed (never truncated) once the last reader drops
    // the store.
    unsafe { Mmap::map(file) }
}

/// Appends a value's length prefix (a varint, as the values' own numbers are).
fn write_len(out: &mut Vec<u8>, n: usize) {
    codec::varint(out, n as u64);
}

/// Reads a value's length prefix.
pub(super) fn read_len(input: &mut &[u8]) -> Result<usize, Malformed> {
    usize::try_from(codec::read_varint(input)?).map_err(|_| Malformed("length too long"))
}
