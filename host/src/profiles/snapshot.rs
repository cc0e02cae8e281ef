//! Reading a profile snapshot export: NDJSON, optionally gzip-compressed, whose first line is
//! a header `{"snapshot_version": "...", "generated_at_ms": 1774000000000}` and every further
//! line one profile with a `customer_id`.
//!
//! The file may be sealed with the data key ([`crate::privacy::sealed`], what `tailor seal`
//! writes), the NDJSON or its gzip inside: a sealed snapshot needs the data key, and with a
//! data key configured a plaintext one is still read (the customer data platform exports
//! plaintext) but warned about.

use crate::privacy::{DataKey, SealedReader, is_sealed};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use tailor_types::Profile;

mod scan;
mod split;
pub use scan::{ProfileRef, ValueRef, scan};
pub use split::{Share, split_snapshot};

/// The snapshot's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotHeader {
    pub snapshot_version: String,
    /// When the customer data platform generated the export, ms since the Unix epoch.
    pub generated_at_ms: i64,
    /// Set on a delta snapshot: the version it changes. Its lines are the customers whose
    /// profile changed since that version (the whole new profile) and those removed
    /// (`{"customer_id": "…", "removed": true}`); everyone else keeps the base's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_version: Option<String>,
}

/// One line of a snapshot's body.
#[derive(Debug)]
pub enum SnapshotLine {
    /// The customer's whole profile.
    Profile(Profile),
    /// A delta's removal of a customer from its base.
    Removed(String),
}

/// A delta's removal line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Removal {
    customer_id: String,
    removed: bool,
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
    #[error(
        "snapshot {path} is a delta of version {base}: a node starts from a whole snapshot, \
         and applies deltas on top of the one it serves"
    )]
    DeltaWithoutBase { path: PathBuf, base: String },
    #[error(
        "snapshot {path} is a delta of version {base}, but this node serves version {serving}: \
         apply the deltas in order, or load a whole snapshot"
    )]
    WrongBase {
        path: PathBuf,
        base: String,
        serving: String,
    },
    /// Writing a snapshot (a partition's share of one) failed.
    #[error("writing snapshot {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {path} line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Opens a snapshot (sealed with `key`, or plaintext), reads its header, and returns the
/// profiles that follow, one per line, parsed on this thread (the store's loader parses
/// [`chunks`] on every core).
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
    let (header, chunks) = chunks(path, key)?;
    let path = path.to_owned();
    let profiles = chunks.flat_map(move |chunk| {
        let parsed: Vec<Result<Profile, SnapshotError>> = match chunk {
            Ok(chunk) => chunk
                .lines()
                .map(|(line_no, text)| parse_profile(&path, line_no, text))
                .collect(),
            Err(error) => vec![Err(error)],
        };
        parsed
    });
    Ok((header, profiles))
}

/// Writes a snapshot file for a test: a header of `version` (a delta of `base`), then `lines`.
#[cfg(test)]
pub fn write_for_test(path: &Path, version: &str, base: Option<&str>, lines: &[impl AsRef<str>]) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let header = SnapshotHeader {
        snapshot_version: version.into(),
        generated_at_ms: 1,
        base_version: base.map(Into::into),
    };
    writeln!(file, "{}", serde_json::to_string(&header).unwrap()).unwrap();
    for line in lines {
        writeln!(file, "{}", line.as_ref()).unwrap();
    }
}

/// Bytes of the snapshot a chunk holds at least (ending at a line's end): big enough that
/// handing it to a parsing thread costs nothing next to parsing it.
const CHUNK_BYTES: usize = 256 << 10;
/// Bytes read from the snapshot at a time.
const READ_BYTES: usize = 64 << 10;

/// Whole lines of a snapshot's body, read as one block: what the store's loader hands each
/// parsing thread.
#[derive(Debug)]
pub struct Chunk {
    /// The number of the chunk's first line (the header is line 1).
    first_line: usize,
    bytes: Vec<u8>,
}

impl Chunk {
    /// The chunk's profile lines with their numbers (blank lines skipped). The whole chunk is
    /// checked to be UTF-8 at once (the JSON parser then checks no string again); a line that is
    /// not comes as `None`, and is the last.
    pub fn lines(&self) -> impl Iterator<Item = (usize, Option<&str>)> {
        let (text, complete) = match std::str::from_utf8(&self.bytes) {
            Ok(text) => (text, usize::MAX),
            Err(error) => {
                let text = std::str::from_utf8(&self.bytes[..error.valid_up_to()]).unwrap_or("");
                (text, text.bytes().filter(|&b| b == b'\n').count())
            }
        };
        let bad = (complete != usize::MAX).then(|| (self.first_line + complete, None));
        text.split('\n')
            .take(complete)
            .enumerate()
            .filter_map(|(i, line)| {
                let line = line.strip_suffix('\r').unwrap_or(line);
                (!line.trim_ascii().is_empty()).then_some((self.first_line + i, Some(line)))
            })
            .chain(bad)
    }
}

