use super::*;
use std::io::Cursor;
use std::io::Read;

fn key(byte: u8) -> DataKey {
    DataKey::from_bytes([byte; 32])
}

/// Bytes that differ from chunk to chunk, so a swap changes the plaintext too.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn seal(plain: &[u8]) -> Vec<u8> {
    let mut writer = SealedWriter::new(Vec::new(), &key(1), "snapshot.ndjson").unwrap();
    writer.write_all(plain).unwrap();
    writer.finish().unwrap()
}

fn unseal(sealed: &[u8], with: &DataKey) -> io::Result<Vec<u8>> {
    let mut reader = SealedReader::new(Cursor::new(sealed), with, "snapshot.ndjson")?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

fn sealed_error(result: io::Result<Vec<u8>>) -> SealedError {
    let error = result.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
    assert!(error.to_string().contains("snapshot.ndjson"), "{error}");
    *error
        .into_inner()
        .unwrap()
        .downcast::<SealedError>()
        .unwrap()
}

const SEALED_CHUNK: usize = CHUNK_LEN + TAG_LEN;

#[test]
fn round_trips_every_size_that_matters() {
    for len in [
        0,
        1,
        CHUNK_LEN - 1,
        CHUNK_LEN,
        CHUNK_LEN + 1,
        2 * CHUNK_LEN,
        3 * CHUNK_LEN + 777,
    ] {
        let plain = data(len);
        let sealed = seal(&plain);
        assert!(is_sealed(&sealed));
        let chunks = len.div_ceil(CHUNK_LEN).max(1);
        assert_eq!(
            sealed.len(),
            HEADER_LEN + len + chunks * TAG_LEN,
            "len {len}"
        );
        assert_eq!(unseal(&sealed, &key(1)).unwrap(), plain, "len {len}");
    }
}

#[test]
fn small_writes_and_small_reads_give_the_same_stream() {
    let plain = data(CHUNK_LEN + 5000);
    let mut writer = SealedWriter::new(Vec::new(), &key(1), "snapshot.ndjson").unwrap();
    for piece in plain.chunks(997) {
        writer.write_all(piece).unwrap();
    }
    let sealed = writer.finish().unwrap();
    let mut reader = SealedReader::new(Cursor::new(&sealed), &key(1), "snapshot.ndjson").unwrap();
    let mut out = Vec::new();
    let mut piece = [0u8; 1000];
    loop {
        let n = reader.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&piece[..n]);
    }
    assert_eq!(out, plain);
}

#[test]
fn the_plaintext_is_not_in_the_file() {
    let sealed = seal(b"{\"customer_id\":\"cust-000042\",\"name\":\"Ada\"}");
    assert!(!sealed.windows(4).any(|w| w == b"cust"));
}

