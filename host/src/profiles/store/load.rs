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
use crate::privacy::{DataKey, Nonces, StoreCipher};
use crate::profiles::partition::Partition;
use crate::profiles::snapshot::{self, Chunk, Chunks, ProfileRef, SnapshotError, SnapshotLine};
use memmap2::Mmap;
use rustc_hash::FxHashSet;
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
    /// A delta's customers (changed, removed, or moved out of the partition): id hash and id.
    touched: Vec<(u64, Box<str>)>,
}

/// What every parsing thread works with.
struct Encoding<'a> {
    snapshot_path: &'a Path,
    store_path: &'a Path,
    keys: &'a Arc<Keys>,
    dictionary: &'a Mutex<Dictionary>,
    partition: Option<&'a Partition>,
    seen: Option<&'a (dyn Fn(&str) + Sync)>,
    /// The snapshot is a delta: its lines may remove customers, and every customer it names
    /// is noted so the base's profile of them is not copied.
    delta: bool,
}

/// Builds the store of the snapshot at `snapshot_path` in `dir`.
pub(super) fn build(
    dir: &Path,
    snapshot_path: &Path,
    key: Option<&DataKey>,
    partition: Option<&Partition>,
    base: Option<&ProfileStore>,
    seen: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<ProfileStore, StoreError> {
    let (header, chunks) = snapshot::chunks(snapshot_path, key)?;
    // A delta goes on top of the version it names, and nothing else.
    let base = match (&header.base_version, base) {
        (None, _) => None,
        (Some(version), None) => {
            return Err(SnapshotError::DeltaWithoutBase {
                path: snapshot_path.to_owned(),
                base: version.clone(),
            }
            .into());
        }
        (Some(version), Some(base)) if *version != base.header.snapshot_version => {
            return Err(SnapshotError::WrongBase {
                path: snapshot_path.to_owned(),
                base: version.clone(),
                serving: base.header.snapshot_version.clone(),
            }
            .into());
        }
        (Some(_), Some(base)) => Some(base),
    };
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
    // A delta's store shares its base's keys and starts from its dictionary: the base's values
    // are copied as they are.
    let (keys, dictionary) = match (base, key) {
        (Some(base), _) => (base.keys.clone(), (*base.dictionary).clone()),
        (None, None) => (
            Arc::new(Keys::Plain(std::hash::RandomState::new())),
            Dictionary::default(),
        ),
        (None, Some(key)) => (
            Arc::new(Keys::Sealed(
                StoreCipher::new(key, &name)
                    .map(|(cipher, _)| Box::new(cipher))
                    .map_err(|source| StoreError::Cipher {
                        path: path.clone(),
                        source,
                    })?,
            )),
            Dictionary::default(),
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
    let dictionary = Mutex::new(dictionary);
    let encoding = Encoding {
        snapshot_path,
        store_path: &path,
        keys: &keys,
        dictionary: &dictionary,
        partition,
        seen,
        delta: base.is_some(),
    };
    let written = write(&file, &encoding, chunks, base)
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
        outside_partition: written.outside + base.map_or(0, |b| b.outside_partition),
        index_at: written.index_at,
        dictionary: Arc::new(
            dictionary
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner),
        ),
        keys,
    })
}

/// What writing a store file gave.
#[derive(Debug)]
struct Written {
    /// Customers written (an id listed twice counts once).
    profiles: u64,
    /// Where the index starts.
    index_at: usize,
    /// The snapshot's profiles outside the node's partition.
    outside: u64,
}

