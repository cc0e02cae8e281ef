//! Encryption of one store file's values, and keyed hashes of customer ids for its keys.
//!
//! Each store file has its own [`Sealing`]: a random salt, kept in plaintext in the store's
//! own metadata with the data key's id. The store's keys are derived from the data key, the
//! store's name and that salt, so every file has its own keys and the budget of random
//! AES-GCM nonces (about 2^32 values before a repeat becomes a real risk) is counted per file,
//! not per node.
//!
//! [`check`] decides, from what a store file says and whether a data key is configured,
//! whether the file is read in plaintext, opened encrypted, or refused. A store that is always
//! rebuilt from scratch (the profile store, rebuilt from the snapshot at each start) does not
//! call it on the new file: it calls [`StoreCipher::new`] when a key is configured and keeps
//! the returned [`Sealing`].

use super::hex;
use super::key::DataKey;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The only cipher there is; [`Sealing::cipher`] names it so another can follow.
pub const CIPHER: &str = "aes-256-gcm";
/// Bytes of salt in a [`Sealing`].
const SALT_LEN: usize = 16;
/// What sealing adds to a value: the nonce before it and the tag after.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const TAG_LEN: usize = 16;

/// How a store file is encrypted; the store keeps it in plaintext in its own metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealing {
    /// Always `aes-256-gcm`.
    pub cipher: String,
    /// [`DataKey::key_id`] of the key the file is encrypted with.
    pub key_id: String,
    /// 16 random bytes as hex, from which the file's own keys are derived.
    pub salt: String,
}

/// A store that cannot be opened, or a value that cannot be sealed or opened. No variant
/// carries anything secret.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("{store} is encrypted with key {found}, the configured data key is {configured}")]
    KeyMismatch {
        store: String,
        found: String,
        configured: String,
    },
    #[error("{store} is encrypted (key {key_id}); configure data_key to read it")]
    NoKey { store: String, key_id: String },
    #[error(
        "{store} was written without encryption; it is never read as encrypted: start with an \
         empty data directory to encrypt it, or turn data_key off"
    )]
    Plaintext { store: String },
    #[error("{store} is encrypted with {cipher}, which this node does not know (only {CIPHER})")]
    UnknownCipher { store: String, cipher: String },
    #[error("{store}'s sealing has a salt that is not {SALT_LEN} bytes of hex")]
    Salt { store: String },
    #[error("a value in {store} is {len} bytes, shorter than any sealed value ({OVERHEAD})")]
    Short { store: String, len: usize },
    #[error(
        "a value in {store} fails authentication: it was sealed with another key or for \
         another place, or it is damaged"
    )]
    Open { store: String },
    #[error("deriving {store}'s keys failed")]
    Key { store: String },
    #[error(
        "sealing a value for {store} failed (the system random generator, or a value too \
             large for AES-GCM)"
    )]
    Seal { store: String },
}

/// Encrypts and decrypts one store file's values and hashes its customer ids.
pub struct StoreCipher {
    store: String,
    key_id: String,
    aead: LessSafeKey,
    ids: hmac::Key,
    rng: SystemRandom,
}

