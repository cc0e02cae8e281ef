//! A test's own directory under the temp directory, removed when it drops.

use std::path::PathBuf;

pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    /// `tailor-<tag>-<pid>`, empty: tags differ between the tests of one process.
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tailor-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
