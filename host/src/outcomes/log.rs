//! The outcome log on disk: exposures and conversions in time-ordered segment files under
//! `data_dir/outcomes/` (binary, framed and checksummed, each repeated string written once per
//! segment: [`codec`]), written by one thread, synced in batches, rotated hourly (or at 64 MiB)
//! and deleted once older than the retention.
//!
//! A crash can tear the last frame of the newest segment; reading stops at a frame whose
//! checksum does not match, and a restarted node writes to a new segment, so a torn frame is
//! never appended to.
//!
//! Erasing a unit rewrites the segments holding it ([`erase`]). With a data key every segment
//! is encrypted ([`seal`]).

mod codec;
mod erase;
mod seal;

use super::record::{ExposureRef, Record};
use crate::privacy::{DataKey, StoreCipher};
use codec::{Decoded, Decoder, Encoder, FRAME_HEADER};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A segment is closed after this long, or at [`SEGMENT_BYTES`].
const SEGMENT_MS: i64 = 3_600_000;
const SEGMENT_BYTES: u64 = 64 << 20;
/// The file (beside the segments) holding how far the fleet forwarder has published.
const FORWARDED: &str = "forwarded";
const SEGMENT_SUFFIX: &str = ".log";

/// A position in the log: a segment file's name and a byte offset in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub segment: String,
    pub offset: u64,
}

/// The outcome log cannot be read or written; names the file.
#[derive(Debug, thiserror::Error)]
#[error("outcome log {path}")]
pub struct LogError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError {
        path: path.to_owned(),
        source,
    }
}

/// One segment file and the span of record times it holds.
#[derive(Debug, Clone)]
struct Segment {
    path: PathBuf,
    /// When this node opened it (wall clock, ms).
    opened_ms: i64,
    /// The latest `at_ms` of a record in it (`i64::MIN` while empty).
    max_at_ms: i64,
    /// Its frames' cipher when it is encrypted.
    cipher: Option<Arc<StoreCipher>>,
}

