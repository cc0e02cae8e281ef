//! A streaming encrypted file format, for profile snapshots (gigabytes, read as a stream).
//!
//! A sealed file is a header, then the data in 64 KiB chunks, each encrypted with AES-256-GCM:
//!
//! ```text
//! header = "TAILORSEAL1\n" || key id (16 hex characters) || salt (16 bytes) || prefix (7 bytes)
//! chunk  = ciphertext || tag (16 bytes)       every chunk but the last holds exactly 64 KiB
//! nonce  = prefix || chunk counter (u32, big-endian) || 1 for the last chunk, 0 otherwise
//! ```
//!
//! The file's key is derived from the data key and the file's random salt; every chunk is
//! bound to the header (its associated data), its position (the counter) and whether it is the
//! last (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár), so a truncated,
//! reordered, appended-to or damaged file fails to read. A writer dropped without
//! [`SealedWriter::finish`] leaves a file without its last chunk, which reads as truncated.

use super::cipher::aead_key;
use super::key::DataKey;
use ring::aead::{Aad, LessSafeKey, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;
use std::io::{self, Write};

/// The first bytes of every sealed file.
pub const MAGIC: &[u8; 12] = b"TAILORSEAL1\n";
/// Plaintext bytes in every chunk but the last.
pub const CHUNK_LEN: usize = 64 << 10;
const TAG_LEN: usize = 16;
const KEY_ID_LEN: usize = 16;
const SALT_LEN: usize = 16;
const PREFIX_LEN: usize = NONCE_LEN - 5;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + SALT_LEN + PREFIX_LEN;
/// The HKDF info of a sealed file's key.
const PURPOSE: &str = "tailor sealed file";

/// Whether a file starting with `first_bytes` is a sealed file.
pub fn is_sealed(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(MAGIC)
}

/// A sealed file that cannot be written or read. Readers and writers return it inside an
/// [`io::Error`] (kind `InvalidData` unless the underlying file failed), so it can be
/// downcast.
#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    #[error("{name} is not a sealed file")]
    NotSealed { name: String },
    #[error("{name} is sealed with key {found}, the configured data key is {configured}")]
    KeyMismatch {
        name: String,
        found: String,
        configured: String,
    },
    #[error("{name} is truncated inside its header")]
    TruncatedHeader { name: String },
    #[error("{name} is truncated: nothing follows its header")]
    NoChunks { name: String },
    /// Chunks are numbered from 0.
    #[error("{name} is truncated: it ends after chunk {chunk} without its final chunk")]
    Truncated { name: String, chunk: u32 },
    #[error("{name} is truncated inside chunk {chunk}")]
    TruncatedInside { name: String, chunk: u32 },
    #[error(
        "{name}: chunk {chunk} fails authentication: the file is damaged, truncated, its chunks \
         are out of order or something was appended"
    )]
    Damaged { name: String, chunk: u32 },
    #[error("{name} has too many chunks for one sealed file")]
    TooLarge { name: String },
    #[error("{name}: deriving the file key or drawing its salt failed")]
    Key { name: String },
    #[error("{name}: reading past an earlier error")]
    Broken { name: String },
    #[error("{name}")]
    Io {
        name: String,
        #[source]
        source: io::Error,
    },
}

impl From<SealedError> for io::Error {
    fn from(error: SealedError) -> io::Error {
        let kind = match &error {
            SealedError::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// What the writer and the reader share: the file's key, header and nonce prefix.
struct Stream {
    name: String,
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    counter: u32,
}

impl Stream {
    fn new(key: &DataKey, name: &str, header: [u8; HEADER_LEN]) -> Result<Stream, SealedError> {
        let salt = &header[MAGIC.len() + KEY_ID_LEN..][..SALT_LEN];
        let file_key = zeroize::Zeroizing::new(key.derive(PURPOSE, salt));
        let key = aead_key(&file_key).map_err(|_| SealedError::Key {
            name: name.to_owned(),
        })?;
        Ok(Stream {
            name: name.to_owned(),
            key: LessSafeKey::new(key),
            header,
            counter: 0,
        })
    }

    fn nonce(&self, counter: u32, last: bool) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..PREFIX_LEN].copy_from_slice(&self.header[HEADER_LEN - PREFIX_LEN..]);
        nonce[PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&counter.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        Nonce::assume_unique_for_key(nonce)
    }

    fn advance(&mut self) -> Result<(), SealedError> {
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| SealedError::TooLarge {
                name: self.name.clone(),
            })?;
        Ok(())
    }

    fn io(&self, source: io::Error) -> SealedError {
        SealedError::Io {
            name: self.name.clone(),
            source,
        }
    }
}

/// Writes a sealed file: everything written is encrypted; [`SealedWriter::finish`] writes the
/// last chunk. `flush` flushes the file but cannot end a chunk early.
pub struct SealedWriter<W: Write> {
    inner: W,
    stream: Stream,
    buffer: Vec<u8>,
}

impl<W: Write> SealedWriter<W> {
    /// Starts a sealed file in `inner`, writing its header; `name` is how errors name it.
    pub fn new(mut inner: W, key: &DataKey, name: &str) -> io::Result<SealedWriter<W>> {
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        for (to, from) in header[MAGIC.len()..][..KEY_ID_LEN]
            .iter_mut()
            .zip(key.key_id().bytes())
        {
            *to = from;
        }
        SystemRandom::new()
            .fill(&mut header[MAGIC.len() + KEY_ID_LEN..])
            .map_err(|_| SealedError::Key {
                name: name.to_owned(),
            })?;
        let stream = Stream::new(key, name, header)?;
        inner.write_all(&header).map_err(|e| stream.io(e))?;
        Ok(SealedWriter {
            inner,
            stream,
            buffer: Vec::with_capacity(CHUNK_LEN + TAG_LEN),
        })
    }

    /// Writes the last chunk, flushes, and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_chunk(true)?;
        self.inner.flush().map_err(|e| self.stream.io(e))?;
        Ok(self.inner)
    }

    fn write_chunk(&mut self, last: bool) -> Result<(), SealedError> {
        let stream = &mut self.stream;
        let nonce = stream.nonce(stream.counter, last);
        stream
            .key
            .seal_in_place_append_tag(nonce, Aad::from(&stream.header), &mut self.buffer)
            .map_err(|_| SealedError::TooLarge {
                name: stream.name.clone(),
            })?;
        self.inner
            .write_all(&self.buffer)
            .map_err(|e| stream.io(e))?;
        self.buffer.clear();
        if !last {
            stream.advance()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A full chunk is sealed only once more data follows: the last one is sealed by
        // `finish`, flagged as last.
        if self.buffer.len() == CHUNK_LEN && !data.is_empty() {
            self.write_chunk(false)?;
        }
        let take = data.len().min(CHUNK_LEN - self.buffer.len());
        self.buffer.extend_from_slice(&data[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.stream.io(e).into())
    }
}

impl<W: Write> fmt::Debug for SealedWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedWriter")
            .field("name", &self.stream.name)
            .field("chunk", &self.stream.counter)
            .finish_non_exhaustive()
    }
}

mod file;
mod reader;
pub use file::{WriteError, seal_into_place};
pub use reader::SealedReader;

#[cfg(test)]
mod tests;
