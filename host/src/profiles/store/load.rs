//! Loading a snapshot into a new store file: one thread reads the snapshot in chunks of whole
//! lines (unsealing and gunzipping on the way), every core parses chunks, keeps the profiles in
//! the node's partition, encodes them against the store's dictionary (shared, each thread
//! remembering the numbers it has used) and seals them when the store is encrypted; one writer
//! appends the encoded chunks in the snapshot's order. The index is written last, then the
//! header, and the finished file is mapped for reading.
//!
//! A bad line, an unreadable or damaged snapshot stops the load with the error of the first
//! failing line in the snapshot's order (the same error a one-threaded load would give), and the
//! half-written file is removed; the store serving until then keeps serving.

use super::codec::{self, Dictionary, Encoder, FORMAT_VERSION, Malformed, SharedNames};
use super::{EXTENSION, HEADER_LEN, Keys, MAGIC, ProfileStore, StoreError, index};
use crate::privacy::{DataKey, StoreCipher};
use crate::profiles::partition::Partition;
use crate::profiles::snapshot::{self, Chunk, Chunks, SnapshotError};
use memmap2::Mmap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

/// Chunks read ahead of the writer, per parsing thread.
const AHEAD: usize = 4;

/// What a parsing thread hands the writer: a chunk's encoded profiles, or the first error in it.
type Parsed = Result<Encoded, StoreError>;
/// A chunk to parse, and where its result goes.
type Job = (Chunk, SyncSender<Parsed>);

/// A chunk's profiles as they go into the store file.
#[derive(Debug, Default)]
struct Encoded {
    /// The values, each after its length, in the snapshot's order.
    values: Vec<u8>,
    /// Each value's id hash and where it starts in `values`.
    entries: Vec<(u64, u64)>,
    /// Profiles of the chunk outside the node's partition (not in `values`).
    outside: u64,
}

/// What every parsing thread works with.
struct Encoding<'a> {
    snapshot_path: &'a Path,
    store_path: &'a Path,
    keys: &'a Keys,
    dictionary: &'a Mutex<Dictionary>,
    partition: Option<&'a Partition>,
    seen: &'a (dyn Fn(&str) + Sync),
}

/// Builds the store of the snapshot at `snapshot_path` in `dir`.
pub(super) fn build(
    dir: &Path,
    snapshot_path: &Path,
    key: Option<&DataKey>,
    partition: Option<&Partition>,
    seen: &(dyn Fn(&str) + Sync),
) -> Result<ProfileStore, StoreError> {
    let (header, chunks) = snapshot::chunks(snapshot_path, key)?;
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
    let dictionary = Mutex::new(Dictionary::default());
    let encoding = Encoding {
        snapshot_path,
        store_path: &path,
        keys: &keys,
        dictionary: &dictionary,
        partition,
        seen,
    };
    let written = write(&file, &encoding, chunks)
        .and_then(|written| map(&file).map_err(io).map(|map| (written, map)));
    let (written, map) = match written {
        Ok(written) => written,
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
        profiles: written.profiles,
        loaded_at_ms: crate::clock::now_ms(),
        partition: partition.cloned(),
        outside_partition: written.outside,
        index_at: written.index_at,
        dictionary: dictionary
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
        keys,
    })
}

/// What writing a store file gave.
#[derive(Debug)]
struct Written {
    profiles: u64,
    /// Where the index starts.
    index_at: usize,
    /// The snapshot's profiles outside the node's partition.
    outside: u64,
}