impl Segment {
    fn name(&self) -> String {
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The segment being written.
#[derive(Debug)]
struct Writer {
    file: File,
    path: PathBuf,
    opened_ms: i64,
    bytes: u64,
    encoder: Encoder,
    cipher: Option<Arc<StoreCipher>>,
    /// Where a batch is sealed before it is written (reused).
    sealed: Vec<u8>,
}

/// Where the forwarder's last read stopped, with the names read up to there.
#[derive(Debug)]
struct ReadState {
    cursor: Cursor,
    decoder: Decoder,
}

/// The outcome log: appended to by the outcome thread, read by exposure streams and the
/// fleet forwarder.
#[derive(Debug)]
pub struct OutcomeLog {
    dir: PathBuf,
    retention_ms: i64,
    segments: Mutex<Vec<Segment>>,
    writer: Mutex<Option<Writer>>,
    forwarding: Mutex<Option<ReadState>>,
    sequence: std::sync::atomic::AtomicU64,
    /// With a data key, every new segment is encrypted and no plaintext one is read.
    key: Option<Arc<DataKey>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records encoded for the segment they will be written to; [`OutcomeLog::batch`].
#[derive(Debug)]
pub struct Batch<'l> {
    log: &'l OutcomeLog,
    writer: MutexGuard<'l, Option<Writer>>,
    bytes: Vec<u8>,
    records: usize,
    max_at_ms: i64,
}

impl Batch<'_> {
    /// Encodes a record onto the batch.
    pub fn push(&mut self, record: &Record) {
        if let Some(writer) = self.writer.as_mut() {
            writer.encoder.encode(record, &mut self.bytes);
            self.records += 1;
            self.max_at_ms = self.max_at_ms.max(record.at_ms());
        }
    }

    /// Encodes an exposure onto the batch.
    pub fn push_exposure(&mut self, exposure: &ExposureRef<'_>) {
        if let Some(writer) = self.writer.as_mut() {
            writer.encoder.encode_exposure(exposure, &mut self.bytes);
            self.records += 1;
            self.max_at_ms = self.max_at_ms.max(exposure.at_ms);
        }
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Writes the batch and syncs it to disk.
    pub fn commit(mut self) -> Result<(), LogError> {
        if self.records == 0 {
            return Ok(());
        }
        let Some(current) = self.writer.as_mut() else {
            return Ok(());
        };
        let bytes = match &current.cipher {
            Some(cipher) => {
                current.sealed.clear();
                seal::seal_frames(cipher, &self.bytes, &mut current.sealed, &current.path)?;
                &current.sealed
            }
            None => &self.bytes,
        };
        current
            .file
            .write_all(bytes)
            .map_err(io_error(&current.path))?;
        current.bytes += bytes.len() as u64;
        current.file.sync_data().map_err(io_error(&current.path))?;
        if let Some(last) = lock(&self.log.segments).last_mut() {
            last.max_at_ms = last.max_at_ms.max(self.max_at_ms);
        }
        Ok(())
    }
}

impl OutcomeLog {
    /// Opens the log in `dir` (created if missing), deletes segments past the retention, and
    /// replays every record of the others, oldest first, into `replay`. With `key`, segments
    /// are encrypted, and a plaintext one (or one under another key) stops the opening; without,
    /// an encrypted one does.
    pub fn open(
        dir: &Path,
        retention_ms: i64,
        now_ms: i64,
        key: Option<Arc<DataKey>>,
        mut replay: impl FnMut(Record),
    ) -> Result<OutcomeLog, LogError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        erase::remove_leftovers(dir);
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let name = entry.file_name();
            let Some(opened_ms) = name
                .to_str()
                .filter(|n| n.ends_with(SEGMENT_SUFFIX))
                .and_then(|n| n.strip_prefix("outcomes-"))
                .and_then(|n| n.split('-').next())
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            found.push(Segment {
                path: entry.path(),
                opened_ms,
                max_at_ms: i64::MIN,
                cipher: None,
            });
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let log = OutcomeLog {
            dir: dir.to_owned(),
            retention_ms,
            segments: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
            forwarding: Mutex::new(None),
            sequence: Default::default(),
            key,
        };
        let mut kept = log.expire(found, now_ms);
        for segment in &mut kept {
            segment.cipher = seal::segment_cipher(&segment.path, log.key.as_deref())?;
            let mut decoder = Decoder::default();
            let cipher = segment.cipher.as_deref();
            read_frames(&segment.path, 0, &mut decoder, cipher, |_, record| {
                segment.max_at_ms = segment.max_at_ms.max(record.at_ms());
                replay(record);
                true
            })?;
        }
        *lock(&log.segments) = kept;
        Ok(log)
    }

    /// Deletes the segments whose successor was opened before the retention began (so every
    /// record in them is older); returns the others.
    fn expire(&self, mut segments: Vec<Segment>, now_ms: i64) -> Vec<Segment> {
        let horizon = now_ms.saturating_sub(self.retention_ms);
        let mut expired = 0;
        while expired + 1 < segments.len() && segments[expired + 1].opened_ms < horizon {
            expired += 1;
        }
        for segment in segments.drain(..expired) {
            match std::fs::remove_file(&segment.path) {
                Ok(()) => {
                    tracing::info!(path = %segment.path.display(), "outcome log segment past its retention deleted")
                }
                Err(error) => {
                    tracing::warn!(path = %segment.path.display(), %error, "cannot delete an expired outcome log segment")
                }
            }
        }
        segments
    }

    /// A batch for the segment records go to now (a new one when the current one is old or
    /// full): the outcome thread encodes as it counts, then commits.
    pub fn batch(&self, now_ms: i64) -> Result<Batch<'_>, LogError> {
        let mut writer = lock(&self.writer);
        let rotate = writer
            .as_ref()
            .is_none_or(|w| now_ms - w.opened_ms >= SEGMENT_MS || w.bytes >= SEGMENT_BYTES);
        if rotate {
            *writer = Some(self.rotate(now_ms)?);
        }
        Ok(Batch {
            log: self,
            writer,
            bytes: Vec::with_capacity(64 << 10),
            records: 0,
            max_at_ms: i64::MIN,
        })
    }

