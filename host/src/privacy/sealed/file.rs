//! Writing a whole sealed file into place: aside, synced, then renamed over the old one, so a
//! reader (the snapshot watcher, a restart after a crash) sees the old file or all of the new.

use super::SealedWriter;
use crate::privacy::key::DataKey;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tells apart the temporary files of writes running at once in one process.
static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A sealed file that could not be written, naming the file and the step.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", path.display())]
pub struct WriteError {
    what: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// Writes `path` sealed with `key`, its plaintext being what `body` writes. `path` is replaced
/// only once the whole file is sealed and on disk; on error it is left as it was.
pub fn seal_into_place(
    path: &Path,
    key: &DataKey,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let error = |what, path: &Path| {
        let path = path.to_owned();
        move |source| WriteError { what, path, source }
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temp = path.file_name().unwrap_or_default().to_owned();
    temp.push(format!(
        ".{}-{}.partial",
        std::process::id(),
        TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = dir.join(temp);
    let written = write_sealed(&temp, path, key, body);
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    std::fs::rename(&temp, path).map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        error("renaming into place", path)(source)
    })?;
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(error("syncing the directory of", path))
}

/// Seals `body`'s output into the new file `temp` (errors inside the stream name `path`).
fn write_sealed(
    temp: &Path,
    path: &Path,
    key: &DataKey,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let error = |what| {
        let temp = temp.to_owned();
        move |source| WriteError {
            what,
            path: temp,
            source,
        }
    };
    let file = File::create_new(temp).map_err(error("creating"))?;
    let name = path.display().to_string();
    let mut writer = SealedWriter::new(file, key, &name).map_err(error("writing"))?;
    body(&mut writer).map_err(error("writing"))?;
    let file = writer.finish().map_err(error("writing"))?;
    file.sync_all().map_err(error("syncing"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::SealedReader;
    use std::io::Read;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tailor-seal-into-place-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_a_sealed_file_and_replaces_the_old_one_only_when_done() {
        let dir = scratch("replace");
        let key = DataKey::from_bytes([3; 32]);
        let path = dir.join("snapshot.sealed");
        std::fs::write(&path, b"old").unwrap();
        let failed = seal_into_place(&path, &key, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("the input ended early"))
        })
        .unwrap_err();
        assert!(failed.to_string().contains("snapshot.sealed"), "{failed}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "a temp file is left"
        );

        seal_into_place(&path, &key, |out| out.write_all(b"new contents")).unwrap();
        let sealed = std::fs::read(&path).unwrap();
        assert!(super::super::is_sealed(&sealed));
        let mut plain = Vec::new();
        SealedReader::new(sealed.as_slice(), &key, "snapshot.sealed")
            .unwrap()
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, b"new contents");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "a temp file is left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
