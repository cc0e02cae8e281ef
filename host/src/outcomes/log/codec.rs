//! The outcome log's record encoding: length- and checksum-framed binary records, with every
//! repeated string (policy, slot, version, channel, experiment, arm, item, event kind, node)
//! written once per segment as a numbered name and referred to by number afterwards. Unique
//! strings (decision and event ids, units) are written inline. About a fifth of a JSON line.
//!
//! Frame: `len: u32 LE`, `crc32(payload): u32 LE`, `payload`. A payload starts with its tag:
//! - `0` header: the format version (a plaintext segment's first frame);
//! - `4` sealed header: the format version and the segment's [`Sealing`] as JSON (an encrypted
//!   segment's first frame, the one frame of it in plaintext; every later payload is sealed:
//!   [`super::seal`]);
//! - `1` name: the next name number's text;
//! - `2` exposure, `3` conversion: their fields, in the order of [`Exposure`] and
//!   [`Conversion`]; numbers are LEB128 varints, `at_ms` zigzagged, value an f64 LE; an
//!   optional name is 0 for none or its number + 1.

use crate::outcomes::record::{Conversion, Exposure, ExposureRef, Record};
use crate::privacy::Sealing;
use rustc_hash::FxHashMap;

/// The format this code writes; a segment of another version is not read.
pub(super) const FORMAT_VERSION: u64 = 1;
/// Bytes of a frame's header (length, checksum).
pub(super) const FRAME_HEADER: usize = 8;
/// No frame is larger (a record of a few kilobytes at most; a larger length is a torn write).
pub(super) const MAX_FRAME: usize = 1 << 20;

const HEADER: u8 = 0;
const NAME: u8 = 1;
const EXPOSURE: u8 = 2;
const CONVERSION: u8 = 3;
const SEALED_HEADER: u8 = 4;

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends a frame around `payload` (already encoded, or sealed).
pub(super) fn frame_of(out: &mut Vec<u8>, payload: &[u8]) {
    frame(out, |p| p.extend_from_slice(payload));
}

fn frame(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    payload(out);
    let body = &out[start + FRAME_HEADER..];
    let len = body.len() as u32;
    let mut crc = flate2::Crc::new();
    crc.update(body);
    let sum = crc.sum();
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&sum.to_le_bytes());
}

/// A segment's writing side: the names written so far.
#[derive(Debug, Default)]
pub(super) struct Encoder {
    names: FxHashMap<String, u64>,
    /// Per field, the last name and its number: consecutive records mostly repeat their
    /// policy, slot, version and channel, and comparing is cheaper than hashing.
    recent: [Option<(String, u64)>; FIELDS],
}

/// Fields of a record that are names (the index into [`Encoder::recent`]).
const FIELDS: usize = 8;
const F_SLOT: usize = 0;
const F_POLICY: usize = 1;
const F_VERSION: usize = 2;
const F_CHANNEL: usize = 3;
const F_EXPERIMENT: usize = 4;
const F_ARM: usize = 5;
const F_KIND: usize = 6;
const F_NODE: usize = 7;

impl Encoder {
    /// A new segment's first frame.
    pub(super) fn header(out: &mut Vec<u8>) {
        frame(out, |p| {
            p.push(HEADER);
            varint(p, FORMAT_VERSION);
        });
    }

    /// An encrypted segment's first frame: how its other frames are sealed.
    pub(super) fn sealed_header(out: &mut Vec<u8>, sealing: &Sealing) {
        frame(out, |p| {
            p.push(SEALED_HEADER);
            varint(p, FORMAT_VERSION);
            // A struct of three strings always serializes.
            p.extend_from_slice(&serde_json::to_vec(sealing).unwrap_or_default());
        });
    }

    /// A frame of `len` payload bytes that holds nothing: a header frame padded with zeros,
    /// which every reader of this format skips. It takes an erased record's place, so every
    /// other frame keeps its offset. `len` is a record's payload length (at least two bytes).
    pub(super) fn blank(len: usize, out: &mut Vec<u8>) {
        frame(out, |p| {
            let start = p.len();
            p.push(HEADER);
            varint(p, FORMAT_VERSION);
            p.resize(start + len.max(p.len() - start), 0);
        });
    }