    /// Appends records and syncs them to disk.
    #[cfg(test)]
    pub fn append(&self, records: &[Record], now_ms: i64) -> Result<(), LogError> {
        let mut batch = self.batch(now_ms)?;
        for record in records {
            batch.push(record);
        }
        batch.commit()
    }

    /// Opens a new segment (its header written and synced, and the directory synced so it
    /// survives a crash), and expires old ones.
    fn rotate(&self, now_ms: i64) -> Result<Writer, LogError> {
        let n = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(format!(
            "outcomes-{:013}-{n:04}{SEGMENT_SUFFIX}",
            now_ms.max(0)
        ));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let (cipher, header) = match &self.key {
            Some(key) => {
                let (cipher, header) = seal::new_segment(key, &path)?;
                (Some(Arc::new(cipher)), header)
            }
            None => {
                let mut header = Vec::new();
                Encoder::header(&mut header);
                (None, header)
            }
        };
        file.write_all(&header).map_err(io_error(&path))?;
        file.sync_data().map_err(io_error(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        let mut segments = lock(&self.segments);
        segments.push(Segment {
            path: path.clone(),
            opened_ms: now_ms,
            max_at_ms: i64::MIN,
            cipher: cipher.clone(),
        });
        let kept = self.expire(std::mem::take(&mut *segments), now_ms);
        *segments = kept;
        Ok(Writer {
            file,
            path,
            opened_ms: now_ms,
            bytes: header.len() as u64,
            encoder: Encoder::default(),
            cipher,
            sealed: Vec::new(),
        })
    }

    /// Calls `sink` with every exposure (as a JSON line, without its newline) whose `at_ms` is
    /// at least `since_ms`, oldest segment first, until it returns `false`. Segments holding
    /// nothing that recent are not read.
    pub fn exposures_since(
        &self,
        since_ms: i64,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), LogError> {
        let segments: Vec<Segment> = lock(&self.segments).clone();
        for segment in segments.iter().filter(|s| s.max_at_ms >= since_ms) {
            let mut more = true;
            let mut decoder = Decoder::default();
            let cipher = segment.cipher.as_deref();
            let result = read_frames(&segment.path, 0, &mut decoder, cipher, |_, record| {
                if let Record::Exposure(exposure) = &record
                    && exposure.at_ms >= since_ms
                    && let Ok(line) = serde_json::to_vec(&record)
                {
                    more = sink(&line);
                }
                more
            });
            match result {
                Ok(()) => {}
                // Expired and deleted while being read: nothing in it was wanted any more.
                Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            if !more {
                break;
            }
        }
        Ok(())
    }

    /// This node's own records after `cursor` (none recorded elsewhere), at most `max`, each
    /// as a JSON line with the cursor just past it, oldest first: what the fleet forwarder
    /// publishes next. Reads on from where the previous call stopped.
    pub fn local_after(
        &self,
        cursor: &Cursor,
        max: usize,
    ) -> Result<Vec<(Cursor, Vec<u8>)>, LogError> {
        let segments: Vec<Segment> = lock(&self.segments).clone();
        let mut state = lock(&self.forwarding);
        let mut found = Vec::new();
        for segment in &segments {
            let name = segment.name();
            if name < cursor.segment {
                continue;
            }
            // Resume where the last read stopped, or read the names up to the cursor again.
            let (start, mut decoder) = match state.take() {
                Some(s) if s.cursor.segment == name && s.cursor.offset <= cursor.offset => {
                    (s.cursor.offset, s.decoder)
                }
                _ => (0, Decoder::default()),
            };
            let skip_to = if name == cursor.segment {
                cursor.offset
            } else {
                0
            };
            let mut last = start;
            let cipher = segment.cipher.as_deref();
            let result = read_frames(
                &segment.path,
                start,
                &mut decoder,
                cipher,
                |offset, record| {
                    last = offset;
                    if offset <= skip_to || record.node().is_some() {
                        return true;
                    }
                    if let Ok(line) = serde_json::to_vec(&record) {
                        found.push((
                            Cursor {
                                segment: name.clone(),
                                offset,
                            },
                            line,
                        ));
                    }
                    found.len() < max
                },
            );
            match result {
                Ok(()) => {}
                Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            *state = Some(ReadState {
                cursor: Cursor {
                    segment: name,
                    offset: last,
                },
                decoder,
            });
            if found.len() >= max {
                break;
            }
        }
        Ok(found)
    }

    /// Where the fleet forwarder stopped, as it last saved it (the start of the log when never).
    pub fn forwarded(&self) -> Cursor {
        std::fs::read_to_string(self.dir.join(FORWARDED))
            .ok()
            .and_then(|text| {
                let (segment, offset) = text.trim().split_once(' ')?;
                Some(Cursor {
                    segment: segment.to_owned(),
                    offset: offset.parse().ok()?,
                })
            })
            .unwrap_or_default()
    }

    /// Saves where the fleet forwarder has got to (written aside and renamed into place).
    pub fn set_forwarded(&self, cursor: &Cursor) -> Result<(), LogError> {
        let path = self.dir.join(FORWARDED);
        let aside = self.dir.join(format!("{FORWARDED}.new"));
        std::fs::write(&aside, format!("{} {}\n", cursor.segment, cursor.offset))
            .map_err(io_error(&aside))?;
        std::fs::rename(&aside, &path).map_err(io_error(&path))
    }

    /// The directory of the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes on disk, over every segment.
    pub fn bytes(&self) -> u64 {
        lock(&self.segments)
            .iter()
            .filter_map(|s| std::fs::metadata(&s.path).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// Calls `record` with each record of a segment from byte `start` (with `decoder` holding the
/// names before it), and the offset just past it, until it returns `false`. Reading stops at
/// the end, at a frame not completely written yet (the writer is mid-batch) and at one that is
/// torn or unreadable (logged). In an encrypted segment (`cipher`), every frame but the first
/// (its header, at offset 0) is opened before it is decoded.
fn read_frames(
    path: &Path,
    start: u64,
    decoder: &mut Decoder,
    cipher: Option<&StoreCipher>,
    mut record: impl FnMut(u64, Record) -> bool,
) -> Result<(), LogError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(start)).map_err(io_error(path))?;
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let mut offset = start;
    let mut body = Vec::with_capacity(256);
    loop {
        let mut header = [0u8; FRAME_HEADER];
        match read_full(&mut reader, &mut header) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(io_error(path)(e)),
        }
        let checked = codec::frame_len(&header).and_then(|len| {
            body.resize(len, 0);
            match read_full(&mut reader, &mut body) {
                Ok(true) => codec::payload(&header, &body).map(|()| Some(len)),
                _ => Ok(None),
            }
        });
        let len = match checked {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(()),
            Err(why) => {
                tracing::warn!(path = %path.display(), offset, why = why.0, "an outcome log frame cannot be read; the segment's reading stops there (a write torn by a crash)");
                return Ok(());
            }
        };
        let at = offset;
        offset += (FRAME_HEADER + len) as u64;
        let payload = match cipher {
            Some(cipher) if at > 0 => seal::open(cipher, &mut body),
            _ => Ok(&body[..]),
        };
        match payload.and_then(|payload| decoder.decode(payload)) {
            Ok(Decoded::Meta) => {}
            Ok(Decoded::Record(r)) => {
                if !record(offset, r) {
                    return Ok(());
                }
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), offset, why = why.0, "an outcome log segment cannot be read past this frame");
                return Ok(());
            }
        }
    }
}

/// Fills `buf`: `true` when it did, `false` at the end of the file (even mid-buffer).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
#[path = "log/tests.rs"]
mod tests;
