//! Splitting a snapshot into its partitions' shares: what `tailor push --partition` publishes,
//! so a kiosk pulls its store's customers and a PoP its region's, never the national file.
//!
//! Each share is a snapshot of its own (gzip-compressed NDJSON): the same header, so it has the
//! same version and a delta's share applies on top of the whole snapshot's share, then the lines
//! of the profiles the partition holds, as the export wrote them. A delta's removal lines go to
//! every share (a removal names no trait, and removing a customer a node never held changes
//! nothing). A line is read as the loader reads it, and a bad line stops the split with the
//! loader's error for it. With a data key, a sealed export is opened with it and every share
//! is sealed with it (gzip inside the seal, as `tailor seal` of a gzip file gives), so the
//! customer data is never plaintext on disk on the way.

use super::{
    ProfileRef, SnapshotError, SnapshotHeader, SnapshotLine, chunks, parse_delta_line,
    parse_profile, scan,
};
use crate::privacy::{DataKey, SealedWriter};
use crate::profiles::partition::Partition;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One partition's share: where it is written and how many profiles went into it.
#[derive(Debug)]
pub struct Share {
    pub partition: Partition,
    pub path: PathBuf,
    pub profiles: u64,
    /// A delta's removal lines it carries.
    pub removals: u64,
}

/// Writes the share of every partition of the snapshot at `path` (plaintext, gzip, or sealed
/// with `key`) to its own file, each `(partition, file)` of `shares`, sealed with `key` when one
/// is given; returns the snapshot's header and the shares.
pub fn split_snapshot(
    path: &Path,
    shares: Vec<(Partition, PathBuf)>,
    key: Option<&DataKey>,
) -> Result<(SnapshotHeader, Vec<Share>), SnapshotError> {
    let (header, body) = chunks(path, key)?;
    let header_line = serde_json::to_string(&header).map_err(|e| SnapshotError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let mut outs = Vec::with_capacity(shares.len());
    for (partition, out) in shares {
        let file = File::create(&out).map_err(|source| SnapshotError::Write {
            path: out.clone(),
            source,
        })?;
        let write_error = |source| SnapshotError::Write {
            path: out.clone(),
            source,
        };
        let file = BufWriter::new(file);
        let mut writer = match key {
            None => Sink::Plain(GzEncoder::new(file, Compression::fast())),
            Some(key) => Sink::Sealed(Box::new(GzEncoder::new(
                SealedWriter::new(file, key, &out.display().to_string()).map_err(write_error)?,
                Compression::fast(),
            ))),
        };
        writeln!(writer, "{header_line}").map_err(write_error)?;
        outs.push((
            writer,
            Share {
                partition,
                path: out,
                profiles: 0,
                removals: 0,
            },
        ));
    }
    let delta = header.base_version.is_some();
    for chunk in body {
        let chunk = chunk?;
        // The scan's lists keep their room from line to line of the chunk.
        let mut scanned = ProfileRef::default();
        for (line_no, text) in chunk.lines() {
            // A bad line has no text, and fails its parse below.
            let line = text.unwrap_or_default();
            if let Some(text) = text
                && scan(text, &mut scanned)
            {
                write_line(&mut outs, line, Some(&scanned))?;
                continue;
            }
            let parsed = if delta {
                parse_delta_line(path, line_no, text)?
            } else {
                SnapshotLine::Profile(parse_profile(path, line_no, text)?)
            };
            match parsed {
                SnapshotLine::Profile(profile) => {
                    let id = profile.customer_id.as_deref().unwrap_or_default();
                    write_line(&mut outs, line, Some(&ProfileRef::of(id, &profile)))?;
                }
                SnapshotLine::Removed(_) => write_line(&mut outs, line, None)?,
            }
        }
    }
    let mut done = Vec::with_capacity(outs.len());
    for (writer, share) in outs {
        let finished = writer.finish().and_then(|file| file.sync_all());
        finished.map_err(|source| SnapshotError::Write {
            path: share.path.clone(),
            source,
        })?;
        done.push(share);
    }
    Ok((header, done))
}

type Out = (Sink, Share);

/// Where a share's lines go: gzip, sealed or not.
enum Sink {
    Plain(GzEncoder<BufWriter<File>>),
    Sealed(Box<GzEncoder<SealedWriter<BufWriter<File>>>>),
}

impl Sink {
    /// Ends the gzip stream (and the seal), and gives back the file.
    fn finish(self) -> std::io::Result<File> {
        let buffered = match self {
            Sink::Plain(gz) => gz.finish()?,
            Sink::Sealed(gz) => gz.finish()?.finish()?,
        };
        buffered.into_inner().map_err(|e| e.into_error())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(gz) => gz.write(buf),
            Sink::Sealed(gz) => gz.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(gz) => gz.flush(),
            Sink::Sealed(gz) => gz.flush(),
        }
    }
}

/// Writes `line` to the shares holding `profile`, or to every share for a removal (`None`).
fn write_line(
    outs: &mut [Out],
    line: &str,
    profile: Option<&ProfileRef<'_>>,
) -> Result<(), SnapshotError> {
    for (writer, share) in outs {
        let holds = match profile {
            Some(profile) => share.partition.holds(profile),
            None => true,
        };
        if !holds {
            continue;
        }
        writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(|source| SnapshotError::Write {
                path: share.path.clone(),
                source,
            })?;
        match profile {
            Some(_) => share.profiles += 1,
            None => share.removals += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
