//! Erasing a unit from the outcome log: every segment whose bytes hold the unit's id is
//! rewritten beside itself with each of the unit's records replaced by a blank frame of the same
//! length ([`Encoder::blank`]), synced, and renamed over the original.
//!
//! Blanking instead of compacting keeps every other frame at its offset, so the fleet
//! forwarder's cursor (saved and in memory), its cached names, and the names the segment being
//! written has already defined all stay valid: the forwarder neither skips nor re-publishes a
//! record. The space is given back when the segment expires. Whatever follows the last readable
//! frame (a write torn by a crash) is dropped, since no reader gets past it anyway.
//!
//! An encrypted segment cannot be searched for the id without decrypting it, so every one is
//! read through; a blank frame in it is sealed like a record (the same length: the sealing
//! adds the same bytes to every payload), and every other frame is copied as it was.

use super::codec::{self, Decoded, Decoder, Encoder, FRAME_HEADER};
use super::{LogError, OutcomeLog, SEGMENT_SUFFIX, io_error, lock, read_full, seal};
use crate::outcomes::ErasedOutcomes;
use crate::outcomes::record::Record;
use crate::privacy::StoreCipher;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// What a segment being rewritten is written to first (not a segment name: never replayed).
pub(super) const REWRITING_SUFFIX: &str = ".erasing";
/// Bytes read at a time when looking for a unit's id in a segment.
const SCAN_CHUNK: usize = 256 << 10;

impl OutcomeLog {
    /// Removes every record of `unit` (its exposures and its conversions, this node's and the
    /// ones other nodes recorded) from every segment, durably: on return the rewritten segments
    /// and the directory are synced. Segments that do not hold the unit's id are not rewritten.
    /// The segment being written, when rewritten, is closed: the next batch opens a new one.
    pub(crate) fn erase(&self, unit: &str) -> Result<ErasedOutcomes, LogError> {
        // No batch is written meanwhile, and no forwarder read is under way (it would publish
        // records it read before the rewrite).
        let mut writer = lock(&self.writer);
        let segments = lock(&self.segments).clone();
        let _forwarding = lock(&self.forwarding);
        let mut erased = ErasedOutcomes::default();
        let mut rewrote = false;
        for segment in &segments {
            let path = &segment.path;
            let Some(removed) = rewrite(path, unit, segment.cipher.as_deref())? else {
                continue;
            };
            rewrote = true;
            erased.exposures += removed.exposures;
            erased.conversions += removed.conversions;
            if writer.as_ref().is_some_and(|w| w.path == *path) {
                // Its file is the one renamed over: appending to it would write nowhere.
                *writer = None;
            }
            tracing::debug!(path = %path.display(), exposures = removed.exposures, conversions = removed.conversions, "outcome log segment rewritten without an erased unit");
        }
        if rewrote {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(&self.dir))?;
        }
        Ok(erased)
    }

    /// Calls `replay` with every record of every segment, oldest first (what a restart would
    /// count). A segment that cannot be read is logged and skipped; returns how many were.
    pub(crate) fn replay(&self, mut replay: impl FnMut(Record)) -> usize {
        let segments = lock(&self.segments).clone();
        let mut skipped = 0;
        for segment in &segments {
            let mut decoder = Decoder::default();
            let cipher = segment.cipher.as_deref();
            match super::read_frames(&segment.path, 0, &mut decoder, cipher, |_, record| {
                replay(record);
                true
            }) {
                Ok(()) => {}
                Err(e) if e.source.kind() == ErrorKind::NotFound => {}
                Err(error) => {
                    skipped += 1;
                    tracing::error!(error = %crate::report::chain(&error), "an outcome log segment cannot be replayed; its records are not counted");
                }
            }
        }
        skipped
    }
}

/// Deletes what an erasure interrupted by a crash left beside the segments (the originals
/// are still in place: the erasure did not return, and is run again).
pub(super) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .to_str()
            .is_some_and(|n| n.ends_with(&format!("{SEGMENT_SUFFIX}{REWRITING_SUFFIX}")))
            && let Err(error) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(path = %entry.path().display(), %error, "cannot delete an interrupted outcome log rewrite");
        }
    }
}