#[test]
fn another_key_is_refused_naming_both_ids() {
    let error = sealed_error(unseal(&seal(b"x"), &key(2)));
    assert!(matches!(error, SealedError::KeyMismatch { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "snapshot.ndjson is sealed with key {}, the configured data key is {}",
            key(1).key_id(),
            key(2).key_id()
        )
    );
}

#[test]
fn a_plain_file_is_not_sealed() {
    let plain = b"{\"snapshot_version\":\"1\"}\n";
    assert!(!is_sealed(plain));
    let error = sealed_error(unseal(plain, &key(1)));
    assert!(matches!(error, SealedError::NotSealed { .. }), "{error}");
}

#[test]
fn truncation_at_a_chunk_boundary_is_detected() {
    let sealed = seal(&data(3 * CHUNK_LEN + 5));
    let cut = &sealed[..HEADER_LEN + 2 * SEALED_CHUNK];
    let error = sealed_error(unseal(cut, &key(1)));
    assert!(
        matches!(error, SealedError::Truncated { chunk: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("is truncated"), "{error}");

    let exact = seal(&data(2 * CHUNK_LEN));
    let cut = &exact[..HEADER_LEN + SEALED_CHUNK];
    let error = sealed_error(unseal(cut, &key(1)));
    assert!(
        matches!(error, SealedError::Truncated { chunk: 0, .. }),
        "{error}"
    );

    let error = sealed_error(unseal(&exact[..HEADER_LEN], &key(1)));
    assert!(matches!(error, SealedError::NoChunks { .. }), "{error}");
    let error = sealed_error(unseal(&exact[..HEADER_LEN - 1], &key(1)));
    assert!(
        matches!(error, SealedError::TruncatedHeader { .. }),
        "{error}"
    );
}

#[test]
fn truncation_inside_a_chunk_is_detected() {
    let sealed = seal(&data(2 * CHUNK_LEN + 100));
    for cut in [
        sealed.len() - 1,
        HEADER_LEN + SEALED_CHUNK + 3,
        HEADER_LEN + 100,
    ] {
        let error = sealed_error(unseal(&sealed[..cut], &key(1)));
        assert!(
            matches!(
                error,
                SealedError::Damaged { .. } | SealedError::TruncatedInside { .. }
            ),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn a_flipped_byte_anywhere_is_detected() {
    let sealed = seal(&data(2 * CHUNK_LEN + 100));
    for at in [
        MAGIC.len() + 3,
        MAGIC.len() + KEY_ID_LEN + 1,
        HEADER_LEN - 1,
        HEADER_LEN,
        sealed.len() - 1,
    ] {
        let mut damaged = sealed.clone();
        damaged[at] ^= 0x20;
        let error = unseal(&damaged, &key(1)).unwrap_err();
        assert_eq!(
            error.kind(),
            io::ErrorKind::InvalidData,
            "byte {at}: {error}"
        );
    }
    let mut damaged = sealed.clone();
    damaged[HEADER_LEN + SEALED_CHUNK + 10] ^= 0x01;
    let error = sealed_error(unseal(&damaged, &key(1)));
    assert!(
        matches!(error, SealedError::Damaged { chunk: 1, .. }),
        "{error}"
    );
}

#[test]
fn swapped_chunks_are_detected() {
    let sealed = seal(&data(3 * CHUNK_LEN));
    let mut swapped = sealed.clone();
    let first = HEADER_LEN..HEADER_LEN + SEALED_CHUNK;
    let second = HEADER_LEN + SEALED_CHUNK..HEADER_LEN + 2 * SEALED_CHUNK;
    swapped[first.clone()].copy_from_slice(&sealed[second.clone()]);
    swapped[second].copy_from_slice(&sealed[first]);
    let error = sealed_error(unseal(&swapped, &key(1)));
    assert!(
        matches!(error, SealedError::Damaged { chunk: 0, .. }),
        "{error}"
    );
}

#[test]
fn appended_bytes_or_a_chunk_from_another_file_are_detected() {
    let sealed = seal(&data(CHUNK_LEN + 10));
    let mut appended = sealed.clone();
    appended.extend_from_slice(b"more");
    assert!(unseal(&appended, &key(1)).is_err());

    // The same data key, another file: its chunks do not open here.
    let other = seal(&data(CHUNK_LEN + 10));
    let mut spliced = sealed.clone();
    spliced[HEADER_LEN..].copy_from_slice(&other[HEADER_LEN..]);
    let error = sealed_error(unseal(&spliced, &key(1)));
    assert!(
        matches!(error, SealedError::Damaged { chunk: 0, .. }),
        "{error}"
    );
}

#[test]
fn a_reader_stays_broken_after_an_error() {
    let sealed = seal(&data(2 * CHUNK_LEN + 1));
    let mut damaged = sealed.clone();
    damaged[HEADER_LEN] ^= 1;
    let mut reader = SealedReader::new(Cursor::new(&damaged), &key(1), "snapshot.ndjson").unwrap();
    let mut buffer = [0u8; 16];
    assert!(reader.read(&mut buffer).is_err());
    assert!(
        reader.read(&mut buffer).is_err(),
        "no clean end of file after damage"
    );
}

#[test]
fn a_writer_dropped_without_finish_leaves_a_truncated_file() {
    let mut file = Vec::new();
    {
        let mut writer = SealedWriter::new(&mut file, &key(1), "snapshot.ndjson").unwrap();
        writer.write_all(&data(2 * CHUNK_LEN + 3)).unwrap();
    }
    assert!(unseal(&file, &key(1)).is_err());
}
