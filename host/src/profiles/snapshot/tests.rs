use super::*;
use std::io::Write;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-snapshot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const TEXT: &str = "{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c1\",\"segments\":[\"a\"]}\n\n{\"customer_id\":\"c2\"}\n";

#[test]
fn reads_plain_and_gzip() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(TEXT.as_bytes()).unwrap();
    for path in [
        write("plain.ndjson", TEXT.as_bytes()),
        write("packed.ndjson.gz", &gz.finish().unwrap()),
    ] {
        let (header, profiles) = open(&path, None).unwrap();
        assert_eq!(
            header,
            SnapshotHeader {
                snapshot_version: "v1".into(),
                generated_at_ms: 5,
                base_version: None,
            }
        );
        let ids: Vec<String> = profiles.map(|p| p.unwrap().customer_id.unwrap()).collect();
        assert_eq!(ids, ["c1", "c2"]);
    }
}

#[test]
fn errors_name_line_and_field() {
    let path = write("bad.ndjson", b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c1\"}\n{\"customer_id\":\"c2\",\"loyalty\":{\"tier\":3}}\n");
    let (_, profiles) = open(&path, None).unwrap();
    let errors: Vec<String> = profiles
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("line 3") && errors[0].contains("loyalty.tier"),
        "{}",
        errors[0]
    );
    let path = write(
        "values.ndjson",
        b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c3\",\"loyalty\":{\"tier\":\"gold\",\"points\":\"Leeds\"}}\n{\"customer_id\":\"c4\",\"loyalty\":{\"tier\":31337,\"points\":1}}\n",
    );
    let (_, profiles) = open(&path, None).unwrap();
    let errors: Vec<String> = profiles
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for error in &errors {
        assert!(
            !error.contains("Leeds") && !error.contains("31337") && error.contains("expected"),
            "{error}"
        );
    }
    assert!(
        errors[0].contains("loyalty.points: invalid type: string, expected"),
        "{}",
        errors[0]
    );
    let path = write("nohdr.ndjson", b"{\"customer_id\":\"c1\"}\n");
    let err = open(&path, None).err().unwrap().to_string();
    assert!(err.contains("line 1"), "{err}");
    let path = write(
        "noid.ndjson",
        b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"segments\":[]}\n",
    );
    let (_, profiles) = open(&path, None).unwrap();
    let err = profiles.filter_map(Result::err).next().unwrap().to_string();
    assert!(err.contains("customer_id is required"), "{err}");
}

