//! Reading a profile snapshot export: NDJSON, optionally gzip-compressed, whose first line is
//! a header `{"snapshot_version": "...", "generated_at_ms": 1774000000000}` and every further
//! line one profile with a `customer_id`.
//!
//! The file may be sealed with the data key ([`crate::privacy::sealed`], what `tailor seal`
//! writes), the NDJSON or its gzip inside: a sealed snapshot needs the data key, and with a
//! data key configured a plaintext one is still read (the customer data platform exports
//! plaintext) but warned about.

use crate::privacy::{DataKey, SealedReader, is_sealed};
use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use tailor_types::Profile;

/// The snapshot's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotHeader {
    pub snapshot_version: String,
    /// When the customer data platform generated the export, ms since the Unix epoch.
    pub generated_at_ms: i64,
}

/// A snapshot that cannot be loaded, naming the file, and the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Unreadable, or (sealed) damaged, truncated or sealed with another key: the source says.
    #[error("reading snapshot {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "snapshot {path} is sealed: reading it needs the data key it was sealed with \
         (configure data_key)"
    )]
    NeedsKey { path: PathBuf },
    #[error("snapshot {path} is empty: the first line must be the header")]
    Empty { path: PathBuf },
    #[error("snapshot {path} line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Opens a snapshot (sealed with `key`, or plaintext), reads its header, and returns the
/// profiles that follow, one per line, parsed on this thread (the store's loader parses
/// [`lines`] on every core).
#[cfg(test)]
pub fn open(
    path: &Path,
    key: Option<&DataKey>,
) -> Result<
    (
        SnapshotHeader,
        impl Iterator<Item = Result<Profile, SnapshotError>>,
    ),
    SnapshotError,
> {
    let (header, lines) = lines(path, key)?;
    let path = path.to_owned();
    let profiles = lines.map(move |line| {
        let (line_no, text) = line?;
        parse_profile(&path, line_no, &text)
    });
    Ok((header, profiles))
}

/// One profile line of a snapshot: its number (the header is line 1) and its text.
pub type Line = (usize, String);

/// Opens a snapshot as [`open`] does, and returns its profile lines unparsed (blank ones
/// skipped), for a loader that parses them on several threads ([`parse_profile`]).
pub fn lines(
    path: &Path,
    key: Option<&DataKey>,
) -> Result<
    (
        SnapshotHeader,
        impl Iterator<Item = Result<Line, SnapshotError>> + Send + use<>,
    ),
    SnapshotError,
> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = BufReader::with_capacity(256 << 10, std::fs::File::open(path).map_err(io)?);
    let sealed = is_sealed(file.fill_buf().map_err(io)?);
    let mut plain: Box<dyn BufRead + Send> = match (sealed, key) {
        (true, None) => {
            return Err(SnapshotError::NeedsKey {
                path: path.to_owned(),
            });
        }
        (true, Some(key)) => {
            let name = path.display().to_string();
            Box::new(BufReader::with_capacity(
                256 << 10,
                SealedReader::new(file, key, &name).map_err(io)?,
            ))
        }
        (false, key) => {
            if key.is_some() {
                tracing::warn!(
                    path = %path.display(),
                    "the profile snapshot is not sealed: its customer data is plaintext on \
                     disk; seal it with `tailor seal` before it is dropped here"
                );
            }
            Box::new(file)
        }
    };
    let gzip = plain.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(GzDecoder::new(plain))
    } else {
        Box::new(plain)
    };
    let mut lines = BufReader::with_capacity(256 << 10, reader)
        .lines()
        .enumerate();
    let header = match lines.next() {
        None => {
            return Err(SnapshotError::Empty {
                path: path.to_owned(),
            });
        }
        Some((_, line)) => parse::<SnapshotHeader>(path, 1, &line.map_err(io)?)?,
    };
    let path = path.to_owned();
    let lines = lines.filter_map(move |(index, line)| match line {
        Ok(line) if line.trim().is_empty() => None,
        Ok(line) => Some(Ok((index + 1, line))),
        Err(source) => Some(Err(SnapshotError::Io {
            path: path.clone(),
            source,
        })),
    });
    Ok((header, lines))
}

/// Parses a profile line (line `line_no` of the snapshot at `path`): it must name its customer.
pub fn parse_profile(path: &Path, line_no: usize, text: &str) -> Result<Profile, SnapshotError> {
    let profile = parse::<Profile>(path, line_no, text)?;
    if profile.customer_id.as_deref().is_none_or(str::is_empty) {
        return Err(SnapshotError::Line {
            path: path.to_owned(),
            line: line_no,
            message: "customer_id is required".into(),
        });
    }
    Ok(profile)
}

/// Parses one snapshot line (the header or a profile), naming the line and field on error.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    line: usize,
    text: &str,
) -> Result<T, SnapshotError> {
    // The fast parser first; only a line that fails is parsed again to find the field.
    if let Ok(parsed) = serde_json::from_str(text) {
        return Ok(parsed);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        // The field and what was expected, never the value found (a name, a city, points): the
        // message goes to the node's log.
        let inner = without_values(&e.inner().to_string());
        let message = if field == "." {
            inner
        } else {
            format!("{field}: {inner}")
        };
        SnapshotError::Line {
            path: path.to_owned(),
            line,
            message,
        }
    })
}

/// A serde message without the values it quotes: `invalid type: string "Leeds", expected i64`
/// becomes `invalid type: string, expected i64`, and ``integer `42` `` becomes `integer`.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let quote = rest.find('"');
        let tick = ["integer `", "floating point `", "boolean `", "character `"]
            .iter()
            .filter_map(|kind| rest.find(kind).map(|at| at + kind.len() - 1))
            .min();
        let (at, close) = match (quote, tick) {
            (Some(q), Some(t)) if t < q => (t, '`'),
            (Some(q), _) => (q, '"'),
            (None, Some(t)) => (t, '`'),
            (None, None) => break,
        };
        out.push_str(rest[..at].trim_end());
        let after = &rest[at + 1..];
        let mut escaped = false;
        let end = after.char_indices().find(|&(_, c)| {
            let found = c == close && !escaped;
            escaped = c == '\\' && !escaped;
            found
        });
        match end {
            Some((i, _)) => rest = &after[i + 1..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
