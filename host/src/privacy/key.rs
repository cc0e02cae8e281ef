//! The data key: 32 secret bytes the node reads at start-up from a place outside its data
//! directory, and from which every store's own key is derived.
//!
//! The key is given as one option string, `file:/path`, `env:NAME` or `systemd:NAME` (a
//! credential systemd hands the unit with `LoadCredentialEncrypted=`, read from
//! `$CREDENTIALS_DIRECTORY/NAME`). The material is 64 hex characters or standard base64 of
//! 32 bytes, surrounding whitespace ignored; a file may also hold exactly 32 raw bytes.

use super::hex;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

/// Length of a data key in bytes.
pub const KEY_LEN: usize = 32;

/// The environment variable systemd sets to the unit's credentials directory.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Where the data key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `file:/path`: a file only the node's user can read (mode 0600 or 0400).
    File(PathBuf),
    /// `env:NAME`: an environment variable.
    Env(String),
    /// `systemd:NAME`: the credential `NAME` in `$CREDENTIALS_DIRECTORY`.
    Credential(String),
}

/// A data key that cannot be found, read or understood, naming where it was looked for.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "data_key: {given:?} names no key source; use file:/path/to/key, env:VARIABLE or \
         systemd:CREDENTIAL"
    )]
    Source { given: String },
    #[error("data_key: {from} is not set")]
    NotSet { from: String },
    #[error(
        "data_key: {from} needs systemd's credentials directory, and CREDENTIALS_DIRECTORY is \
         not set; the unit needs LoadCredentialEncrypted={name}:/path/to/sealed-key (or \
         LoadCredential=)"
    )]
    NoCredentialsDirectory { from: String, name: String },
    #[error("data_key: reading {from}")]
    Read {
        from: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data_key: {from} is readable by group or others (mode {mode:03o}); run chmod 600 {}",
        path.display()
    )]
    Permissions {
        from: String,
        path: PathBuf,
        mode: u32,
    },
    #[error("data_key: {from} is {len} bytes, a data key is 32")]
    Length { from: String, len: usize },
    #[error("data_key: {from} is neither 64 hex characters nor base64 of 32 bytes")]
    Encoding { from: String },
    /// ring's error says nothing more than that the system generator failed.
    #[error("data_key: the system random number generator failed")]
    Random,
}

/// The node's data key. The bytes are wiped when it is dropped; `Debug` shows only the key id.
pub struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl KeySource {
    /// How errors name this source: `file /etc/tailor/data.key`, `env TAILOR_DATA_KEY`, …
    fn describe(&self) -> String {
        match self {
            KeySource::File(path) => format!("file {}", path.display()),
            KeySource::Env(name) => format!("env {name}"),
            KeySource::Credential(name) => format!("systemd credential {name}"),
        }
    }
}

impl FromStr for KeySource {
    type Err = KeyError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let bad = || KeyError::Source {
            given: given.to_owned(),
        };
        let (kind, rest) = given.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "file" => Ok(KeySource::File(PathBuf::from(rest))),
            "env" => Ok(KeySource::Env(rest.to_owned())),
            // A credential name is a file name inside the credentials directory.
            "systemd" if !rest.contains('/') => Ok(KeySource::Credential(rest.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "file:{}", path.display()),
            KeySource::Env(name) => write!(f, "env:{name}"),
            KeySource::Credential(name) => write!(f, "systemd:{name}"),
        }
    }
}

impl serde::Serialize for KeySource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeySource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let given = String::deserialize(deserializer)?;
        given.parse().map_err(serde::de::Error::custom)
    }
}

impl DataKey {
    /// Reads the key from its source.
    pub fn load(source: &KeySource) -> Result<DataKey, KeyError> {
        let credentials = std::env::var_os(CREDENTIALS_DIRECTORY).map(PathBuf::from);
        load_with(
            source,
            |name| std::env::var_os(name),
            credentials.as_deref(),
        )
    }

