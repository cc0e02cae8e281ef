//! ed25519 signatures over policy digests.
//!
//! A policy version is named by its digest (`sha256:<hex>`, see [`crate::registry::digest`]); a
//! signature covers [`DOMAIN`] followed by that digest string. Keys and signatures travel as one
//! line of text each:
//!
//! - public key: `ed25519-pub:<base64 of 32 bytes>`
//! - secret key: `ed25519-secret:<base64 of the 32-byte seed>`
//! - signature: `ed25519:<key id>:<base64 of 64 bytes>`, where the key id is the first 16 hex
//!   characters of the SHA-256 of the public key bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Domain separation: what a policy signature covers before the digest string.
pub const DOMAIN: &[u8] = b"tailor-policy-signature-v1\0";

const PUBLIC_PREFIX: &str = "ed25519-pub:";
const SECRET_PREFIX: &str = "ed25519-secret:";
const SIGNATURE_PREFIX: &str = "ed25519:";
const KEY_ID_LEN: usize = 16;

/// Why a key could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("malformed {kind}: {reason}")]
    Malformed { kind: &'static str, reason: String },
    #[error("expected a {expected}, found a {found}")]
    WrongKind {
        expected: &'static str,
        found: &'static str,
    },
    #[error("cannot read key file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid key file {}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<KeyError>,
    },
    #[error("cannot gather randomness for a new key")]
    Random(#[source] io::Error),
}

/// Why a policy's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the policy is unsigned and this node requires signatures")]
    Missing,
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("signed by key {key_id}, which this node does not trust")]
    UnknownKey { key_id: String },
    #[error("the signature by key {key_id} does not match this policy's digest")]
    Invalid { key_id: String },
}

impl SignatureError {
    /// Stable machine-readable code (used in HTTP error bodies).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed(_) => "signature_malformed",
            Self::UnknownKey { .. } => "signature_unknown_key",
            Self::Invalid { .. } => "signature_invalid",
        }
    }
}

/// A key that verifies policy signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: String,
}

impl PublicKey {
    fn new(key: VerifyingKey) -> Self {
        let key_id = crate::digest::sha256_hex(key.as_bytes())[..KEY_ID_LEN].to_owned();
        Self { key, key_id }
    }

    /// Parses `ed25519-pub:<base64>`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        const KIND: &str = "public key";
        let bytes: [u8; 32] = decode_fixed(strip_kind(text, PUBLIC_PREFIX, KIND)?, KIND)?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| malformed(KIND, "not a curve point"))?;
        if key.is_weak() {
            return Err(malformed(KIND, "a weak (small-order) key"));
        }
        Ok(Self::new(key))
    }

    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", BASE64.encode(self.key.as_bytes()))
    }

    /// First 16 hex characters of the SHA-256 of the key bytes.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// A key that signs policies. Its `Debug` output never shows the seed.
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.public.key_id)
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| {
            KeyError::Random(match error.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::other(error.to_string()),
            })
        })?;
        let key = Self::from_seed(&seed);
        seed.fill(0);
        Ok(key)
    }

    fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::new(key.verifying_key());
        Self { key, public }
    }

    /// Parses `ed25519-secret:<base64 seed>`.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        const KIND: &str = "secret key";
        let mut seed: [u8; 32] = decode_fixed(strip_kind(text, SECRET_PREFIX, KIND)?, KIND)?;
        let key = Self::from_seed(&seed);
        seed.fill(0);
        Ok(key)
    }

    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(self.key.as_bytes()))
    }

    pub fn public(&self) -> PublicKey {
        self.public.clone()
    }

    /// Signs a policy digest (`sha256:<hex>`) and returns the signature text.
    pub fn sign(&self, digest: &str) -> String {
        let signature = self.key.sign(&message(digest));
        let bytes = signature.to_bytes();
        format!(
            "{SIGNATURE_PREFIX}{}:{}",
            self.public.key_id,
            BASE64.encode(bytes)
        )
    }
}

