//! Keyed pseudonyms of customer ids: HMAC-SHA256 under a node secret, so a log line or an
//! erasure record names a customer consistently without naming them, and customer numbers
//! (a small, guessable space) cannot be hashed by whoever reads the file and compared.
//!
//! With a data key the secret is derived from it, so nodes sharing a data key name a customer
//! alike and nothing beside the data reveals it; without one it is `pseudonym.key` in the data
//! directory, made on first start (mode 0600).

use ring::hmac;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The file under the data directory holding the pseudonym secret.
const KEY_FILE: &str = "pseudonym.key";
/// Bytes of a pseudonym (128 bits: no collisions among any realistic number of customers).
const BYTES: usize = 16;

/// The pseudonym secret cannot be read or made; names the file.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymError {
    #[error("pseudonym key {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "pseudonym key {path} holds {len} bytes, not 32: remove it to make a new one (erasure records and log pseudonyms made with the old one stop matching)"
    )]
    Length { path: PathBuf, len: usize },
}

/// Makes pseudonyms of customer ids.
pub struct Pseudonyms {
    key: hmac::Key,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    /// Pseudonyms under a 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Pseudonyms {
        Pseudonyms {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Pseudonyms under a secret derived from the data key.
    pub fn from_data_key(key: &crate::privacy::DataKey) -> Pseudonyms {
        let secret = zeroize::Zeroizing::new(key.derive("tailor pseudonyms", b""));
        Pseudonyms::from_secret(&secret)
    }

    /// The node's pseudonyms: the secret in `data_dir`, made on first use.
    pub fn open(data_dir: &Path) -> Result<Pseudonyms, PseudonymError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| PseudonymError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let secret: [u8; 32] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| PseudonymError::Length {
                            path: path.clone(),
                            len: bytes.len(),
                        })?;
                Ok(Pseudonyms::from_secret(&secret))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| io(std::io::Error::other(e.to_string())))?;
                write_private(&path, &secret).map_err(io)?;
                Ok(Pseudonyms::from_secret(&secret))
            }
            Err(error) => Err(io(error)),
        }
    }

    /// The raw pseudonym of `id`.
    pub fn hash(&self, id: &str) -> [u8; BYTES] {
        let tag = hmac::sign(&self.key, id.as_bytes());
        let mut out = [0u8; BYTES];
        out.copy_from_slice(&tag.as_ref()[..BYTES]);
        out
    }

    /// The pseudonym of `id` as text: `p-` and 32 hex digits.
    pub fn label(&self, id: &str) -> String {
        let mut out = String::with_capacity(2 + 2 * BYTES);
        out.push_str("p-");
        for byte in self.hash(id) {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }
}

/// Writes a new file readable by this user only, synced.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_secret_and_differ_between_secrets() {
        let dir = std::env::temp_dir().join(format!("tailor-pseudonym-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = Pseudonyms::open(&dir).unwrap().label("cust-000042");
        assert_eq!(Pseudonyms::open(&dir).unwrap().label("cust-000042"), first);
        assert!(first.starts_with("p-") && first.len() == 34, "{first}");
        assert!(!first.contains("000042"));
        assert_ne!(Pseudonyms::open(&dir).unwrap().label("cust-000043"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        assert_ne!(
            Pseudonyms::from_secret(&[7; 32]).label("cust-000042"),
            first
        );
        std::fs::write(dir.join(KEY_FILE), b"short").unwrap();
        assert!(matches!(
            Pseudonyms::open(&dir),
            Err(PseudonymError::Length { len: 5, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
