use super::*;
use std::io::Write;

const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn counting() -> [u8; KEY_LEN] {
    std::array::from_fn(|i| i as u8)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-key-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_key(path: &Path, contents: &[u8], mode: u32) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn no_env(_: &str) -> Option<OsString> {
    None
}

fn from_env(value: &str) -> Result<DataKey, KeyError> {
    let value = OsString::from(value);
    load_with(
        &KeySource::Env("TAILOR_DATA_KEY".into()),
        move |name| (name == "TAILOR_DATA_KEY").then(|| value.clone()),
        None,
    )
}

#[test]
fn sources_parse_display_and_round_trip_through_serde() {
    for (text, source) in [
        (
            "file:/etc/tailor/data.key",
            KeySource::File("/etc/tailor/data.key".into()),
        ),
        (
            "env:TAILOR_DATA_KEY",
            KeySource::Env("TAILOR_DATA_KEY".into()),
        ),
        (
            "systemd:tailor-data-key",
            KeySource::Credential("tailor-data-key".into()),
        ),
    ] {
        assert_eq!(text.parse::<KeySource>().unwrap(), source);
        assert_eq!(source.to_string(), text);
        let json = serde_json::to_string(&source).unwrap();
        assert_eq!(json, format!("{text:?}"));
        assert_eq!(serde_json::from_str::<KeySource>(&json).unwrap(), source);
    }
}

#[test]
fn a_bare_path_or_unknown_prefix_is_refused_listing_the_forms() {
    for given in ["/etc/tailor/data.key", "vault:x", "env:", "systemd:a/b", ""] {
        let message = given.parse::<KeySource>().unwrap_err().to_string();
        assert!(
            message.contains("file:/path/to/key")
                && message.contains("env:VARIABLE")
                && message.contains("systemd:CREDENTIAL"),
            "{given}: {message}"
        );
    }
    let toml_error =
        toml::from_str::<std::collections::BTreeMap<String, KeySource>>("data_key = \"/etc/key\"")
            .unwrap_err();
    assert!(
        toml_error.to_string().contains("names no key source"),
        "{toml_error}"
    );
}

#[test]
fn hex_and_base64_with_whitespace_give_the_same_key() {
    let expected = DataKey::from_bytes(counting()).key_id();
    let base64 = BASE64.encode(counting());
    for text in [
        HEX.to_owned(),
        HEX.to_uppercase(),
        format!("  {HEX}\n"),
        base64.clone(),
        format!("\t{base64}\r\n"),
    ] {
        assert_eq!(from_env(&text).unwrap().key_id(), expected, "{text:?}");
    }
    assert_eq!(from_env(HEX).unwrap().to_hex().as_str(), HEX);
}

#[test]
fn wrong_lengths_and_encodings_say_what_was_found() {
    let short = from_env(&HEX[..62]).unwrap_err().to_string();
    assert_eq!(
        short,
        "data_key: env TAILOR_DATA_KEY is 31 bytes, a data key is 32"
    );
    let long = from_env(&BASE64.encode([7u8; 33])).unwrap_err().to_string();
    assert!(long.contains("is 33 bytes"), "{long}");
    let garbage = from_env("not a key!").unwrap_err().to_string();
    assert!(
        garbage.contains("neither 64 hex characters nor base64"),
        "{garbage}"
    );
}

#[test]
fn a_missing_variable_is_named() {
    let source = KeySource::Env("TAILOR_X".into());
    let message = load_with(&source, no_env, None).unwrap_err().to_string();
    assert_eq!(message, "data_key: env TAILOR_X is not set");
}

#[test]
fn a_file_holds_text_or_32_raw_bytes() {
    let dir = temp_dir("file");
    let expected = DataKey::from_bytes(counting()).key_id();
    let text = dir.join("text.key");
    write_key(&text, format!("{HEX}\n").as_bytes(), 0o600);
    let raw = dir.join("raw.key");
    write_key(&raw, &counting(), 0o400);
    for path in [text, raw] {
        let key = load_with(&KeySource::File(path), no_env, None).unwrap();
        assert_eq!(key.key_id(), expected);
    }
    let short = dir.join("short.key");
    write_key(&short, &[1u8; 31], 0o600);
    let message = load_with(&KeySource::File(short.clone()), no_env, None)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("file {}", short.display())),
        "{message}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unreadable_file_keeps_the_io_error() {
    let missing = KeySource::File("/nonexistent/tailor/data.key".into());
    let error = load_with(&missing, no_env, None).unwrap_err();
    assert!(matches!(&error, KeyError::Read { .. }), "{error:?}");
    let source = std::error::Error::source(&error).unwrap();
    let io = source.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused() {
    let dir = temp_dir("mode");
    let path = dir.join("data.key");
    write_key(&path, HEX.as_bytes(), 0o644);
    let message = load_with(&KeySource::File(path.clone()), no_env, None)
        .unwrap_err()
        .to_string();
    assert!(message.contains("mode 644"), "{message}");
    assert!(
        message.contains(&format!("chmod 600 {}", path.display())),
        "{message}"
    );
    write_key(&path, HEX.as_bytes(), 0o640);
    assert!(load_with(&KeySource::File(path), no_env, None).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_systemd_credential_is_read_from_the_credentials_directory() {
    let dir = temp_dir("credential");
    write_key(&dir.join("tailor-data-key"), HEX.as_bytes(), 0o400);
    let source: KeySource = "systemd:tailor-data-key".parse().unwrap();
    let key = load_with(&source, no_env, Some(&dir)).unwrap();
    assert_eq!(key.key_id(), DataKey::from_bytes(counting()).key_id());

    let message = load_with(&source, no_env, None).unwrap_err().to_string();
    assert!(
        message.contains("CREDENTIALS_DIRECTORY is not set"),
        "{message}"
    );
    assert!(
        message.contains("LoadCredentialEncrypted=tailor-data-key:"),
        "{message}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn debug_shows_only_the_key_id() {
    let key = DataKey::from_bytes(counting());
    let debug = format!("{key:?}");
    assert_eq!(debug, format!("DataKey {{ id: {:?} }}", key.key_id()));
    assert_eq!(key.key_id().len(), 16);
    assert_ne!(key.key_id(), DataKey::from_bytes([9; KEY_LEN]).key_id());
}

#[test]
fn generated_keys_differ_and_read_back_from_hex() {
    let a = DataKey::generate().unwrap();
    let b = DataKey::generate().unwrap();
    assert_ne!(a.key_id(), b.key_id());
    assert_eq!(from_env(&a.to_hex()).unwrap().key_id(), a.key_id());
}

#[test]
fn derive_is_hkdf_sha256() {
    // RFC 5869 test case 1: the first 32 bytes of its 42-byte output.
    let ikm = [0x0b; 22];
    let salt: Vec<u8> = (0x00..=0x0c).collect();
    let info: Vec<u8> = (0xf0..=0xf9).collect();
    assert_eq!(
        hex::encode(&hkdf_sha256_32(&ikm, &salt, &info)),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
    );
    let key = DataKey::from_bytes(counting());
    assert_ne!(key.derive("a", b"salt"), key.derive("b", b"salt"));
    assert_ne!(key.derive("a", b"salt"), key.derive("a", b"pepper"));
    assert_eq!(key.derive("a", b"salt"), key.derive("a", b"salt"));
}