    /// A new random key, for `tailor keygen`-style commands.
    pub fn generate() -> Result<DataKey, KeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| KeyError::Random)?;
        Ok(DataKey::from_zeroizing(bytes))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey::from_zeroizing(Zeroizing::new(bytes))
    }

    fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> DataKey {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes.as_ref()),
            b"tailor key id",
        );
        let id = hex::encode(&tag.as_ref()[..8]);
        DataKey { bytes, id }
    }

    /// A public fingerprint of the key (16 hex characters), safe to keep beside the data it
    /// encrypts and to log: it tells which key a store needs without revealing the key.
    pub fn key_id(&self) -> String {
        self.id.clone()
    }

    /// The key as 64 hex characters, the form [`DataKey::load`] reads back. Wiped on drop.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_ref()))
    }

    /// A 32-byte subkey for one `purpose` (HKDF-SHA256 with `salt`; `purpose` is HKDF's info).
    /// Different purposes or salts give independent keys.
    pub fn derive(&self, purpose: &str, salt: &[u8]) -> [u8; 32] {
        hkdf_sha256_32(self.bytes.as_ref(), salt, purpose.as_bytes())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).finish()
    }
}

/// HKDF-SHA256 (RFC 5869) with an output of one hash length: extract, then the first block of
/// expand. Written over HMAC because ring's HKDF output cannot be read as bytes without a
/// fallible call that, for 32 bytes, never fails.
fn hkdf_sha256_32(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()));
    context.update(info);
    context.update(&[1]);
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// [`DataKey::load`] with the environment and the credentials directory passed in.
fn load_with(
    source: &KeySource,
    env: impl Fn(&str) -> Option<OsString>,
    credentials: Option<&Path>,
) -> Result<DataKey, KeyError> {
    let from = source.describe();
    match source {
        KeySource::Env(name) => {
            let value = env(name).ok_or_else(|| KeyError::NotSet { from: from.clone() })?;
            let text = Zeroizing::new(
                value
                    .into_string()
                    .map_err(|_| KeyError::Encoding { from: from.clone() })?,
            );
            parse_text(&text, &from)
        }
        KeySource::File(path) => read_file(path, &from),
        KeySource::Credential(name) => {
            let dir = credentials.ok_or_else(|| KeyError::NoCredentialsDirectory {
                from: from.clone(),
                name: name.clone(),
            })?;
            read_file(&dir.join(name), &from)
        }
    }
}

fn read_file(path: &Path, from: &str) -> Result<DataKey, KeyError> {
    let read = |source| KeyError::Read {
        from: from.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    check_private(&file, path, from)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(128));
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(read)?;
    if bytes.len() == KEY_LEN {
        return Ok(from_slice(&bytes));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Encoding {
        from: from.to_owned(),
    })?;
    parse_text(text, from)
}

#[cfg(unix)]
fn check_private(file: &std::fs::File, path: &Path, from: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|source| KeyError::Read {
            from: from.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            from: from.to_owned(),
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &std::fs::File, _: &Path, _: &str) -> Result<(), KeyError> {
    Ok(())
}

/// Hex or base64 text. Text of hex digits only is read as hex: base64 of 32 bytes always ends
/// in `=`, so it is never mistaken for hex.
fn parse_text(text: &str, from: &str) -> Result<DataKey, KeyError> {
    let text = text.trim();
    let decoded = Zeroizing::new(
        match hex::decode(text) {
            Some(bytes) => Some(bytes),
            None => BASE64.decode(text).ok(),
        }
        .ok_or_else(|| KeyError::Encoding {
            from: from.to_owned(),
        })?,
    );
    if decoded.len() != KEY_LEN {
        return Err(KeyError::Length {
            from: from.to_owned(),
            len: decoded.len(),
        });
    }
    Ok(from_slice(&decoded))
}

/// A key from exactly [`KEY_LEN`] bytes, copied straight into wiped storage.
fn from_slice(bytes: &[u8]) -> DataKey {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(bytes);
    DataKey::from_zeroizing(key)
}

#[cfg(test)]
mod tests;
