use super::*;
use crate::profiles::sample;
use crate::profiles::snapshot::parse_profile;
use std::path::Path;

/// What serde reads `line` as, borrowed as the scan would give it.
fn serde_reading(line: &str) -> Option<Profile> {
    parse_profile(Path::new("t.ndjson"), 1, Some(line)).ok()
}

/// The scan of `line`, when it reads it.
fn scanned(line: &str) -> Option<ProfileRef<'_>> {
    let mut profile = ProfileRef::default();
    scan(line, &mut profile).then_some(profile)
}

/// Whatever the scan reads, serde reads the same; what serde refuses, the scan refuses.
fn agrees(line: &str) -> bool {
    match (scanned(line), serde_reading(line)) {
        (Some(fast), Some(slow)) => {
            let id = slow.customer_id.as_deref().unwrap_or_default();
            assert_eq!(fast, ProfileRef::of(id, &slow), "{line}");
            true
        }
        (Some(fast), None) => panic!("the scan read a line serde refuses: {line}\n{fast:?}"),
        (None, _) => false,
    }
}

#[test]
fn sample_lines_are_read_in_place_as_serde_reads_them() {
    for i in 0..5_000 {
        let line = serde_json::to_string(&sample::profile(i)).unwrap();
        assert!(agrees(&line), "the scan gave up on a sample line: {line}");
        // The same with whitespace everywhere JSON allows it.
        let spaced = line
            .replace(':', " :\t")
            .replace(',', " ,\r\n ")
            .replace('{', "{ ")
            .replace('[', " [ ");
        assert!(agrees(&format!(" {spaced} ")), "{spaced}");
    }
}

