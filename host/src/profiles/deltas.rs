//! The delta snapshots applied since the whole snapshot a node loads at start, kept in its data
//! directory so that a restarted node serves what it served before: the whole snapshot, then
//! each kept delta in the order it was applied. A whole snapshot loaded later clears them.

use crate::privacy::{DataKey, is_sealed, seal_into_place};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where a data directory keeps its deltas.
const DIR: &str = "snapshot-deltas";
const EXTENSION: &str = "delta";

/// A data directory's kept deltas.
#[derive(Debug)]
pub(super) struct Deltas {
    dir: PathBuf,
}

impl Deltas {
    pub(super) fn new(data_dir: &Path) -> Deltas {
        Deltas {
            dir: data_dir.join(DIR),
        }
    }

    /// The kept deltas, oldest first.
    pub(super) fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == EXTENSION))
            .collect();
        // Numbered with leading zeros: the names sort in the order the deltas were applied.
        files.sort();
        files
    }

    /// Keeps a copy of an applied delta (durable when this returns), sealed with the data key
    /// when there is one: customer data in the data directory is encrypted at rest.
    pub(super) fn keep(&self, delta: &Path, key: Option<&DataKey>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let next = self
            .files()
            .last()
            .and_then(|last| last.file_stem()?.to_str()?.parse::<u64>().ok())
            .map_or(1, |n| n + 1);
        let path = self.dir.join(format!("{next:08}.{EXTENSION}"));
        let mut from = std::fs::File::open(delta)?;
        if let Some(key) = key {
            let mut start = [0u8; 64];
            let read = std::io::Read::read(&mut from, &mut start)?;
            if !is_sealed(&start[..read]) {
                let mut from = std::fs::File::open(delta)?;
                return seal_into_place(&path, key, |to| std::io::copy(&mut from, to).map(drop))
                    .map_err(std::io::Error::other);
            }
            from = std::fs::File::open(delta)?;
        }
        let partial = self.dir.join(format!("{next:08}.partial"));
        let mut to = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&partial)?;
        std::io::copy(&mut from, &mut to)?;
        to.flush()?;
        to.sync_all()?;
        std::fs::rename(&partial, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Forgets every kept delta from `first` on (all of them when `None`).
    pub(super) fn forget_from(&self, first: Option<&Path>) {
        let files = self.files();
        let from = first
            .and_then(|first| files.iter().position(|f| f == first))
            .unwrap_or(0);
        for file in &files[from..] {
            if let Err(error) = std::fs::remove_file(file) {
                tracing::warn!(file = %file.display(), %error, "could not remove a kept snapshot delta");
            }
        }
    }
}
