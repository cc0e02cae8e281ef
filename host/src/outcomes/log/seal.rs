//! Encrypted segments (with a data key): a segment's first frame is a plaintext sealed header
//! naming the key and the segment's salt ([`Encoder::sealed_header`]); every later frame's
//! payload is AES-256-GCM sealed with the segment's own key (a random nonce before it, the tag
//! after: 28 bytes more a frame). The frame's length and checksum are over the
//! sealed payload, so a torn write is found before anything is decrypted, and every frame
//! keeps its offset when an erasure replaces a record by a (sealed) blank frame of the same
//! length.
//!
//! Whether a segment is encrypted is read from its header, never guessed: a plaintext segment
//! with a data key configured, or an encrypted one without, stops the log from opening
//! ([`crate::privacy::check`]).

use super::codec::{self, Encoder, FRAME_HEADER, Malformed};
use super::{LogError, io_error, read_full};
use crate::privacy::{CipherError, DataKey, Nonces, StoreCipher, check};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

/// What every sealed payload is bound to (the segment's key is its own already).
const AAD: &[u8] = b"tailor outcome log frame";
/// The store's name in errors.
const STORE: &str = "the outcome log";

/// A new segment's cipher and its first frame.
pub(super) fn new_segment(key: &DataKey, path: &Path) -> Result<(StoreCipher, Vec<u8>), LogError> {
    let (cipher, sealing) = StoreCipher::new(key, STORE).map_err(cipher_error(path))?;
    let mut header = Vec::new();
    Encoder::sealed_header(&mut header, &sealing);
    Ok((cipher, header))
}

/// The cipher of an existing segment, from its header: `None` for a plaintext one (and for
/// one whose header was never completely written, which holds nothing). Refuses a plaintext
/// segment when a key is configured, an encrypted one when none is, and one encrypted with
/// another key.
pub(super) fn segment_cipher(
    path: &Path,
    key: Option<&DataKey>,
) -> Result<Option<Arc<StoreCipher>>, LogError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut reader = BufReader::new(file);
    let mut header = [0u8; FRAME_HEADER];
    if !read_full(&mut reader, &mut header).map_err(io_error(path))? {
        return Ok(None);
    }
    let Ok(len) = codec::frame_len(&header) else {
        return Ok(None);
    };
    let mut first = vec![0u8; len];
    if !read_full(&mut reader, &mut first).map_err(io_error(path))?
        || codec::payload(&header, &first).is_err()
    {
        return Ok(None);
    }
    let sealing = codec::sealing(&first).map_err(|why| {
        io_error(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, why.0))
    })?;
    check(STORE, sealing.as_ref(), key)
        .map(|cipher| cipher.map(Arc::new))
        .map_err(cipher_error(path))
}

/// Seals every frame of `plain` (whole frames, as the encoder wrote them) onto `out`.
pub(super) fn seal_frames(
    cipher: &StoreCipher,
    plain: &[u8],
    out: &mut Vec<u8>,
    path: &Path,
) -> Result<(), LogError> {
    let mut rest = plain;
    let mut sealed = Vec::with_capacity(256);
    // A batch's frames take their nonces from one draw of the system's generator.
    let mut nonces = Nonces::default();
    while let Some((header, after)) = rest.split_first_chunk::<FRAME_HEADER>() {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let Some((payload, next)) = after.split_at_checked(len) else {
            break;
        };
        sealed.clear();
        cipher
            .seal_into_with(&mut nonces, AAD, payload, &mut sealed)
            .map_err(cipher_error(path))?;
        codec::frame_of(out, &sealed);
        rest = next;
    }
    Ok(())
}

/// The plaintext payload inside a sealed frame's (checksum-checked) payload.
pub(super) fn open<'a>(cipher: &StoreCipher, sealed: &'a mut [u8]) -> Result<&'a [u8], Malformed> {
    cipher
        .open_in_place(AAD, sealed)
        .map(|plain| &*plain)
        .map_err(|_| Malformed("a sealed frame fails authentication: it is damaged"))
}

fn cipher_error(path: &Path) -> impl FnOnce(CipherError) -> LogError + '_ {
    move |error| io_error(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
}
