use super::*;

fn key(byte: u8) -> DataKey {
    DataKey::from_bytes([byte; 32])
}

#[test]
fn a_value_round_trips_and_each_seal_differs() {
    let (cipher, _) = StoreCipher::new(&key(1), "profile store").unwrap();
    let a = cipher.seal(b"profiles/cust-1", b"Ada Lovelace").unwrap();
    let b = cipher.seal(b"profiles/cust-1", b"Ada Lovelace").unwrap();
    assert_ne!(a, b, "a fresh nonce every time");
    assert_eq!(a.len(), b"Ada Lovelace".len() + OVERHEAD);
    assert!(
        !a.windows(3).any(|w| w == b"Ada"),
        "no plaintext in the sealed value"
    );
    assert_eq!(
        cipher.open(b"profiles/cust-1", &a).unwrap(),
        b"Ada Lovelace"
    );
    assert_eq!(
        cipher.open(b"k", &cipher.seal(b"k", b"").unwrap()).unwrap(),
        b""
    );
}

#[test]
fn open_in_place_and_seal_into_reuse_buffers() {
    let (cipher, _) = StoreCipher::new(&key(1), "event log").unwrap();
    let mut out = b"prefix".to_vec();
    cipher.seal_into(b"aad", b"consent: yes", &mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    let plain = cipher.open_in_place(b"aad", &mut out[6..]).unwrap();
    assert_eq!(plain, b"consent: yes");
}

#[test]
fn nonces_drawn_a_block_at_a_time_are_never_repeated_and_values_open() {
    let (cipher, _) = StoreCipher::new(&key(1), "profile store").unwrap();
    let mut nonces = Nonces::default();
    let mut seen = std::collections::HashSet::new();
    // Several blocks, across their boundaries.
    for i in 0..NONCE_BLOCK * 3 + 5 {
        let mut out = Vec::new();
        let text = format!("value {i}");
        cipher
            .seal_into_with(&mut nonces, b"aad", text.as_bytes(), &mut out)
            .unwrap();
        assert!(seen.insert(out[..NONCE_LEN].to_vec()), "nonce {i} repeated");
        assert_eq!(cipher.open(b"aad", &out).unwrap(), text.as_bytes());
    }
    // A second source draws its own.
    let mut other = Nonces::default();
    let mut out = Vec::new();
    cipher
        .seal_into_with(&mut other, b"aad", b"x", &mut out)
        .unwrap();
    assert!(seen.insert(out[..NONCE_LEN].to_vec()));
}

#[test]
fn reopening_with_the_sealing_reads_the_values() {
    let (cipher, sealing) = StoreCipher::new(&key(1), "event log").unwrap();
    let sealed = cipher.seal(b"aad", b"loyalty: gold").unwrap();
    let json = serde_json::to_string(&sealing).unwrap();
    assert!(json.contains("\"cipher\":\"aes-256-gcm\""), "{json}");
    let sealing: Sealing = serde_json::from_str(&json).unwrap();
    let reopened = StoreCipher::reopen(&key(1), "event log", &sealing).unwrap();
    assert_eq!(reopened.open(b"aad", &sealed).unwrap(), b"loyalty: gold");
    assert_eq!(reopened.id_hash("cust-1"), cipher.id_hash("cust-1"));
}

#[test]
fn a_wrong_key_another_aad_or_a_flipped_bit_fail() {
    let (cipher, sealing) = StoreCipher::new(&key(1), "event log").unwrap();
    let sealed = cipher.seal(b"events/cust-1", b"bought: tea").unwrap();
    let failed = |result: Result<Vec<u8>, CipherError>| {
        let error = result.unwrap_err();
        assert!(matches!(error, CipherError::Open { .. }), "{error:?}");
        assert!(!error.to_string().contains("tea"));
    };
    failed(cipher.open(b"events/cust-2", &sealed));
    for i in [0, NONCE_LEN, sealed.len() - 1] {
        let mut flipped = sealed.clone();
        flipped[i] ^= 0x01;
        failed(cipher.open(b"events/cust-1", &flipped));
    }
    // Another store file (another salt) under the same data key, and another store name.
    let (other, _) = StoreCipher::new(&key(1), "event log").unwrap();
    failed(other.open(b"events/cust-1", &sealed));
    let renamed = StoreCipher::reopen(&key(1), "outcome log", &sealing).unwrap();
    failed(renamed.open(b"events/cust-1", &sealed));
    let short = cipher.open(b"events/cust-1", &sealed[..OVERHEAD - 1]);
    assert!(matches!(short, Err(CipherError::Short { .. })), "{short:?}");
}

#[test]
fn a_sealing_with_another_key_names_both_ids() {
    let (_, sealing) = StoreCipher::new(&key(1), "event log").unwrap();
    let message = StoreCipher::reopen(&key(2), "event log", &sealing)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "event log is encrypted with key {}, the configured data key is {}",
            key(1).key_id(),
            key(2).key_id()
        )
    );
}

