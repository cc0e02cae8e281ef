//! Splitting a snapshot into its partitions' shares: what `tailor push --partition` publishes,
//! so a kiosk pulls its store's customers and a PoP its region's, never the national file.
//!
//! Each share is a snapshot of its own (gzip-compressed NDJSON): the same header, so it has the
//! same version and a delta's share applies on top of the whole snapshot's share, then the lines
//! of the profiles the partition holds, as the export wrote them. A delta's removal lines go to
//! every share (a removal names no trait, and removing a customer a node never held changes
//! nothing). A line is read as the loader reads it, and a bad line stops the split with the
//! loader's error for it.

use super::{
    ProfileRef, SnapshotError, SnapshotHeader, SnapshotLine, chunks, parse_delta_line,
    parse_profile, scan,
};
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

/// Writes the share of every partition of the (plaintext or gzip) snapshot at `path` to its
/// own file, each `(partition, file)` of `shares`; returns the snapshot's header and the shares.
pub fn split_snapshot(
    path: &Path,
    shares: Vec<(Partition, PathBuf)>,
) -> Result<(SnapshotHeader, Vec<Share>), SnapshotError> {
    let (header, body) = chunks(path, None)?;
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
        let mut writer = GzEncoder::new(BufWriter::new(file), Compression::fast());
        writeln!(writer, "{header_line}").map_err(|source| SnapshotError::Write {
            path: out.clone(),
            source,
        })?;
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
        let finished = writer
            .finish()
            .and_then(|out| out.into_inner().map_err(|e| e.into_error()))
            .and_then(|file| file.sync_all());
        finished.map_err(|source| SnapshotError::Write {
            path: share.path.clone(),
            source,
        })?;
        done.push(share);
    }
    Ok((header, done))
}

type Out = (GzEncoder<BufWriter<File>>, Share);

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