#[test]
fn every_field_form_the_scan_reads() {
    let line = r#"{"customer_id":"c-1","segments":[],"traits":{"b":true,"f":false,
        "i":-42,"n":-0.25,"z":0,"t":"é€","l":["a",""],"e":[]},"loyalty":{"tier":"gold"},
        "consent":{"marketing":true,"third_party_sharing":true},"recent_events":[
        {"at_ms":5,"kind":"page_view","item_id":null,"category":"shoes","value":3},
        {"kind":"purchase","value":null,"at_ms":-1}],"affinities":{"shoes":1,"bags":0.5}}"#
        .replace('\n', "");
    assert!(agrees(&line));
    let profile = scanned(&line).unwrap();
    assert_eq!(profile.trait_value("i"), Some(&ValueRef::Integer(-42)));
    assert_eq!(profile.trait_value("z"), Some(&ValueRef::Integer(0)));
    assert_eq!(profile.loyalty.unwrap().points, 0);
    assert_eq!(profile.recent_events[0].value, Some(3.0));
    assert_eq!(profile.recent_events[1].item_id, None);
    assert!(agrees(r#"{"customer_id":"c-2","loyalty":null}"#));
    assert!(agrees(r#"{"customer_id":"c-3"}"#));
}

#[test]
fn lines_serde_reads_otherwise_or_refuses_are_left_to_it() {
    for line in [
        // serde reads these; the scan leaves them to it.
        r#"{"customer_id":"a\"b"}"#,
        r#"{"customer_id":"c","segments":["x\u00e9"]}"#,
        r#"{"customer_id":"c","traits":{"n":1e3}}"#,
        r#"{"customer_id":"c","traits":{"n":-0}}"#,
        r#"{"customer_id":"c","traits":{"n":12345678901234567890}}"#,
        r#"{"customer_id":"c","traits":{"n":0.1234567890123456}}"#,
        r#"{"customer_id":"c","loyalty":{"tier":"gold","points":3.0}}"#,
        r#"{"customer_id":"c","recent_events":[{"kind":"k","at_ms":1.0}]}"#,
        // serde refuses these, naming the field.
        r#"{"customer_id":"c","segments":["a"],"segments":[]}"#,
        r#"{"customer_id":"c","traits":{"a":1,"a":2}}"#,
        r#"{"customer_id":"c","affinities":{"a":1,"a":2}}"#,
        r#"{"customer_id":"c","traits":{"a":null}}"#,
        r#"{"customer_id":"c","traits":{"a":[1]}}"#,
        r#"{"customer_id":"c","colour":"red"}"#,
        r#"{"customer_id":"c","loyalty":{"points":3}}"#,
        r#"{"customer_id":"c","loyalty":{"tier":"gold","tier":"x"}}"#,
        r#"{"customer_id":"c","consent":{"marketing":1}}"#,
        r#"{"customer_id":"c","consent":null}"#,
        r#"{"customer_id":"c","recent_events":[{"kind":"k"}]}"#,
        r#"{"customer_id":"c","recent_events":[["k",1]]}"#,
        r#"{"customer_id":"c","traits":{"n":01}}"#,
        r#"{"customer_id":"c","traits":{"n":1.}}"#,
        r#"{"customer_id":"c","traits":{"n":.5}}"#,
        r#"{"customer_id":"c","traits":{"n":+1}}"#,
        "{\"customer_id\":\"c\",\"segments\":[\"a\tb\"]}",
        r#"{"customer_id":""}"#,
        r#"{"customer_id":null}"#,
        r#"{"segments":[]}"#,
        r#"{"customer_id":"c"} x"#,
        r#"{"customer_id":"c",}"#,
        r#"{"customer_id":"c""#,
        r#"["c"]"#,
    ] {
        assert!(scanned(line).is_none(), "{line}");
    }
}

/// A small deterministic generator for the damage below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn scan_agrees_with_serde_on_damaged_lines() {
    const PIECES: &[&str] = &[
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "0",
        "1",
        "9",
        "-",
        ".",
        "e",
        "\\",
        " ",
        "null",
        "true",
        "false",
        "x",
        "\"a\"",
        "\"kind\"",
        "\"at_ms\"",
        "\"tier\"",
        "\"value\":",
        "1.5",
        "-0",
        "00",
        "\"customer_id\"",
        "\"traits\":{",
        "\u{e9}",
    ];
    let mut rng = Rng(0x7461_696c_6f72);
    let (mut read, mut left) = (0, 0);
    for i in 0..400 {
        let line = serde_json::to_string(&sample::profile(i)).unwrap();
        for _ in 0..100 {
            let mut damaged = line.clone();
            for _ in 0..1 + rng.below(3) {
                let mut at = rng.below(damaged.len());
                while !damaged.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + rng.below(4)).min(damaged.len());
                while !damaged.is_char_boundary(end) {
                    end += 1;
                }
                let piece = if rng.below(3) == 0 {
                    ""
                } else {
                    PIECES[rng.below(PIECES.len())]
                };
                damaged.replace_range(at..end, piece);
            }
            if agrees(&damaged) {
                read += 1;
            } else {
                left += 1;
            }
        }
    }
    // Both kinds were tried: damage the scan still reads (a changed digit or name) and damage
    // it leaves to serde.
    assert!(read > 1_000 && left > 1_000, "{read} read, {left} left");
}

#[test]
fn numbers_read_as_serde_reads_them() {
    let mut rng = Rng(0x5eed);
    for _ in 0..20_000 {
        let digits: String = (0..1 + rng.below(16))
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        let point = rng.below(digits.len() + 1);
        let mut number = String::new();
        if rng.below(2) == 0 {
            number.push('-');
        }
        number.push_str(&digits[..point]);
        if point < digits.len() {
            if point == 0 {
                number.push('0');
            }
            number.push('.');
            number.push_str(&digits[point..]);
        }
        for line in [
            format!(r#"{{"customer_id":"c","traits":{{"n":{number}}}}}"#),
            format!(r#"{{"customer_id":"c","affinities":{{"n":{number}}}}}"#),
            format!(
                r#"{{"customer_id":"c","recent_events":[{{"kind":"k","at_ms":{number},"value":{number}}}]}}"#
            ),
            format!(r#"{{"customer_id":"c","loyalty":{{"tier":"t","points":{number}}}}}"#),
        ] {
            agrees(&line);
        }
    }
}