/// Rewrites one segment without `unit`'s records; `None` when it held none (and nothing
/// unreadable after its last frame), so it was left as it was.
fn rewrite(
    path: &Path,
    unit: &str,
    cipher: Option<&StoreCipher>,
) -> Result<Option<ErasedOutcomes>, LogError> {
    let holds = match cipher {
        Some(_) => Ok(true),
        None => holds(path, unit.as_bytes()),
    };
    match holds {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        // Expired meanwhile: nothing left to erase.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(REWRITING_SUFFIX);
    let aside = PathBuf::from(aside);
    let result = copy_without(path, &aside, unit, cipher);
    let (removed, dropped_tail) = match result {
        Ok(copied) => copied,
        Err(error) => {
            let _ = std::fs::remove_file(&aside);
            return Err(error);
        }
    };
    if removed == ErasedOutcomes::default() && !dropped_tail {
        // The id was part of another string (a longer unit's, a name).
        let _ = std::fs::remove_file(&aside);
        return Ok(None);
    }
    std::fs::rename(&aside, path).map_err(io_error(path))?;
    Ok(Some(removed))
}

/// Copies a segment's readable frames to `aside`, each of `unit`'s records as a blank frame,
/// and syncs it. Returns the records blanked, and whether bytes past the last readable frame
/// were left out.
fn copy_without(
    path: &Path,
    aside: &Path,
    unit: &str,
    cipher: Option<&StoreCipher>,
) -> Result<(ErasedOutcomes, bool), LogError> {
    let source = File::open(path).map_err(io_error(path))?;
    let size = source.metadata().map_err(io_error(path))?.len();
    let mut reader = BufReader::with_capacity(256 << 10, source);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(aside)
        .map_err(io_error(aside))?;
    let mut out = BufWriter::with_capacity(256 << 10, file);
    let mut decoder = Decoder::default();
    let mut removed = ErasedOutcomes::default();
    let mut copied = 0u64;
    let mut frame = Vec::with_capacity(256);
    let mut opened = Vec::with_capacity(256);
    let mut bytes = Vec::with_capacity(256);
    loop {
        let sealed = cipher.filter(|_| copied > 0);
        let mut header = [0u8; FRAME_HEADER];
        if !read_full(&mut reader, &mut header).map_err(io_error(path))? {
            break;
        }
        let Ok(len) = codec::frame_len(&header) else {
            break;
        };
        frame.resize(len, 0);
        if !read_full(&mut reader, &mut frame).map_err(io_error(path))?
            || codec::payload(&header, &frame).is_err()
        {
            break;
        }
        let payload = match sealed {
            Some(cipher) => {
                opened.clone_from(&frame);
                seal::open(cipher, &mut opened)
            }
            None => Ok(&frame[..]),
        };
        let plain_len = payload.as_ref().map_or(0, |p| p.len());
        let erased = match payload.and_then(|payload| decoder.decode(payload)) {
            Ok(Decoded::Record(record)) if record.unit() == unit => Some(record),
            Ok(_) => None,
            // Unreadable from here on: left out, as every reader stops here.
            Err(_) => break,
        };
        bytes.clear();
        match erased {
            Some(record) => {
                match record {
                    Record::Exposure(_) => removed.exposures += 1,
                    Record::Conversion(_) => removed.conversions += 1,
                }
                match sealed {
                    Some(cipher) => {
                        let mut blank = Vec::with_capacity(FRAME_HEADER + plain_len);
                        Encoder::blank(plain_len, &mut blank);
                        seal::seal_frames(cipher, &blank, &mut bytes, aside)?;
                    }
                    None => Encoder::blank(len, &mut bytes),
                }
            }
            None => {
                bytes.extend_from_slice(&header);
                bytes.extend_from_slice(&frame);
            }
        }
        out.write_all(&bytes).map_err(io_error(aside))?;
        copied += bytes.len() as u64;
    }
    let file = out
        .into_inner()
        .map_err(|e| io_error(aside)(e.into_error()))?;
    file.sync_all().map_err(io_error(aside))?;
    Ok((removed, copied < size))
}

/// Whether a file's bytes contain `needle` anywhere (cheaper than decoding it).
fn holds(path: &Path, needle: &[u8]) -> std::io::Result<bool> {
    let Some(&first) = needle.first() else {
        return Ok(true);
    };
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; SCAN_CHUNK + needle.len()];
    let mut kept = 0;
    loop {
        let read = match file.read(&mut buf[kept..]) {
            Ok(0) => return Ok(false),
            Ok(read) => read,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let filled = kept + read;
        let hay = &buf[..filled];
        let mut from = 0;
        while let Some(at) = hay[from..].iter().position(|&b| b == first) {
            let start = from + at;
            match hay.get(start..start + needle.len()) {
                Some(candidate) if candidate == needle => return Ok(true),
                Some(_) => from = start + 1,
                None => break,
            }
        }
        // The end of this chunk may hold the needle's start.
        kept = (needle.len() - 1).min(filled);
        buf.copy_within(filled - kept..filled, 0);
    }
}
