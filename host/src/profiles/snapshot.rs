//! Reading a profile snapshot export: NDJSON, optionally gzip-compressed, whose first line is
//! a header `{"snapshot_version": "...", "generated_at_ms": 1774000000000}` and every further
//! line one profile with a `customer_id`.

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

/// A snapshot that cannot be loaded, naming the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("reading snapshot {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {path} is empty: the first line must be the header")]
    Empty { path: PathBuf },
    #[error("snapshot {path} line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Opens a snapshot, reads its header, and returns the profiles that follow, one per line.
pub fn open(
    path: &Path,
) -> Result<
    (
        SnapshotHeader,
        impl Iterator<Item = Result<Profile, SnapshotError>>,
    ),
    SnapshotError,
> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let gzip = file.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut lines = BufReader::new(reader).lines().enumerate();
    let header = match lines.next() {
        None => {
            return Err(SnapshotError::Empty {
                path: path.to_owned(),
            });
        }
        Some((_, line)) => parse::<SnapshotHeader>(path, 1, &line.map_err(io)?)?,
    };
    let path = path.to_owned();
    let profiles = lines.filter_map(move |(index, line)| {
        let line_no = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(source) => {
                return Some(Err(SnapshotError::Io {
                    path: path.clone(),
                    source,
                }));
            }
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(parse::<Profile>(&path, line_no, &line).and_then(|profile| {
            if profile.customer_id.as_deref().is_none_or(str::is_empty) {
                Err(SnapshotError::Line {
                    path: path.clone(),
                    line: line_no,
                    message: "customer_id is required".into(),
                })
            } else {
                Ok(profile)
            }
        }))
    });
    Ok((header, profiles))
}

/// Parses one snapshot line (the header or a profile), naming the line and field on error.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    line: usize,
    text: &str,
) -> Result<T, SnapshotError> {
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
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tailor-snapshot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    const TEXT: &str = "{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c1\",\"segments\":[\"a\"]}\n\n{\"customer_id\":\"c2\"}\n";

    #[test]
    fn reads_plain_and_gzip() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(TEXT.as_bytes()).unwrap();
        for path in [
            write("plain.ndjson", TEXT.as_bytes()),
            write("packed.ndjson.gz", &gz.finish().unwrap()),
        ] {
            let (header, profiles) = open(&path).unwrap();
            assert_eq!(
                header,
                SnapshotHeader {
                    snapshot_version: "v1".into(),
                    generated_at_ms: 5
                }
            );
            let ids: Vec<String> = profiles.map(|p| p.unwrap().customer_id.unwrap()).collect();
            assert_eq!(ids, ["c1", "c2"]);
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        let path = write("bad.ndjson", b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c1\"}\n{\"customer_id\":\"c2\",\"loyalty\":{\"tier\":3}}\n");
        let (_, profiles) = open(&path).unwrap();
        let errors: Vec<String> = profiles
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("line 3") && errors[0].contains("loyalty.tier"),
            "{}",
            errors[0]
        );
        let path = write(
            "values.ndjson",
            b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c3\",\"loyalty\":{\"tier\":\"gold\",\"points\":\"Leeds\"}}\n{\"customer_id\":\"c4\",\"loyalty\":{\"tier\":31337,\"points\":1}}\n",
        );
        let (_, profiles) = open(&path).unwrap();
        let errors: Vec<String> = profiles
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        for error in &errors {
            assert!(
                !error.contains("Leeds") && !error.contains("31337") && error.contains("expected"),
                "{error}"
            );
        }
        assert!(
            errors[0].contains("loyalty.points: invalid type: string, expected"),
            "{}",
            errors[0]
        );
        let path = write("nohdr.ndjson", b"{\"customer_id\":\"c1\"}\n");
        let err = open(&path).err().unwrap().to_string();
        assert!(err.contains("line 1"), "{err}");
        let path = write(
            "noid.ndjson",
            b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"segments\":[]}\n",
        );
        let (_, profiles) = open(&path).unwrap();
        let err = profiles.filter_map(Result::err).next().unwrap().to_string();
        assert!(err.contains("customer_id is required"), "{err}");
    }
}