/// The public keys a node accepts policy signatures from.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Trusts these keys (a key given twice counts once).
    pub fn from_keys(keys: Vec<PublicKey>) -> Self {
        let mut unique: Vec<PublicKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        Self { keys: unique }
    }

    /// Reads one public key per file; an error names the file.
    pub fn load(paths: &[PathBuf]) -> Result<Self, KeyError> {
        let keys = paths
            .iter()
            .map(|path| load_public(path))
            .collect::<Result<_, _>>()?;
        Ok(Self::from_keys(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(PublicKey::key_id).collect()
    }

    /// Checks `signature` over `digest`; returns the id of the key that made it.
    pub fn verify(&self, digest: &str, signature: Option<&str>) -> Result<String, SignatureError> {
        let text = signature.ok_or(SignatureError::Missing)?;
        let (key_id, signature) = parse_signature(text)?;
        let key = self
            .keys
            .iter()
            .find(|key| key.key_id == key_id)
            .ok_or_else(|| SignatureError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        key.key
            .verify_strict(&message(digest), &signature)
            .map_err(|_| SignatureError::Invalid {
                key_id: key_id.to_owned(),
            })?;
        Ok(key.key_id.clone())
    }
}

/// Reads a secret key file (`tailor keygen`).
pub fn load_secret(path: &Path) -> Result<SecretKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    SecretKey::parse(text.trim()).map_err(|source| KeyError::InFile {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

fn load_public(path: &Path) -> Result<PublicKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    PublicKey::parse(&text).map_err(|source| KeyError::InFile {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

fn parse_signature(text: &str) -> Result<(&str, Signature), SignatureError> {
    let text = trim_line(text);
    let Some(rest) = text.strip_prefix(SIGNATURE_PREFIX) else {
        let found = kind_of(text).map_or(String::new(), |kind| format!(", found a {kind}"));
        return Err(SignatureError::Malformed(format!(
            "expected `{SIGNATURE_PREFIX}<key id>:<base64>`{found}"
        )));
    };
    let (key_id, encoded) = rest
        .split_once(':')
        .ok_or_else(|| SignatureError::Malformed("missing `:` after the key id".into()))?;
    let is_hex = key_id
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if key_id.len() != KEY_ID_LEN || !is_hex {
        return Err(SignatureError::Malformed(format!(
            "key id `{key_id}` is not {KEY_ID_LEN} lowercase hex characters"
        )));
    }
    let bytes: [u8; 64] = decode_fixed(encoded, "signature")
        .map_err(|error| SignatureError::Malformed(inner_reason(error)))?;
    Ok((key_id, Signature::from_bytes(&bytes)))
}

fn message(digest: &str) -> Vec<u8> {
    [DOMAIN, digest.as_bytes()].concat()
}

fn trim_line(text: &str) -> &str {
    text.trim_end_matches(['\n', '\r'])
}

fn kind_of(text: &str) -> Option<&'static str> {
    [
        (PUBLIC_PREFIX, "public key"),
        (SECRET_PREFIX, "secret key"),
        (SIGNATURE_PREFIX, "signature"),
    ]
    .into_iter()
    .find_map(|(prefix, kind)| text.starts_with(prefix).then_some(kind))
}

fn strip_kind<'a>(text: &'a str, prefix: &str, kind: &'static str) -> Result<&'a str, KeyError> {
    let text = trim_line(text);
    if let Some(rest) = text.strip_prefix(prefix) {
        return Ok(rest);
    }
    Err(match kind_of(text) {
        Some(found) => KeyError::WrongKind {
            expected: kind,
            found,
        },
        None => malformed(kind, &format!("expected it to start with `{prefix}`")),
    })
}

fn decode_fixed<const N: usize>(encoded: &str, kind: &'static str) -> Result<[u8; N], KeyError> {
    let bytes = BASE64
        .decode(encoded)
        .map_err(|error| malformed(kind, &format!("invalid base64: {error}")))?;
    let found = bytes.len();
    bytes
        .try_into()
        .map_err(|_| malformed(kind, &format!("expected {N} bytes, found {found}")))
}

fn malformed(kind: &'static str, reason: &str) -> KeyError {
    KeyError::Malformed {
        kind,
        reason: reason.to_owned(),
    }
}

fn inner_reason(error: KeyError) -> String {
    match error {
        KeyError::Malformed { reason, .. } => reason,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    // Computed once from a seed of 32 bytes of 0x07 (and checked with an independent
    // implementation); ed25519 is deterministic, so a change here is a format change.
    const KAT_PUBLIC: &str = "ed25519-pub:6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=";
    const KAT_KEY_ID: &str = "fe812c12f3ab4ce6";
    const KAT_SIGNATURE: &str = "ed25519:fe812c12f3ab4ce6:wDRsCvd+K9bgqjDBZLl0C/eBXEhlh0GRwj70\
                                 xVsVQnY3wDtwBcYcLAF0CAAnMtm01YfwGFu/Mf732r53oSLFDQ==";

    fn kat_key() -> SecretKey {
        SecretKey::parse(&format!("{SECRET_PREFIX}{}", BASE64.encode([7u8; 32]))).unwrap()
    }

    fn trusting(key: &SecretKey) -> TrustedKeys {
        TrustedKeys::from_keys(vec![key.public()])
    }

    fn malformed_signature(text: &str) -> String {
        match trusting(&kat_key()).verify(DIGEST, Some(text)) {
            Err(SignatureError::Malformed(reason)) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn known_answer() {
        let key = kat_key();
        assert_eq!(key.public().to_text(), KAT_PUBLIC);
        assert_eq!(key.public().key_id(), KAT_KEY_ID);
        assert_eq!(key.sign(DIGEST), KAT_SIGNATURE);
        assert_eq!(
            trusting(&key).verify(DIGEST, Some(KAT_SIGNATURE)).unwrap(),
            KAT_KEY_ID
        );
    }

    #[test]
    fn signs_and_verifies() {
        let key = SecretKey::generate().unwrap();
        let signature = key.sign(DIGEST);
        let verified = trusting(&key).verify(DIGEST, Some(&signature)).unwrap();
        assert_eq!(verified, key.public().key_id());
        let with_newline = format!("{signature}\n");
        assert!(trusting(&key).verify(DIGEST, Some(&with_newline)).is_ok());
    }

    #[test]
    fn tampered_digest_is_invalid() {
        let key = kat_key();
        let other = DIGEST.replace("sha256:0", "sha256:1");
        assert_eq!(
            trusting(&key).verify(&other, Some(&key.sign(DIGEST))),
            Err(SignatureError::Invalid {
                key_id: KAT_KEY_ID.into()
            })
        );
    }

    #[test]
    fn other_key_is_unknown() {
        let signer = SecretKey::generate().unwrap();
        let error = trusting(&kat_key())
            .verify(DIGEST, Some(&signer.sign(DIGEST)))
            .unwrap_err();
        assert_eq!(error.code(), "signature_unknown_key");
        assert!(error.to_string().contains(signer.public().key_id()));
    }

    #[test]
    fn missing_signature() {
        let error = trusting(&kat_key()).verify(DIGEST, None).unwrap_err();
        assert_eq!(error, SignatureError::Missing);
        assert_eq!(error.code(), "signature_missing");
        assert!(TrustedKeys::default().is_empty());
    }

    #[test]
    fn malformed_signatures_say_why() {
        assert!(malformed_signature("rsa:abc").contains("expected `ed25519:"));
        assert!(malformed_signature(KAT_PUBLIC).contains("found a public key"));
        assert!(malformed_signature("ed25519:fe812c12f3ab4ce6").contains("missing `:`"));
        assert!(malformed_signature("ed25519:FE81:AAAA").contains("16 lowercase hex"));
        let bad_base64 = format!("ed25519:{KAT_KEY_ID}:not base64!");
        assert!(malformed_signature(&bad_base64).contains("invalid base64"));
        let short = format!("ed25519:{KAT_KEY_ID}:{}", BASE64.encode([0u8; 63]));
        assert!(malformed_signature(&short).contains("expected 64 bytes, found 63"));
        let error = SignatureError::Malformed(String::new());
        assert_eq!(error.code(), "signature_malformed");
    }

    #[test]
    fn malformed_keys_say_why() {
        let text = |result: Result<PublicKey, KeyError>| result.unwrap_err().to_string();
        assert!(text(PublicKey::parse("ssh-ed25519 AAAA")).contains("start with `ed25519-pub:`"));
        assert!(text(PublicKey::parse("ed25519-pub:%%")).contains("invalid base64"));
        let short = format!("ed25519-pub:{}", BASE64.encode([1u8; 31]));
        assert!(text(PublicKey::parse(&short)).contains("expected 32 bytes, found 31"));
        let weak = format!("ed25519-pub:{}", BASE64.encode([0u8; 32]));
        assert!(text(PublicKey::parse(&weak)).contains("weak"));
        let secret = kat_key().to_text();
        assert_eq!(
            text(PublicKey::parse(&secret)),
            "expected a public key, found a secret key"
        );
        let error = SecretKey::parse(KAT_PUBLIC).unwrap_err();
        assert!(matches!(
            error,
            KeyError::WrongKind {
                found: "public key",
                ..
            }
        ));
    }

    #[test]
    fn key_texts_round_trip() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::parse(&format!("{}\n", key.to_text())).unwrap();
        assert_eq!(again.to_text(), key.to_text());
        let public = PublicKey::parse(&key.public().to_text()).unwrap();
        assert_eq!(public, key.public());
    }

    #[test]
    fn key_id_is_stable_hex() {
        let id = kat_key().public().key_id().to_owned();
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(PublicKey::parse(KAT_PUBLIC).unwrap().key_id(), id);
    }

    #[test]
    fn debug_redacts_the_seed() {
        let key = kat_key();
        let debug = format!("{key:?}");
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains(&key.to_text()[SECRET_PREFIX.len()..]));
    }

    #[test]
    fn loads_trusted_keys_and_names_bad_files() {
        let dir = std::env::temp_dir().join(format!("tailor-signing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.pub");
        let bad = dir.join("bad.pub");
        std::fs::write(&good, format!("{KAT_PUBLIC}\n")).unwrap();
        std::fs::write(&bad, "nonsense").unwrap();
        let keys = TrustedKeys::load(&[good.clone(), good.clone()]).unwrap();
        assert_eq!((keys.len(), keys.key_ids()), (1, vec![KAT_KEY_ID]));
        let error = TrustedKeys::load(&[good, bad.clone()]).unwrap_err();
        assert!(error.to_string().contains("bad.pub"));
        assert!(matches!(error, KeyError::InFile { ref path, .. } if *path == bad));
        let missing = TrustedKeys::load(&[dir.join("missing.pub")]).unwrap_err();
        assert!(matches!(missing, KeyError::Read { .. }));
        assert!(missing.to_string().contains("missing.pub"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