#[test]
fn a_damaged_sealing_is_refused() {
    let (_, sealing) = StoreCipher::new(&key(1), "event log").unwrap();
    let other_cipher = Sealing {
        cipher: "chacha20-poly1305".into(),
        ..sealing.clone()
    };
    let error = StoreCipher::reopen(&key(1), "event log", &other_cipher).unwrap_err();
    assert!(
        matches!(error, CipherError::UnknownCipher { .. }),
        "{error}"
    );
    let bad_salt = Sealing {
        salt: "abcd".into(),
        ..sealing
    };
    let error = StoreCipher::reopen(&key(1), "event log", &bad_salt).unwrap_err();
    assert!(matches!(error, CipherError::Salt { .. }), "{error}");
}

#[test]
fn id_hashes_are_exact_keyed_and_per_store_file() {
    let (cipher, _) = StoreCipher::new(&key(1), "profile store").unwrap();
    assert_eq!(cipher.id_hash("cust-000042"), cipher.id_hash("cust-000042"));
    assert_ne!(cipher.id_hash("cust-000042"), cipher.id_hash("cust-000043"));
    let text = cipher.id_hash_hex("cust-000042");
    assert_eq!(text.len(), 32);
    assert_eq!(text, hex::encode(&cipher.id_hash("cust-000042")));
    let (other, _) = StoreCipher::new(&key(1), "profile store").unwrap();
    assert_ne!(other.id_hash("cust-000042"), cipher.id_hash("cust-000042"));
}

#[test]
fn check_covers_the_four_cases() {
    let (_, sealing) = StoreCipher::new(&key(1), "event log").unwrap();
    assert!(check("event log", None, None).unwrap().is_none());

    let opened = check("event log", Some(&sealing), Some(&key(1))).unwrap();
    assert_eq!(opened.unwrap().key_id(), key(1).key_id());
    let mismatch = check("event log", Some(&sealing), Some(&key(2))).unwrap_err();
    assert!(
        matches!(mismatch, CipherError::KeyMismatch { .. }),
        "{mismatch}"
    );

    let no_key = check("event log", Some(&sealing), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        no_key,
        format!(
            "event log is encrypted (key {}); configure data_key to read it",
            key(1).key_id()
        )
    );

    let plaintext = check("event log", None, Some(&key(1)))
        .unwrap_err()
        .to_string();
    assert!(
        plaintext
            .starts_with("event log was written without encryption; it is never read as encrypted"),
        "{plaintext}"
    );
    assert!(plaintext.contains("empty data directory") && plaintext.contains("turn data_key off"));
}

#[test]
fn debug_names_the_store_and_key_id_only() {
    let (cipher, _) = StoreCipher::new(&key(1), "event log").unwrap();
    let debug = format!("{cipher:?}");
    assert!(
        debug.contains("event log") && debug.contains(&key(1).key_id()),
        "{debug}"
    );
}