    /// The number of a name, writing its frame first when it is new.
    fn name(&mut self, out: &mut Vec<u8>, name: &str) -> u64 {
        if let Some(id) = self.names.get(name) {
            return *id;
        }
        let id = self.names.len() as u64;
        self.names.insert(name.to_owned(), id);
        frame(out, |p| {
            p.push(NAME);
            p.extend_from_slice(name.as_bytes());
        });
        id
    }

    /// [`Encoder::name`] for a field, remembering its last value.
    fn field(&mut self, out: &mut Vec<u8>, field: usize, name: &str) -> u64 {
        if let Some((last, id)) = &self.recent[field]
            && last == name
        {
            return *id;
        }
        let id = self.name(out, name);
        self.recent[field] = Some((name.to_owned(), id));
        id
    }

    fn optional(&mut self, out: &mut Vec<u8>, field: usize, name: Option<&str>) -> u64 {
        name.map_or(0, |n| self.field(out, field, n) + 1)
    }

    /// Appends an exposure's frames (its new names first).
    pub(super) fn encode_exposure(&mut self, e: &ExposureRef<'_>, out: &mut Vec<u8>) {
        let slot = self.field(out, F_SLOT, e.slot);
        let policy = self.field(out, F_POLICY, e.policy);
        let version = self.field(out, F_VERSION, e.version);
        let channel = self.field(out, F_CHANNEL, e.channel);
        let experiment = self.optional(out, F_EXPERIMENT, e.experiment);
        let arm = self.optional(out, F_ARM, e.arm);
        let items: Vec<u64> = e.items.iter().map(|i| self.name(out, i)).collect();
        let node = self.optional(out, F_NODE, e.node);
        frame(out, |p| {
            p.push(EXPOSURE);
            text(p, e.decision_id);
            for n in [slot, policy, version, experiment, arm] {
                varint(p, n);
            }
            varint(p, items.len() as u64);
            for item in items {
                varint(p, item);
            }
            text(p, e.unit);
            varint(p, channel);
            varint(p, zigzag(e.at_ms));
            varint(p, node);
        });
    }

    /// Appends a record's frames (its new names first).
    pub(super) fn encode(&mut self, record: &Record, out: &mut Vec<u8>) {
        match record {
            Record::Exposure(e) => self.encode_exposure(&e.as_ref(), out),
            Record::Conversion(c) => {
                let kind = self.field(out, F_KIND, &c.kind);
                let policy = self.field(out, F_POLICY, &c.policy);
                let experiment = self.optional(out, F_EXPERIMENT, c.experiment.as_deref());
                let arm = self.optional(out, F_ARM, c.arm.as_deref());
                let item = c.item.as_deref().map_or(0, |i| self.name(out, i) + 1);
                let node = self.optional(out, F_NODE, c.node.as_deref());
                frame(out, |p| {
                    p.push(CONVERSION);
                    text(p, &c.event_id);
                    for n in [kind, policy] {
                        varint(p, n);
                    }
                    text(p, &c.unit);
                    for n in [experiment, arm, item] {
                        varint(p, n);
                    }
                    match &c.decision_id {
                        Some(d) => {
                            p.push(1);
                            text(p, d);
                        }
                        None => p.push(0),
                    }
                    p.extend_from_slice(&c.value.to_le_bytes());
                    varint(p, zigzag(c.at_ms));
                    varint(p, node);
                });
            }
        }
    }
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// What a frame held.
#[derive(Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a decoded record is handed on at once; boxing it would cost an allocation a record"
)]
pub(super) enum Decoded {
    Record(Record),
    /// A header or a name: nothing to hand on.
    Meta,
}

