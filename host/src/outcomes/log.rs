//! The outcome log on disk: exposures and conversions as JSON lines in time-ordered segment
//! files under `data_dir/outcomes/`, written by one thread, synced in batches, rotated hourly
//! (or at 64 MiB) and deleted once older than the retention.
//!
//! A crash can tear the last line of the newest segment; reading skips a line that does not
//! parse, and a restarted node writes to a new segment, so a torn line is never appended to.

use super::record::Record;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A segment is closed after this long, or at [`SEGMENT_BYTES`].
const SEGMENT_MS: i64 = 3_600_000;
const SEGMENT_BYTES: u64 = 64 << 20;

/// The file (beside the segments) holding how far the fleet forwarder has published.
const FORWARDED: &str = "forwarded";

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

/// Records encoded as the log holds them (one JSON line each), ready to be written at once.
#[derive(Debug)]
pub struct Batch {
    bytes: Vec<u8>,
    records: usize,
    max_at_ms: i64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            bytes: Vec::new(),
            records: 0,
            max_at_ms: i64::MIN,
        }
    }
}

impl Batch {
    /// Encodes a record onto the batch.
    pub fn push(&mut self, record: &Record) {
        // A record is plain data: encoding it into memory cannot fail.
        if serde_json::to_writer(&mut self.bytes, record).is_ok() {
            self.bytes.push(b'\n');
            self.records += 1;
            self.max_at_ms = self.max_at_ms.max(record.at_ms());
        }
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
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
}

/// The segment being written.
#[derive(Debug)]
struct Writer {
    file: BufWriter<File>,
    path: PathBuf,
    opened_ms: i64,
    bytes: u64,
}

/// The outcome log: appended to by the outcome thread, read by exposure streams.
#[derive(Debug)]
pub struct OutcomeLog {
    dir: PathBuf,
    retention_ms: i64,
    segments: Mutex<Vec<Segment>>,
    writer: Mutex<Option<Writer>>,
    sequence: std::sync::atomic::AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OutcomeLog {
    /// Opens the log in `dir` (created if missing), deletes segments past the retention, and
    /// replays every record of the others, oldest first, into `replay`.
    pub fn open(
        dir: &Path,
        retention_ms: i64,
        now_ms: i64,
        mut replay: impl FnMut(Record),
    ) -> Result<OutcomeLog, LogError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let name = entry.file_name();
            let Some(opened_ms) = name
                .to_str()
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
            });
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        let log = OutcomeLog {
            dir: dir.to_owned(),
            retention_ms,
            segments: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
            sequence: Default::default(),
        };
        let mut kept = log.expire(found, now_ms);
        for segment in &mut kept {
            let mut skipped = 0usize;
            read_lines(&segment.path, |line| {
                match serde_json::from_slice::<Record>(line) {
                    Ok(record) => {
                        segment.max_at_ms = segment.max_at_ms.max(record.at_ms());
                        replay(record);
                    }
                    Err(_) => skipped += 1,
                }
                true
            })?;
            if skipped > 0 {
                tracing::warn!(path = %segment.path.display(), skipped, "outcome log lines that do not parse were skipped (a write torn by a crash)");
            }
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

    /// Appends records and syncs them to disk.
    pub fn append(&self, records: &[Record], now_ms: i64) -> Result<(), LogError> {
        let mut batch = Batch::default();
        for record in records {
            batch.push(record);
        }
        self.write(batch, now_ms)
    }

    /// Appends an encoded batch and syncs it to disk.
    pub fn write(&self, batch: Batch, now_ms: i64) -> Result<(), LogError> {
        if batch.records == 0 {
            return Ok(());
        }
        let mut writer = lock(&self.writer);
        let rotate = writer
            .as_ref()
            .is_none_or(|w| now_ms - w.opened_ms >= SEGMENT_MS || w.bytes >= SEGMENT_BYTES);
        if rotate {
            *writer = Some(self.rotate(now_ms)?);
        }
        let Some(current) = writer.as_mut() else {
            return Ok(());
        };
        current
            .file
            .write_all(&batch.bytes)
            .map_err(io_error(&current.path))?;
        current.bytes += batch.bytes.len() as u64;
        current.file.flush().map_err(io_error(&current.path))?;
        current
            .file
            .get_ref()
            .sync_data()
            .map_err(io_error(&current.path))?;
        if let Some(last) = lock(&self.segments).last_mut() {
            last.max_at_ms = last.max_at_ms.max(batch.max_at_ms);
        }
        Ok(())
    }

    /// Opens a new segment (syncing the directory so it survives a crash), and expires old ones.
    fn rotate(&self, now_ms: i64) -> Result<Writer, LogError> {
        let n = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("outcomes-{:013}-{n:04}.ndjson", now_ms.max(0)));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        let mut segments = lock(&self.segments);
        segments.push(Segment {
            path: path.clone(),
            opened_ms: now_ms,
            max_at_ms: i64::MIN,
        });
        let kept = self.expire(std::mem::take(&mut *segments), now_ms);
        *segments = kept;
        Ok(Writer {
            file: BufWriter::with_capacity(256 << 10, file),
            path,
            opened_ms: now_ms,
            bytes: 0,
        })
    }

