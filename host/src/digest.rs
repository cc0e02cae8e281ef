//! Content digests: SHA-256 and its `sha256:<hex>` form, lowercase hex. Every hash the host
//! names something by (policy versions, stored objects, key ids, cache keys) comes from here.

use sha2::{Digest as _, Sha256};

/// What a `sha256:<hex>` digest starts with.
pub const SHA256_PREFIX: &str = "sha256:";

/// Lowercase hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The SHA-256 of some bytes.
pub fn sha256_bytes(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of the SHA-256 of some bytes (no prefix).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256_bytes(bytes))
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    sha256_of([bytes])
}

/// `sha256:<hex>` of a file's bytes and their count, read a chunk at a time (a snapshot export
/// is gigabytes).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((format!("{SHA256_PREFIX}{}", hex(&hasher.finalize())), len))
}

/// `sha256:<hex>` of several byte strings hashed one after the other.
pub fn sha256_of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    format!("{SHA256_PREFIX}{}", hex(&hasher.finalize()))
}

/// The hex part of a `sha256:<hex>` digest (the text itself when it has no prefix).
pub fn hex_part(digest: &str) -> &str {
    digest.strip_prefix(SHA256_PREFIX).unwrap_or(digest)
}

/// A [`std::hash::Hasher`] that feeds SHA-256: a stable hash (unlike `DefaultHasher`, whose
/// algorithm may change between Rust releases) of anything that implements `Hash`.
#[derive(Debug, Default)]
pub struct StableHasher(Sha256);

impl StableHasher {
    /// Lowercase hex of the SHA-256 of everything written.
    pub fn finish_hex(self) -> String {
        hex(&self.0.finalize())
    }
}

impl std::hash::Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Only to satisfy the trait: use [`StableHasher::finish_hex`].
    fn finish(&self) -> u64 {
        let hash = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        u64::from_be_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{Hash, Hasher};

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn sha256_matches_the_known_vector() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256_hex(b""), empty);
        assert_eq!(sha256(b""), format!("sha256:{empty}"));
        assert_eq!(hex_part(&sha256(b"")), empty);
        assert_eq!(hex_part(empty), empty);
        assert_eq!(sha256_of([b"ab".as_slice(), b"c"]), sha256(b"abc"));
    }

    #[test]
    fn the_stable_hasher_is_sha256_of_what_hash_writes() {
        let mut hasher = StableHasher::default();
        hasher.write(b"abc");
        assert_eq!(hasher.finish(), 0xba78_16bf_8f01_cfea);
        assert_eq!(hasher.finish_hex(), sha256_hex(b"abc"));
        let key = |value: &(u32, &str)| {
            let mut hasher = StableHasher::default();
            value.hash(&mut hasher);
            hasher.finish_hex()
        };
        assert_eq!(key(&(1, "x")), key(&(1, "x")));
        assert_ne!(key(&(1, "x")), key(&(2, "x")));
    }
}
