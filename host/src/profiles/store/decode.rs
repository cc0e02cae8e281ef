//! Reading stored values ([`super::codec`]'s layout) against a finished dictionary: where a
//! value's sections lie ([`Layout`]), one section's fields, or a whole profile, with every read
//! checked (a damaged value is refused, never misread).

use super::codec::{
    Dictionary, EVENT_CATEGORY, EVENT_ITEM, EVENT_VALUE, Malformed, SECTIONS, VALUE_FALSE,
    VALUE_INTEGER, VALUE_NUMBER, VALUE_TEXT, VALUE_TEXT_LIST, VALUE_TRUE, read_varint, take,
    unzigzag,
};
use std::ops::Range;
use tailor_types::{Consent, Event, Loyalty, Profile, Value};

/// A value's sections, in the order they are stored.
#[derive(Debug, Clone, Copy)]
pub(super) enum Section {
    Segments,
    Traits,
    Loyalty,
    Events,
    Affinities,
}

/// Where a value's id and sections lie, read from its start: the id, the consent byte and the
/// table of section lengths, checked, and the sections' lengths checked to fill the value
/// exactly (a value cut short or run on is refused here). The sections themselves are checked
/// as they are read.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    id: Range<usize>,
    pub(super) consent: Consent,
    sections: [Range<usize>; SECTIONS],
}

impl Layout {
    pub(super) fn of(value: &[u8]) -> Result<Layout, Malformed> {
        let mut input = value;
        let at = |input: &[u8]| value.len() - input.len();
        let n = read_varint(&mut input)?;
        if n & 1 == 1 {
            return Err(Malformed("the id is not inline"));
        }
        let start = at(input);
        let len = usize::try_from(n >> 1).map_err(|_| Malformed("truncated"))?;
        std::str::from_utf8(take(&mut input, len)?)
            .map_err(|_| Malformed("the id is not UTF-8"))?;
        let id = start..start + len;
        let consent = consent(take(&mut input, 1)?[0])?;
        let mut lens = [0u64; SECTIONS];
        for len in &mut lens {
            *len = read_varint(&mut input)?;
        }
        let mut start = at(input);
        let sections = lens.map(|len| {
            let section = start..start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            start = section.end;
            section
        });
        match start.cmp(&value.len()) {
            std::cmp::Ordering::Equal => Ok(Layout {
                id,
                consent,
                sections,
            }),
            std::cmp::Ordering::Less => Err(Malformed("bytes after the profile")),
            std::cmp::Ordering::Greater => Err(Malformed("truncated")),
        }
    }

    /// The customer id in `value` (the value this layout was read from, which checked it).
    pub(super) fn id<'v>(&self, value: &'v [u8]) -> &'v str {
        std::str::from_utf8(value.get(self.id.clone()).unwrap_or_default()).unwrap_or_default()
    }

    /// The bytes of `section` in `value` (the value this layout was read from).
    pub(super) fn section<'v>(&self, value: &'v [u8], section: Section) -> &'v [u8] {
        value
            .get(self.sections[section as usize].clone())
            .unwrap_or_default()
    }
}

/// A consent byte's flags; other bits set are damage.
fn consent(bits: u8) -> Result<Consent, Malformed> {
    if bits >> 4 != 0 {
        return Err(Malformed("consent"));
    }
    Ok(Consent {
        personalization: bits & 1 != 0,
        marketing: bits & 2 != 0,
        analytics: bits & 4 != 0,
        third_party_sharing: bits & 8 != 0,
    })
}

/// The whole profile a value holds, every section checked to its end.
pub(super) fn decode(value: &[u8], dictionary: &Dictionary) -> Result<Profile, Malformed> {
    let layout = Layout::of(value)?;
    let section = |section| Decoder::new(layout.section(value, section), dictionary);
    Ok(Profile {
        customer_id: Some(layout.id(value).to_owned()),
        segments: section(Section::Segments).segments()?,
        traits: section(Section::Traits).traits()?,
        loyalty: section(Section::Loyalty).loyalty()?,
        consent: layout.consent,
        recent_events: section(Section::Events).events(usize::MAX)?,
        affinities: section(Section::Affinities).affinities()?,
    })
}