/// A snapshot's body after its header, as [`Chunk`]s of whole lines in the file's order.
pub struct Chunks {
    reader: Box<dyn BufRead + Send>,
    path: PathBuf,
    /// The start of a line the last chunk did not finish.
    carry: Vec<u8>,
    next_line: usize,
    done: bool,
}

impl std::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks")
            .field("path", &self.path)
            .field("next_line", &self.next_line)
            .finish_non_exhaustive()
    }
}

impl Chunks {
    fn failed(&mut self, source: std::io::Error) -> Option<Result<Chunk, SnapshotError>> {
        self.done = true;
        Some(Err(SnapshotError::Io {
            path: self.path.clone(),
            source,
        }))
    }
}

impl Iterator for Chunks {
    type Item = Result<Chunk, SnapshotError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.reserve(CHUNK_BYTES + READ_BYTES);
        // Where the last line end so far is, searching only what each read adds.
        let mut line_end = bytes.iter().rposition(|&b| b == b'\n');
        loop {
            if bytes.len() >= CHUNK_BYTES
                && let Some(end) = line_end
            {
                self.carry = bytes[end + 1..].to_vec();
                bytes.truncate(end + 1);
                break;
            }
            let len = bytes.len();
            bytes.resize(len + READ_BYTES, 0);
            match self.reader.read(&mut bytes[len..]) {
                Ok(0) => {
                    bytes.truncate(len);
                    self.done = true;
                    break;
                }
                Ok(n) => {
                    bytes.truncate(len + n);
                    if let Some(at) = bytes[len..].iter().rposition(|&b| b == b'\n') {
                        line_end = Some(len + at);
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {
                    bytes.truncate(len);
                }
                Err(error) => return self.failed(error),
            }
        }
        if bytes.is_empty() {
            return None;
        }
        let first_line = self.next_line;
        self.next_line += bytes.iter().filter(|&&b| b == b'\n').count();
        Some(Ok(Chunk { first_line, bytes }))
    }
}

/// Opens a snapshot as [`open`] does, and returns its body unparsed, in chunks of whole lines,
/// for a loader that parses them on several threads ([`parse_profile`]).
pub fn chunks(
    path: &Path,
    key: Option<&DataKey>,
) -> Result<(SnapshotHeader, Chunks), SnapshotError> {
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
    let mut reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            256 << 10,
            MultiGzDecoder::new(plain),
        ))
    } else {
        plain
    };
    let mut first = Vec::new();
    if reader.read_until(b'\n', &mut first).map_err(io)? == 0 {
        return Err(SnapshotError::Empty {
            path: path.to_owned(),
        });
    }
    let first = String::from_utf8(first).map_err(|_| SnapshotError::Line {
        path: path.to_owned(),
        line: 1,
        message: "the line is not UTF-8".into(),
    })?;
    let header = parse::<SnapshotHeader>(path, 1, &first)?;
    let chunks = Chunks {
        reader,
        path: path.to_owned(),
        carry: Vec::new(),
        next_line: 2,
        done: false,
    };
    Ok((header, chunks))
}

/// Parses a profile line (line `line_no` of the snapshot at `path`): it must name its customer.
/// `None` for a line that is not UTF-8.
pub fn parse_profile(
    path: &Path,
    line_no: usize,
    text: Option<&str>,
) -> Result<Profile, SnapshotError> {
    let Some(text) = text else {
        return Err(SnapshotError::Line {
            path: path.to_owned(),
            line: line_no,
            message: "the line is not UTF-8".into(),
        });
    };
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

/// Parses a line of a delta snapshot: a profile as [`parse_profile`] does, or a removal.
pub fn parse_delta_line(
    path: &Path,
    line_no: usize,
    text: Option<&str>,
) -> Result<SnapshotLine, SnapshotError> {
    match parse_profile(path, line_no, text) {
        Ok(profile) => Ok(SnapshotLine::Profile(profile)),
        Err(error) => match text.and_then(|text| serde_json::from_str::<Removal>(text).ok()) {
            Some(removal) if removal.removed && !removal.customer_id.is_empty() => {
                Ok(SnapshotLine::Removed(removal.customer_id))
            }
            Some(_) => Err(SnapshotError::Line {
                path: path.to_owned(),
                line: line_no,
                message: "removed: a removal line has a customer_id and \"removed\": true".into(),
            }),
            None => Err(error),
        },
    }
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