/// Writes the whole file.
fn write(file: &File, encoding: &Encoding<'_>, chunks: Chunks) -> Result<Written, StoreError> {
    let path = encoding.store_path;
    let io = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    let mut offset = HEADER_LEN as u64;
    let mut entries: Vec<(u64, u64)> = Vec::new();
    let mut outside = 0u64;
    encode_in_parallel(encoding, chunks, |encoded| {
        out.write_all(&encoded.values).map_err(io)?;
        entries.extend(
            encoded
                .entries
                .iter()
                .map(|&(hash, at)| (hash, offset + at)),
        );
        offset += encoded.values.len() as u64;
        outside += encoded.outside;
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
    let flags: u32 = match encoding.keys {
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
    Ok(Written {
        profiles: entries.len() as u64,
        index_at,
        outside,
    })
}

/// Reads `chunks` on a thread of its own, parses and encodes them on every core, and calls
/// `write` with each chunk's values in the snapshot's order. Stops at the first error, in order.
fn encode_in_parallel(
    encoding: &Encoding<'_>,
    chunks: Chunks,
    mut write: impl FnMut(Encoded) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let parsers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, 16);
    let (job_tx, job_rx) = sync_channel::<Job>(parsers * AHEAD);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (order_tx, order_rx) = sync_channel::<Receiver<Parsed>>(parsers * AHEAD);
    std::thread::scope(|scope| {
        scope.spawn(move || read_chunks(chunks, job_tx, order_tx));
        for _ in 0..parsers {
            let jobs = job_rx.clone();
            scope.spawn(move || encode_chunks(encoding, &jobs));
        }
        // Dropping `order_rx` on an early return stops the reader, and with it the parsers.
        for chunk in order_rx {
            let encoded = chunk.recv().map_err(|_| SnapshotError::Io {
                path: encoding.snapshot_path.to_owned(),
                source: std::io::Error::other("a snapshot parsing thread stopped"),
            })??;
            write(encoded)?;
        }
        Ok(())
    })
}

/// The reading thread: chunks to the parsers, and each chunk's result channel to the writer in
/// order. A read error goes to the writer as the next chunk's result.
fn read_chunks(chunks: Chunks, jobs: SyncSender<Job>, order: SyncSender<Receiver<Parsed>>) {
    for chunk in chunks {
        let (tx, rx) = sync_channel(1);
        match chunk {
            Ok(chunk) => {
                if order.send(rx).is_err() || jobs.send((chunk, tx)).is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = tx.send(Err(error.into()));
                let _ = order.send(rx);
                return;
            }
        }
    }
}

/// A parsing thread: parses and encodes chunks until the reader is done.
fn encode_chunks(encoding: &Encoding<'_>, jobs: &Mutex<Receiver<Job>>) {
    let mut names = SharedNames::new(encoding.dictionary);
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok((chunk, result)) = job else {
            return;
        };
        // The writer stopped early: nothing more is wanted.
        let _ = result.send(encode_chunk(encoding, &mut names, &chunk));
    }
}

/// A chunk's profiles, parsed, filtered by the partition, encoded and (encrypted) sealed.
fn encode_chunk(
    encoding: &Encoding<'_>,
    names: &mut SharedNames<'_>,
    chunk: &Chunk,
) -> Result<Encoded, StoreError> {
    let mut encoded = Encoded::default();
    let mut plain = Vec::with_capacity(1024);
    let mut sealed = Vec::with_capacity(1024);
    for (line_no, text) in chunk.lines() {
        let profile = snapshot::parse_profile(encoding.snapshot_path, line_no, text)?;
        let id = profile.customer_id.as_deref().unwrap_or_default();
        (encoding.seen)(id);
        if encoding.partition.is_some_and(|p| !p.holds(id, &profile)) {
            encoded.outside += 1;
            continue;
        }
        let hash = encoding.keys.hash(id);
        plain.clear();
        Encoder { names: &mut *names }.encode(id, &profile, &mut plain);
        let value = match encoding.keys {
            Keys::Plain(_) => &plain,
            Keys::Sealed(cipher) => {
                sealed.clear();
                sealed.extend_from_slice(&hash.to_le_bytes());
                cipher
                    .seal_into(&hash.to_le_bytes(), &plain, &mut sealed)
                    .map_err(|source| StoreError::Cipher {
                        path: encoding.store_path.to_owned(),
                        source,
                    })?;
                &sealed
            }
        };
        encoded.entries.push((hash, encoded.values.len() as u64));
        write_len(&mut encoded.values, value.len());
        encoded.values.extend_from_slice(value);
    }
    Ok(encoded)
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
