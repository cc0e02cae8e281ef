//! Reading a sealed file back as a stream, checking every chunk as it comes.

use super::{CHUNK_LEN, HEADER_LEN, KEY_ID_LEN, MAGIC, SealedError, Stream, TAG_LEN};
use crate::privacy::key::DataKey;
use ring::aead::Aad;
use std::fmt;
use std::io::{self, Read};
use std::ops::Range;

/// A sealed chunk on disk, at most.
const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;

/// Reads a sealed file's plaintext. Every chunk is authenticated before any of its bytes are
/// returned; a damaged, truncated or reordered file gives an `InvalidData` error naming it.
pub struct SealedReader<R: Read> {
    inner: R,
    stream: Stream,
    /// One sealed chunk and one byte more: that byte, when present, says the chunk is not the
    /// last, and is carried over as the first byte of the next one.
    buffer: Vec<u8>,
    carry: Option<u8>,
    /// The part of `buffer` holding plaintext not yet returned.
    plain: Range<usize>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Broken,
}

impl<R: Read> SealedReader<R> {
    /// Reads the header of the sealed file in `inner` and checks it was sealed with `key`;
    /// `name` is how errors name the file.
    pub fn new(mut inner: R, key: &DataKey, name: &str) -> io::Result<SealedReader<R>> {
        let mut header = [0u8; HEADER_LEN];
        let len = read_full(&mut inner, &mut header).map_err(|source| SealedError::Io {
            name: name.to_owned(),
            source,
        })?;
        if !super::is_sealed(&header[..len]) {
            return Err(SealedError::NotSealed {
                name: name.to_owned(),
            }
            .into());
        }
        if len < HEADER_LEN {
            return Err(SealedError::TruncatedHeader {
                name: name.to_owned(),
            }
            .into());
        }
        let found = String::from_utf8_lossy(&header[MAGIC.len()..][..KEY_ID_LEN]).into_owned();
        let configured = key.key_id();
        if found != configured {
            return Err(SealedError::KeyMismatch {
                name: name.to_owned(),
                found,
                configured,
            }
            .into());
        }
        Ok(SealedReader {
            inner,
            stream: Stream::new(key, name, header)?,
            buffer: vec![0; SEALED_CHUNK_LEN + 1],
            carry: None,
            plain: 0..0,
            state: State::Reading,
        })
    }

    /// Reads, authenticates and decrypts the next chunk into `buffer`.
    fn next_chunk(&mut self) -> Result<(), SealedError> {
        let mut len = 0;
        if let Some(byte) = self.carry.take() {
            self.buffer[0] = byte;
            len = 1;
        }
        len +=
            read_full(&mut self.inner, &mut self.buffer[len..]).map_err(|e| self.stream.io(e))?;
        let last = len <= SEALED_CHUNK_LEN;
        if !last {
            self.carry = Some(self.buffer[SEALED_CHUNK_LEN]);
            len = SEALED_CHUNK_LEN;
        }
        let chunk = self.stream.counter;
        let name = || self.stream.name.clone();
        if len < TAG_LEN {
            return Err(match chunk {
                0 if len == 0 => SealedError::NoChunks { name: name() },
                _ => SealedError::TruncatedInside {
                    name: name(),
                    chunk,
                },
            });
        }
        // A full-size last chunk may be a middle chunk whose successors were cut off: keep a
        // copy to tell that truncation from damage if it fails as a last chunk.
        let copy = (len == SEALED_CHUNK_LEN && last).then(|| self.buffer[..len].to_vec());
        let aad = Aad::from(&self.stream.header);
        let nonce = self.stream.nonce(chunk, last);
        match self
            .stream
            .key
            .open_in_place(nonce, aad, &mut self.buffer[..len])
        {
            Ok(plain) => self.plain = 0..plain.len(),
            Err(_) => {
                let middle = copy.is_some_and(|mut copy| {
                    let nonce = self.stream.nonce(chunk, false);
                    let aad = Aad::from(&self.stream.header);
                    self.stream.key.open_in_place(nonce, aad, &mut copy).is_ok()
                });
                return Err(if middle {
                    SealedError::Truncated {
                        name: name(),
                        chunk,
                    }
                } else {
                    SealedError::Damaged {
                        name: name(),
                        chunk,
                    }
                });
            }
        }
        if last {
            self.state = State::Done;
        } else {
            self.stream.advance()?;
        }
        Ok(())
    }
}

impl<R: Read> Read for SealedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.plain.is_empty() || out.is_empty() {
                let take = out.len().min(self.plain.len());
                let start = self.plain.start;
                out[..take].copy_from_slice(&self.buffer[start..start + take]);
                self.plain.start += take;
                return Ok(take);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Broken => {
                    return Err(SealedError::Broken {
                        name: self.stream.name.clone(),
                    }
                    .into());
                }
                State::Reading => {
                    if let Err(error) = self.next_chunk() {
                        self.state = State::Broken;
                        return Err(error.into());
                    }
                }
            }
        }
    }
}

impl<R: Read> fmt::Debug for SealedReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedReader")
            .field("name", &self.stream.name)
            .field("chunk", &self.stream.counter)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Reads until `buffer` is full or the input ends; returns how much was read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    while len < buffer.len() {
        match input.read(&mut buffer[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(len)
}