/// Writes the whole file.
fn write(
    file: &File,
    encoding: &Encoding<'_>,
    chunks: Chunks,
    base: Option<&ProfileStore>,
) -> Result<Written, StoreError> {
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
    let mut touched_hashes = FxHashSet::default();
    let mut touched = FxHashSet::default();
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
        for (hash, id) in encoded.touched {
            touched_hashes.insert(hash);
            touched.insert(id);
        }
        Ok(())
    })?;
    if let Some(base) = base {
        // The base's profiles of everyone the delta leaves alone, after the delta's (the index
        // is built from `entries`, where they come first: a customer listed twice is found as
        // the last line has them either way).
        let mut copied = Vec::with_capacity(base.profiles as usize);
        let mut prefix = Vec::with_capacity(10);
        let mut at = HEADER_LEN;
        while at < base.index_at {
            let (raw, next) = base.raw_at(at)?;
            let hash = encoding.keys.stored_hash(raw).map_err(base.corrupt())?;
            let keep = if touched_hashes.contains(&hash) || encoding.seen.is_some() {
                let value = base.plaintext(raw)?;
                let id = codec::stored_id(&value).map_err(base.corrupt())?;
                let keep = !touched.contains(id);
                if keep && let Some(seen) = encoding.seen {
                    seen(id);
                }
                keep
            } else {
                true
            };
            if keep {
                prefix.clear();
                write_len(&mut prefix, raw.len());
                out.write_all(&prefix).map_err(io)?;
                out.write_all(raw).map_err(io)?;
                copied.push((hash, offset));
                offset += (prefix.len() + raw.len()) as u64;
            }
            at = next;
        }
        copied.append(&mut entries);
        entries = copied;
    }
    // Later lines first, so a customer listed twice is found as the last line has them (as a
    // store that overwrote did).
    entries.reverse();
    let index = index::build(&entries);
    out.write_all(&index.table).map_err(io)?;
    let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let flags: u32 = match &**encoding.keys {
        Keys::Plain(_) => 0,
        Keys::Sealed(_) => 1,
    };
    header.extend_from_slice(&flags.to_le_bytes());
    header.extend_from_slice(&index.distinct.to_le_bytes());
    header.extend_from_slice(&offset.to_le_bytes());
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    let index_at = usize::try_from(offset).map_err(|_| {
        io(std::io::Error::other(
            "the store is larger than this machine can address",
        ))
    })?;
    Ok(Written {
        profiles: index.distinct,
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
    let mut out = ChunkOut {
        encoded: Encoded::default(),
        plain: Vec::with_capacity(1024),
        sealed: Vec::with_capacity(1024),
        nonces: Nonces::default(),
    };
    // The scan's lists keep their room from line to line.
    let mut scanned = ProfileRef::default();
    for (line_no, text) in chunk.lines() {
        // Most lines are read in place; serde reads the rest, or names what is wrong with them.
        if let Some(text) = text
            && snapshot::scan(text, &mut scanned)
        {
            out.add(encoding, names, &scanned)?;
            continue;
        }
        let profile = if encoding.delta {
            match snapshot::parse_delta_line(encoding.snapshot_path, line_no, text)? {
                SnapshotLine::Profile(profile) => profile,
                SnapshotLine::Removed(id) => {
                    let hash = encoding.keys.hash(&id);
                    out.encoded.touched.push((hash, id.into()));
                    continue;
                }
            }
        } else {
            snapshot::parse_profile(encoding.snapshot_path, line_no, text)?
        };
        let id = profile.customer_id.as_deref().unwrap_or_default();
        out.add(encoding, names, &ProfileRef::of(id, &profile))?;
    }
    Ok(out.encoded)
}

/// A chunk's encoded profiles, and the buffers each is encoded and sealed in.
struct ChunkOut {
    encoded: Encoded,
    plain: Vec<u8>,
    sealed: Vec<u8>,
    nonces: Nonces,
}

impl ChunkOut {
    /// Adds a profile of the chunk: noted as seen (and touched, in a delta), then encoded when
    /// it is in the node's partition.
    fn add(
        &mut self,
        encoding: &Encoding<'_>,
        names: &mut SharedNames<'_>,
        profile: &ProfileRef<'_>,
    ) -> Result<(), StoreError> {
        let id = profile.customer_id;
        if let Some(seen) = encoding.seen {
            seen(id);
        }
        let hash = encoding.keys.hash(id);
        let encoded = &mut self.encoded;
        if encoding.delta {
            encoded.touched.push((hash, id.into()));
        }
        if encoding.partition.is_some_and(|p| !p.holds(profile)) {
            encoded.outside += 1;
            return Ok(());
        }
        self.plain.clear();
        Encoder { names }.encode(profile, &mut self.plain);
        let value = match &**encoding.keys {
            Keys::Plain(_) => &self.plain,
            Keys::Sealed(cipher) => {
                self.sealed.clear();
                self.sealed.extend_from_slice(&hash.to_le_bytes());
                cipher
                    .seal_into_with(
                        &mut self.nonces,
                        &hash.to_le_bytes(),
                        &self.plain,
                        &mut self.sealed,
                    )
                    .map_err(|source| StoreError::Cipher {
                        path: encoding.store_path.to_owned(),
                        source,
                    })?;
                &self.sealed
            }
        };
        encoded.entries.push((hash, encoded.values.len() as u64));
        write_len(&mut encoded.values, value.len());
        encoded.values.extend_from_slice(value);
        Ok(())
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