impl StoreCipher {
    /// Keys for a new store file, with the [`Sealing`] the store keeps to open it again.
    pub fn new(key: &DataKey, store: &str) -> Result<(StoreCipher, Sealing), CipherError> {
        let rng = SystemRandom::new();
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt).map_err(|_| CipherError::Seal {
            store: store.to_owned(),
        })?;
        let sealing = Sealing {
            cipher: CIPHER.to_owned(),
            key_id: key.key_id(),
            salt: hex::encode(&salt),
        };
        Ok((StoreCipher::with_salt(key, store, &salt, rng)?, sealing))
    }

    /// Keys for an existing store file; refuses a file encrypted with another key. (Named
    /// `reopen` because [`StoreCipher::open`] opens a value.)
    pub fn reopen(
        key: &DataKey,
        store: &str,
        sealing: &Sealing,
    ) -> Result<StoreCipher, CipherError> {
        if sealing.cipher != CIPHER {
            return Err(CipherError::UnknownCipher {
                store: store.to_owned(),
                cipher: sealing.cipher.clone(),
            });
        }
        let configured = key.key_id();
        if sealing.key_id != configured {
            return Err(CipherError::KeyMismatch {
                store: store.to_owned(),
                found: sealing.key_id.clone(),
                configured,
            });
        }
        let salt = hex::decode(&sealing.salt)
            .filter(|salt| salt.len() == SALT_LEN)
            .ok_or_else(|| CipherError::Salt {
                store: store.to_owned(),
            })?;
        StoreCipher::with_salt(key, store, &salt, SystemRandom::new())
    }

    fn with_salt(
        key: &DataKey,
        store: &str,
        salt: &[u8],
        rng: SystemRandom,
    ) -> Result<StoreCipher, CipherError> {
        let value_key = zeroize::Zeroizing::new(key.derive(&purpose(store, "values"), salt));
        let id_key = zeroize::Zeroizing::new(key.derive(&purpose(store, "ids"), salt));
        let aead = aead_key(&value_key).map(LessSafeKey::new);
        let ids = hmac::Key::new(hmac::HMAC_SHA256, id_key.as_ref());
        Ok(StoreCipher {
            store: store.to_owned(),
            key_id: key.key_id(),
            aead: aead.map_err(|_| CipherError::Key {
                store: store.to_owned(),
            })?,
            ids,
            rng,
        })
    }

    /// The store's name, as errors give it.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The id of the data key the store is encrypted with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `plaintext` encrypted and bound to `aad` (what the value is, e.g. its table and key, so
    /// a value moved elsewhere fails to open): a random nonce, the ciphertext, the tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.seal_into(aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// [`StoreCipher::seal`] appending to `out`, whose allocation can be reused.
    pub fn seal_into(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CipherError::Seal {
            store: self.store.clone(),
        })?;
        self.seal_with_nonce(nonce, aad, plaintext, out)
    }

    /// [`StoreCipher::seal_into`] with the nonce taken from `nonces`: for a thread sealing many
    /// values in a row (a snapshot's load), one system call for a block of nonces.
    pub fn seal_into_with(
        &self,
        nonces: &mut Nonces,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError> {
        let nonce = nonces.next(&self.rng).ok_or_else(|| CipherError::Seal {
            store: self.store.clone(),
        })?;
        self.seal_with_nonce(nonce, aad, plaintext, out)
    }

    fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError> {
        let failed = || CipherError::Seal {
            store: self.store.clone(),
        };
        let start = out.len();
        out.reserve(plaintext.len() + OVERHEAD);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start + NONCE_LEN..],
            )
            .map_err(|_| {
                out.truncate(start);
                failed()
            })?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// The plaintext of a value [`StoreCipher::seal`] made with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut buffer = sealed.to_vec();
        let len = self.open_in_place(aad, &mut buffer)?.len();
        buffer.copy_within(NONCE_LEN..NONCE_LEN + len, 0);
        buffer.truncate(len);
        Ok(buffer)
    }

    /// [`StoreCipher::open`] decrypting inside `sealed` (a buffer the caller owns, such as one
    /// read from the store): returns the plaintext part of it.
    pub fn open_in_place<'a>(
        &self,
        aad: &[u8],
        sealed: &'a mut [u8],
    ) -> Result<&'a mut [u8], CipherError> {
        if sealed.len() < OVERHEAD {
            return Err(CipherError::Short {
                store: self.store.clone(),
                len: sealed.len(),
            });
        }
        let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Open {
            store: self.store.clone(),
        })?;
        self.aead
            .open_in_place(nonce, Aad::from(aad), rest)
            .map_err(|_| CipherError::Open {
                store: self.store.clone(),
            })
    }

    /// A keyed hash of a customer id, to use as the store's key in place of the id: lookups
    /// stay exact matches, and the id is never stored. Different for every store file.
    pub fn id_hash(&self, id: &str) -> [u8; 16] {
        let tag = hmac::sign(&self.ids, id.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }

    /// [`StoreCipher::id_hash`] as 32 hex characters.
    pub fn id_hash_hex(&self, id: &str) -> String {
        hex::encode(&self.id_hash(id))
    }
}

/// Nonces a block at a time from the system's generator: each as random as one drawn alone
/// (nonces are not secret; holding the next ones in memory gives nothing away), and a system
/// call (about 0.3 µs here) for every [`NONCE_BLOCK`] seals instead of every seal.
pub struct Nonces {
    block: Box<[u8; NONCE_LEN * NONCE_BLOCK]>,
    /// Nonces of `block` handed out; all of them when it is yet to be drawn.
    used: usize,
}

/// Nonces drawn at once by [`Nonces`].
pub const NONCE_BLOCK: usize = 64;

impl Default for Nonces {
    fn default() -> Nonces {
        Nonces {
            block: Box::new([0; NONCE_LEN * NONCE_BLOCK]),
            used: NONCE_BLOCK,
        }
    }
}

impl Nonces {
    /// The next nonce, drawing a new block when this one is used up; `None` when the system's
    /// generator fails.
    fn next(&mut self, rng: &SystemRandom) -> Option<[u8; NONCE_LEN]> {
        if self.used == NONCE_BLOCK {
            rng.fill(&mut self.block[..]).ok()?;
            self.used = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.block[self.used * NONCE_LEN..(self.used + 1) * NONCE_LEN]);
        // Never handed out twice, even if a caller keeps this block around.
        self.block[self.used * NONCE_LEN..(self.used + 1) * NONCE_LEN].fill(0);
        self.used += 1;
        Some(nonce)
    }
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for StoreCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreCipher")
            .field("store", &self.store)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The HKDF info of one of a store's keys.
fn purpose(store: &str, what: &str) -> String {
    format!("tailor store {store} {what}")
}

/// An AES-256-GCM key; ring refuses only a key of the wrong length, which the type rules out.
pub(crate) fn aead_key(bytes: &[u8; 32]) -> Result<UnboundKey, ring::error::Unspecified> {
    UnboundKey::new(&AES_256_GCM, bytes)
}

/// Whether a store file is read in plaintext (`Ok(None)`), opened encrypted, or refused, from
/// the sealing the file records (`found`) and the configured data key:
///
/// | found | key | result |
/// |---|---|---|
/// | none | none | plaintext |
/// | some | some | opened, or an error if the key ids differ |
/// | some | none | error: the store needs its key |
/// | none | some | error: a plaintext store is never read as encrypted |
pub fn check(
    store: &str,
    found: Option<&Sealing>,
    key: Option<&DataKey>,
) -> Result<Option<StoreCipher>, CipherError> {
    match (found, key) {
        (None, None) => Ok(None),
        (Some(sealing), Some(key)) => StoreCipher::reopen(key, store, sealing).map(Some),
        (Some(sealing), None) => Err(CipherError::NoKey {
            store: store.to_owned(),
            key_id: sealing.key_id.clone(),
        }),
        (None, Some(_)) => Err(CipherError::Plaintext {
            store: store.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