    /// Calls `sink` with every exposure line (JSON, without its newline) whose `at_ms` is at
    /// least `since_ms`, oldest segment first, until it returns `false`. Segments holding
    /// nothing that recent are not read.
    pub fn exposures_since(
        &self,
        since_ms: i64,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), LogError> {
        let segments: Vec<Segment> = lock(&self.segments).clone();
        for segment in segments.iter().filter(|s| s.max_at_ms >= since_ms) {
            let mut more = true;
            let result = read_lines(&segment.path, |line| {
                if let Ok(Record::Exposure(exposure)) = serde_json::from_slice::<Record>(line)
                    && exposure.at_ms >= since_ms
                {
                    more = sink(line);
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
    /// with the cursor just past it, oldest first: what the fleet forwarder publishes next.
    pub fn local_after(
        &self,
        cursor: &Cursor,
        max: usize,
    ) -> Result<Vec<(Cursor, Vec<u8>)>, LogError> {
        let segments: Vec<Segment> = lock(&self.segments).clone();
        let mut found = Vec::new();
        for segment in &segments {
            let name = segment
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name < cursor.segment {
                continue;
            }
            let start = if name == cursor.segment {
                cursor.offset
            } else {
                0
            };
            let file = match File::open(&segment.path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&segment.path)(e)),
            };
            let mut reader = BufReader::new(file);
            std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(start))
                .map_err(io_error(&segment.path))?;
            let mut offset = start;
            let mut buffer = Vec::with_capacity(512);
            loop {
                buffer.clear();
                let read = reader
                    .read_until(b'\n', &mut buffer)
                    .map_err(io_error(&segment.path))?;
                if read == 0 || buffer.last() != Some(&b'\n') {
                    break;
                }
                offset += read as u64;
                let line = &buffer[..buffer.len() - 1];
                let local =
                    serde_json::from_slice::<Record>(line).is_ok_and(|r| r.node().is_none());
                if local {
                    let next = Cursor {
                        segment: name.clone(),
                        offset,
                    };
                    found.push((next, line.to_vec()));
                    if found.len() == max {
                        return Ok(found);
                    }
                }
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

/// Calls `line` with each complete line of a file (a last line without its newline is still
/// being written, or was torn, and is left out) until it returns `false`.
fn read_lines(path: &Path, mut line: impl FnMut(&[u8]) -> bool) -> Result<(), LogError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let mut buffer = Vec::with_capacity(512);
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(io_error(path))?;
        if read == 0 || buffer.last() != Some(&b'\n') {
            return Ok(());
        }
        if !line(&buffer[..buffer.len() - 1]) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcomes::record::{Conversion, Exposure};

    fn exposure(id: &str, at_ms: i64) -> Record {
        Record::Exposure(Exposure {
            decision_id: id.into(),
            slot: "hero".into(),
            policy: "p".into(),
            version: "sha256:0".into(),
            experiment: Some("e".into()),
            arm: Some("a".into()),
            items: vec![],
            unit: "c-1".into(),
            channel: "web".into(),
            at_ms,
            node: None,
        })
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tailor-outcomes-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path, now_ms: i64) -> (OutcomeLog, Vec<Record>) {
        let mut replayed = Vec::new();
        let log = OutcomeLog::open(dir, 10 * SEGMENT_MS, now_ms, |r| replayed.push(r)).unwrap();
        (log, replayed)
    }

    #[test]
    fn records_survive_a_restart_and_a_torn_line_is_skipped() {
        let dir = scratch("torn");
        let (log, replayed) = open(&dir, 1_000);
        assert!(replayed.is_empty());
        let conversion = Record::Conversion(Conversion {
            event_id: "e-1".into(),
            kind: "purchase".into(),
            policy: "p".into(),
            unit: "c-1".into(),
            experiment: Some("e".into()),
            arm: Some("a".into()),
            item: None,
            decision_id: None,
            value: 12.5,
            at_ms: 1_500,
            node: None,
        });
        log.append(&[exposure("d-1", 1_000), conversion.clone()], 1_000)
            .unwrap();
        let path = lock(&log.segments)[0].path.clone();
        drop(log);
        // A crash in the middle of a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"type\":\"exposure\",\"decision")
            .unwrap();
        let (log, replayed) = open(&dir, 2_000);
        assert_eq!(replayed, [exposure("d-1", 1_000), conversion]);
        log.append(&[exposure("d-2", 2_000)], 2_000).unwrap();
        assert_eq!(
            lock(&log.segments).len(),
            2,
            "a restart writes a new segment"
        );
    }

    #[test]
    fn the_forwarder_reads_local_records_from_its_cursor_across_segments() {
        let dir = scratch("cursor");
        let (log, _) = open(&dir, 0);
        let mut remote = exposure("from-b", 5);
        remote.set_node("b".into());
        log.append(&[exposure("d-1", 1), remote, exposure("d-2", 2)], 0)
            .unwrap();
        log.append(&[exposure("d-3", SEGMENT_MS)], SEGMENT_MS)
            .unwrap();
        let ids = |found: &[(Cursor, Vec<u8>)]| -> Vec<String> {
            found
                .iter()
                .map(
                    |(_, line)| match serde_json::from_slice::<Record>(line).unwrap() {
                        Record::Exposure(e) => e.decision_id,
                        Record::Conversion(c) => c.event_id,
                    },
                )
                .collect()
        };
        assert_eq!(log.forwarded(), Cursor::default());
        let first = log.local_after(&Cursor::default(), 2).unwrap();
        assert_eq!(
            ids(&first),
            ["d-1", "d-2"],
            "a record from another node is not forwarded"
        );
        log.set_forwarded(&first[1].0).unwrap();
        let cursor = log.forwarded();
        assert_eq!(cursor, first[1].0);
        let rest = log.local_after(&cursor, 10).unwrap();
        assert_eq!(ids(&rest), ["d-3"]);
        assert!(log.local_after(&rest[0].0, 10).unwrap().is_empty());
    }

    #[test]
    fn exposures_stream_from_a_time_and_old_segments_expire() {
        let dir = scratch("since");
        let (log, _) = open(&dir, 0);
        log.append(&[exposure("d-1", 10)], 0).unwrap();
        log.append(&[exposure("d-2", SEGMENT_MS + 10)], SEGMENT_MS)
            .unwrap();
        log.append(&[exposure("d-3", 2 * SEGMENT_MS + 10)], 2 * SEGMENT_MS)
            .unwrap();
        let mut lines = Vec::new();
        log.exposures_since(SEGMENT_MS, |line| {
            lines.push(String::from_utf8(line.to_vec()).unwrap());
            true
        })
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("\"d-2\""), "{lines:?}");
        // Ten segments of retention later the first two are gone, the newest is kept.
        log.append(&[exposure("d-4", 13 * SEGMENT_MS)], 13 * SEGMENT_MS)
            .unwrap();
        let (_, replayed) = open(&dir, 13 * SEGMENT_MS);
        let ids: Vec<_> = replayed
            .iter()
            .map(|r| match r {
                Record::Exposure(e) => e.decision_id.as_str(),
                Record::Conversion(c) => c.event_id.as_str(),
            })
            .collect();
        assert_eq!(ids, ["d-3", "d-4"]);
    }
}