/// A frame that cannot be read: torn by a crash, or of a format this code does not know.
#[derive(Debug, PartialEq)]
pub(super) struct Malformed(pub(super) &'static str);

/// A segment's reading side: the names read so far.
#[derive(Debug, Default, Clone)]
pub(super) struct Decoder {
    names: Vec<String>,
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self.0.split_first().ok_or(Malformed("truncated"))?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Malformed("varint too long"))
    }

    fn bytes(&mut self, len: usize) -> Result<&[u8], Malformed> {
        if self.0.len() < len {
            return Err(Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn text(&mut self) -> Result<String, Malformed> {
        let len = self.varint()? as usize;
        let bytes = self.bytes(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Malformed("text is not UTF-8"))
    }
}

/// The length of the frame whose header starts `input`, once its checksum matches the payload
/// that follows (`None`: not all of it is there yet, or it is torn).
pub(super) fn payload(header: &[u8; FRAME_HEADER], body: &[u8]) -> Result<(), Malformed> {
    let sum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut crc = flate2::Crc::new();
    crc.update(body);
    if crc.sum() == sum {
        Ok(())
    } else {
        Err(Malformed("checksum mismatch"))
    }
}

/// How a segment is encrypted, from its first frame's (checked) payload: `None` when it is a
/// plaintext segment.
pub(super) fn sealing(first: &[u8]) -> Result<Option<Sealing>, Malformed> {
    let mut input = Input(first);
    let tag = input.byte()?;
    if input.varint()? != FORMAT_VERSION {
        return Err(Malformed("a format version this node does not read"));
    }
    match tag {
        HEADER => Ok(None),
        SEALED_HEADER => serde_json::from_slice(input.0)
            .map(Some)
            .map_err(|_| Malformed("the sealed header's sealing is not readable")),
        _ => Err(Malformed("a segment's first frame is not its header")),
    }
}

/// The payload length a frame header announces.
pub(super) fn frame_len(header: &[u8; FRAME_HEADER]) -> Result<usize, Malformed> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(Malformed("frame length out of range"));
    }
    Ok(len)
}

impl Decoder {
    fn name(&self, id: u64) -> Result<String, Malformed> {
        self.names
            .get(id as usize)
            .cloned()
            .ok_or(Malformed("unknown name"))
    }

    fn optional(&self, id: u64) -> Result<Option<String>, Malformed> {
        match id {
            0 => Ok(None),
            n => self.name(n - 1).map(Some),
        }
    }