/// Reads the fields of one section of a value (the bytes [`Layout::section`] gives).
#[derive(Debug)]
pub(super) struct Decoder<'a> {
    input: &'a [u8],
    dictionary: &'a Dictionary,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(input: &'a [u8], dictionary: &'a Dictionary) -> Decoder<'a> {
        Decoder { input, dictionary }
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        read_varint(&mut self.input)
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        Ok(take(&mut self.input, 1)?[0])
    }

    fn float(&mut self) -> Result<f64, Malformed> {
        let bytes = take(&mut self.input, 8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(le))
    }

    /// A list's length.
    pub(super) fn count(&mut self) -> Result<usize, Malformed> {
        let n = self.varint()?;
        // Every entry takes at least a byte: a larger count is damage, not a long list.
        if n > self.input.len() as u64 {
            return Err(Malformed("a count past the end"));
        }
        Ok(n as usize)
    }

    /// A string, from the dictionary or inline, without copying it.
    pub(super) fn str(&mut self) -> Result<&'a str, Malformed> {
        let n = self.varint()?;
        if n & 1 == 1 {
            let entry = usize::try_from(n >> 1).map_err(|_| Malformed("unknown name"))?;
            return self
                .dictionary
                .names
                .get(entry)
                .map(|name| &**name)
                .ok_or(Malformed("unknown name"));
        }
        let len = usize::try_from(n >> 1).map_err(|_| Malformed("truncated"))?;
        let bytes = take(&mut self.input, len)?;
        std::str::from_utf8(bytes).map_err(|_| Malformed("text is not UTF-8"))
    }

    fn string(&mut self) -> Result<String, Malformed> {
        self.str().map(str::to_owned)
    }

    pub(super) fn strings(&mut self) -> Result<Vec<String>, Malformed> {
        let n = self.count()?;
        (0..n).map(|_| self.string()).collect()
    }

    /// Passes over a list of strings, checking each.
    fn skip_strings(&mut self) -> Result<(), Malformed> {
        for _ in 0..self.count()? {
            self.str()?;
        }
        Ok(())
    }

    /// A trait's value (after its key).
    pub(super) fn value(&mut self) -> Result<Value, Malformed> {
        Ok(match self.byte()? {
            VALUE_FALSE => Value::Boolean(false),
            VALUE_TRUE => Value::Boolean(true),
            VALUE_INTEGER => Value::Integer(unzigzag(self.varint()?)),
            VALUE_NUMBER => Value::Number(self.float()?),
            VALUE_TEXT => Value::Text(self.string()?),
            VALUE_TEXT_LIST => Value::TextList(self.strings()?),
            _ => return Err(Malformed("unknown trait type")),
        })
    }

    /// Passes over a trait's value, checking it.
    pub(super) fn skip_value(&mut self) -> Result<(), Malformed> {
        match self.byte()? {
            VALUE_FALSE | VALUE_TRUE => {}
            VALUE_INTEGER => {
                self.varint()?;
            }
            VALUE_NUMBER => {
                self.float()?;
            }
            VALUE_TEXT => {
                self.str()?;
            }
            VALUE_TEXT_LIST => self.skip_strings()?,
            _ => return Err(Malformed("unknown trait type")),
        }
        Ok(())
    }

    /// The loyalty field, its tier borrowed.
    pub(super) fn loyalty_ref(&mut self) -> Result<Option<(&'a str, i64)>, Malformed> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some((self.str()?, unzigzag(self.varint()?)))),
            _ => Err(Malformed("loyalty")),
        }
    }

    /// A loyalty section.
    pub(super) fn loyalty(&mut self) -> Result<Option<Loyalty>, Malformed> {
        let loyalty = self.loyalty_ref()?.map(|(tier, points)| Loyalty {
            tier: tier.to_owned(),
            points,
        });
        self.end()?;
        Ok(loyalty)
    }

    /// One recent event; `last_at` is the time of the one before it (0 for the first), and
    /// becomes this one's.
    pub(super) fn event(&mut self, last_at: &mut i64) -> Result<Event, Malformed> {
        let kind = self.string()?;
        let flags = self.byte()?;
        if flags & !(EVENT_ITEM | EVENT_CATEGORY | EVENT_VALUE) != 0 {
            return Err(Malformed("event fields"));
        }
        let item_id = (flags & EVENT_ITEM != 0)
            .then(|| self.string())
            .transpose()?;
        let category = (flags & EVENT_CATEGORY != 0)
            .then(|| self.string())
            .transpose()?;
        let value = (flags & EVENT_VALUE != 0)
            .then(|| self.float())
            .transpose()?;
        let at_ms = last_at.wrapping_add(unzigzag(self.varint()?));
        *last_at = at_ms;
        Ok(Event {
            kind,
            item_id,
            category,
            value,
            at_ms,
        })
    }

    /// One category affinity.
    pub(super) fn affinity(&mut self) -> Result<(&'a str, f64), Malformed> {
        Ok((self.str()?, self.float()?))
    }

    /// Nothing may follow a section's last field.
    fn end(&self) -> Result<(), Malformed> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(Malformed("bytes after a section's last field"))
        }
    }

    /// A segments section.
    pub(super) fn segments(&mut self) -> Result<Vec<String>, Malformed> {
        let segments = self.strings()?;
        self.end()?;
        Ok(segments)
    }

    /// A traits section.
    pub(super) fn traits(&mut self) -> Result<Vec<(String, Value)>, Malformed> {
        let n = self.count()?;
        let mut traits = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.string()?;
            traits.push((key, self.value()?));
        }
        self.end()?;
        Ok(traits)
    }

    /// A recent-events section's newest `limit` events (the section is checked to its end
    /// when all of them are read).
    pub(super) fn events(&mut self, limit: usize) -> Result<Vec<Event>, Malformed> {
        let n = self.count()?;
        let mut events = Vec::with_capacity(n.min(limit));
        let mut last_at = 0;
        for _ in 0..n.min(limit) {
            events.push(self.event(&mut last_at)?);
        }
        if limit >= n {
            self.end()?;
        }
        Ok(events)
    }

    /// An affinities section.
    pub(super) fn affinities(&mut self) -> Result<Vec<(String, f64)>, Malformed> {
        let n = self.count()?;
        let mut affinities = Vec::with_capacity(n);
        for _ in 0..n {
            let (category, score) = self.affinity()?;
            affinities.push((category.to_owned(), score));
        }
        self.end()?;
        Ok(affinities)
    }
}