fn key(byte: u8) -> DataKey {
    DataKey::from_bytes([byte; 32])
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn sealed(bytes: &[u8], with: &DataKey) -> Vec<u8> {
    let mut writer = crate::privacy::SealedWriter::new(Vec::new(), with, "test").unwrap();
    writer.write_all(bytes).unwrap();
    writer.finish().unwrap()
}

fn ids(path: &Path, with: Option<&DataKey>) -> Vec<String> {
    let (header, profiles) = open(path, with).unwrap();
    assert_eq!(header.snapshot_version, "v1");
    profiles.map(|p| p.unwrap().customer_id.unwrap()).collect()
}

/// The error `open` gives, with its sources.
fn open_error(path: &Path, with: Option<&DataKey>) -> String {
    let error = open(path, with).err().unwrap();
    crate::report::chain(&error)
}

#[test]
fn reads_sealed_and_sealed_gzip_with_the_key() {
    let key = key(7);
    let plain = write("sealed.ndjson", &sealed(TEXT.as_bytes(), &key));
    let packed = write("sealed.ndjson.gz", &sealed(&gzip(TEXT.as_bytes()), &key));
    for path in [plain, packed] {
        assert!(is_sealed(&std::fs::read(&path).unwrap()));
        assert_eq!(ids(&path, Some(&key)), ["c1", "c2"], "{}", path.display());
    }
}

#[test]
fn a_sealed_snapshot_without_the_key_or_with_another_is_refused_naming_the_file() {
    let path = write("needs-key.ndjson", &sealed(TEXT.as_bytes(), &key(7)));
    let without = open_error(&path, None);
    assert!(
        without.contains("needs-key.ndjson") && without.contains("needs the data key"),
        "{without}"
    );
    let wrong = open_error(&path, Some(&key(8)));
    assert!(
        wrong.contains("needs-key.ndjson") && wrong.contains("the configured data key is"),
        "{wrong}"
    );
}

#[test]
fn a_damaged_sealed_snapshot_fails_naming_the_file() {
    let key = key(7);
    let mut bytes = sealed(TEXT.as_bytes(), &key);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let path = write("damaged.ndjson", &bytes);
    let error = open_error(&path, Some(&key));
    assert!(
        error.contains("reading snapshot") && error.contains("damaged.ndjson"),
        "{error}"
    );
    assert!(error.contains("fails authentication"), "{error}");
    // Cut short after a full chunk: the error comes from the profiles, naming the file too.
    let long: String = TEXT.to_owned()
        + &(0..3000)
            .map(|i| format!("{{\"customer_id\":\"bulk-{i:05}\"}}\n"))
            .collect::<String>();
    let bytes = sealed(long.as_bytes(), &key);
    let path = write("cut.ndjson", &bytes[..bytes.len() - 20]);
    let (_, profiles) = open(&path, Some(&key)).unwrap();
    let error = profiles.filter_map(Result::err).next().unwrap();
    let error = crate::report::chain(&error);
    assert!(
        error.contains("cut.ndjson") && error.contains("truncated"),
        "{error}"
    );
}

/// Log lines written while `run` runs on this thread.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged<T>(run: impl FnOnce() -> T) -> (T, String) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, run);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[test]
fn a_plaintext_snapshot_is_still_read_with_a_data_key_and_warned_about() {
    let key = key(7);
    let plain = write("plain-keyed.ndjson", TEXT.as_bytes());
    let packed = write("plain-keyed.ndjson.gz", &gzip(TEXT.as_bytes()));
    for path in [plain, packed] {
        let (read, logs) = logged(|| ids(&path, Some(&key)));
        assert_eq!(read, ["c1", "c2"], "{}", path.display());
        let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
        assert_eq!(warnings.len(), 1, "{logs}");
        assert!(
            warnings[0].contains(&path.display().to_string())
                && warnings[0].contains("not sealed")
                && warnings[0].contains("tailor seal"),
            "{logs}"
        );
    }
    // Without a key plaintext is what is expected: no warning.
    let path = write("plain-keyless.ndjson", TEXT.as_bytes());
    let (read, logs) = logged(|| ids(&path, None));
    assert_eq!(read, ["c1", "c2"]);
    assert!(!logs.contains("WARN"), "{logs}");
}

#[test]
fn chunks_keep_lines_whole_and_numbered() {
    // CRLF endings, a blank line, a line longer than a chunk, no newline at the end.
    let long = "x".repeat(3 * CHUNK_BYTES);
    let mut text = String::from("{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\r\n");
    for i in 0..2_000 {
        text.push_str(&format!("{{\"customer_id\":\"c{i}\"}}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&format!(
        "{{\"customer_id\":\"long\",\"traits\":{{\"note\":\"{long}\"}}}}\n"
    ));
    for i in 0..20_000 {
        text.push_str(&format!("{{\"customer_id\":\"d{i}\"}}\n"));
    }
    text.push_str("{\"customer_id\":\"last\"}");
    let path = write("chunks.ndjson", text.as_bytes());
    let (_, chunks) = chunks(&path, None).unwrap();
    let chunks: Vec<Chunk> = chunks.map(Result::unwrap).collect();
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    let lines: Vec<(usize, String)> = chunks
        .iter()
        .flat_map(|chunk| {
            chunk
                .lines()
                .map(|(n, line)| (n, line.unwrap().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len(), 2_000 + 1 + 20_000 + 1);
    assert_eq!(lines[0], (2, "{\"customer_id\":\"c0\"}".to_owned()));
    assert_eq!(lines[2_000].0, 2_003, "the blank line counts");
    assert!(lines[2_000].1.contains(&long));
    assert_eq!(lines[2_001].0, 2_004);
    assert_eq!(
        lines.last().unwrap(),
        &(2_000 + 20_000 + 4, "{\"customer_id\":\"last\"}".to_owned())
    );
}

#[test]
fn a_line_that_is_not_utf8_is_named() {
    let mut bytes =
        b"{\"snapshot_version\":\"v1\",\"generated_at_ms\":5}\n{\"customer_id\":\"c1\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"customer_id\":\"c\xff2\"}\n{\"customer_id\":\"c3\"}\n");
    let path = write("latin1.ndjson", &bytes);
    let (_, profiles) = open(&path, None).unwrap();
    let results: Vec<Result<Profile, SnapshotError>> = profiles.collect();
    assert_eq!(
        results[0].as_ref().unwrap().customer_id.as_deref(),
        Some("c1")
    );
    let error = results[1].as_ref().unwrap_err().to_string();
    assert!(
        error.contains("line 3") && error.contains("not UTF-8"),
        "{error}"
    );
}