    /// Decodes one frame's (checked) payload.
    pub(super) fn decode(&mut self, payload: &[u8]) -> Result<Decoded, Malformed> {
        let mut input = Input(payload);
        match input.byte()? {
            HEADER => match input.varint()? {
                FORMAT_VERSION => Ok(Decoded::Meta),
                _ => Err(Malformed("a format version this node does not read")),
            },
            // Read by [`sealing`] before any other frame.
            SEALED_HEADER => Ok(Decoded::Meta),
            NAME => {
                let name = String::from_utf8(input.0.to_vec())
                    .map_err(|_| Malformed("name is not UTF-8"))?;
                self.names.push(name);
                Ok(Decoded::Meta)
            }
            EXPOSURE => {
                let decision_id = input.text()?;
                let slot = self.name(input.varint()?)?;
                let policy = self.name(input.varint()?)?;
                let version = self.name(input.varint()?)?;
                let experiment = self.optional(input.varint()?)?;
                let arm = self.optional(input.varint()?)?;
                let count = input.varint()? as usize;
                let mut items = Vec::with_capacity(count.min(256));
                for _ in 0..count {
                    items.push(self.name(input.varint()?)?);
                }
                let unit = input.text()?;
                let channel = self.name(input.varint()?)?;
                let at_ms = unzigzag(input.varint()?);
                let node = self.optional(input.varint()?)?;
                Ok(Decoded::Record(Record::Exposure(Exposure {
                    decision_id,
                    slot,
                    policy,
                    version,
                    experiment,
                    arm,
                    items,
                    unit,
                    channel,
                    at_ms,
                    node,
                })))
            }
            CONVERSION => {
                let event_id = input.text()?;
                let kind = self.name(input.varint()?)?;
                let policy = self.name(input.varint()?)?;
                let unit = input.text()?;
                let experiment = self.optional(input.varint()?)?;
                let arm = self.optional(input.varint()?)?;
                let item = self.optional(input.varint()?)?;
                let decision_id = match input.byte()? {
                    0 => None,
                    _ => Some(input.text()?),
                };
                let value = input.bytes(8)?;
                let value = f64::from_le_bytes(value.try_into().map_err(|_| Malformed("value"))?);
                let at_ms = unzigzag(input.varint()?);
                let node = self.optional(input.varint()?)?;
                Ok(Decoded::Record(Record::Conversion(Conversion {
                    event_id,
                    kind,
                    policy,
                    unit,
                    experiment,
                    arm,
                    item,
                    decision_id,
                    value,
                    at_ms,
                    node,
                })))
            }
            _ => Err(Malformed("unknown frame tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Record>, Malformed> {
        let mut decoder = Decoder::default();
        let mut records = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let header: [u8; FRAME_HEADER] = rest[..FRAME_HEADER].try_into().unwrap();
            let len = frame_len(&header)?;
            let body = &rest[FRAME_HEADER..FRAME_HEADER + len];
            payload(&header, body)?;
            if let Decoded::Record(r) = decoder.decode(body)? {
                records.push(r);
            }
            rest = &rest[FRAME_HEADER + len..];
        }
        Ok(records)
    }

    fn sample() -> Vec<Record> {
        let exposure = Exposure {
            decision_id: "19a-1f".into(),
            slot: "hero".into(),
            policy: "hero-bandit".into(),
            version: format!("sha256:{}", "ab".repeat(32)),
            experiment: Some("hero-bandit-2026".into()),
            arm: Some("summer-preview".into()),
            items: vec!["sku-1".into(), "sku-2".into()],
            unit: "anon-42".into(),
            channel: "web".into(),
            at_ms: 1_774_000_000_000,
            node: None,
        };
        let mut remote = exposure.clone();
        remote.decision_id = "19b-2".into();
        remote.node = Some("kiosk-7".into());
        remote.experiment = None;
        remote.arm = None;
        remote.at_ms = -5;
        let conversion = Conversion {
            event_id: "click-1".into(),
            kind: "purchase".into(),
            policy: "hero-bandit".into(),
            unit: "c-7".into(),
            experiment: Some("hero-bandit-2026".into()),
            arm: Some("summer-preview".into()),
            item: Some("sku-2".into()),
            decision_id: Some("19a-1f".into()),
            value: 12.5,
            at_ms: 1_774_000_001_000,
            node: None,
        };
        vec![
            Record::Exposure(exposure),
            Record::Exposure(remote),
            Record::Conversion(conversion),
        ]
    }

    #[test]
    fn records_round_trip_and_names_are_written_once() {
        let records = sample();
        let mut out = Vec::new();
        Encoder::header(&mut out);
        let mut encoder = Encoder::default();
        for r in &records {
            encoder.encode(r, &mut out);
        }
        let first = out.len();
        encoder.encode(&records[0], &mut out);
        let again = out.len() - first;
        let json = serde_json::to_vec(&records[0]).unwrap().len();
        assert!(again * 5 < json, "{again} bytes against {json} as JSON");
        let mut expected = records.clone();
        expected.push(records[0].clone());
        assert_eq!(decode_all(&out).unwrap(), expected);
    }

    #[test]
    fn a_blank_frame_reads_as_nothing_and_keeps_the_length() {
        let mut record = Vec::new();
        let mut encoder = Encoder::default();
        encoder.encode(&sample()[2], &mut record);
        let mut names = Decoder::default();
        let mut rest = &record[..];
        let mut last = 0;
        while !rest.is_empty() {
            let header: [u8; FRAME_HEADER] = rest[..FRAME_HEADER].try_into().unwrap();
            last = frame_len(&header).unwrap();
            names
                .decode(&rest[FRAME_HEADER..FRAME_HEADER + last])
                .unwrap();
            rest = &rest[FRAME_HEADER + last..];
        }
        let mut blank = Vec::new();
        Encoder::blank(last, &mut blank);
        assert_eq!(blank.len(), FRAME_HEADER + last);
        let header: [u8; FRAME_HEADER] = blank[..FRAME_HEADER].try_into().unwrap();
        payload(&header, &blank[FRAME_HEADER..]).unwrap();
        assert_eq!(names.decode(&blank[FRAME_HEADER..]), Ok(Decoded::Meta));
        assert_eq!(decode_all(&blank), Ok(vec![]));
    }

    #[test]
    fn a_torn_or_foreign_frame_is_refused() {
        let mut out = Vec::new();
        Encoder::default().encode(&sample()[0], &mut out);
        let last = out.len() - 1;
        out[last] ^= 1;
        assert_eq!(decode_all(&out), Err(Malformed("checksum mismatch")));
        let mut future = Vec::new();
        frame(&mut future, |p| {
            p.push(HEADER);
            varint(p, FORMAT_VERSION + 1);
        });
        assert!(decode_all(&future).is_err());
        let zero = [0u8; FRAME_HEADER];
        assert!(frame_len(&zero).is_err());
    }
}
