//! Reading stored values ([`super::codec`]'s layout) against a finished dictionary: a whole
//! profile, or one field at a time, with every read checked (a damaged value is refused, never
//! misread).

use super::codec::{
    Dictionary, EVENT_CATEGORY, EVENT_ITEM, EVENT_VALUE, Malformed, VALUE_FALSE, VALUE_INTEGER,
    VALUE_NUMBER, VALUE_TEXT, VALUE_TEXT_LIST, VALUE_TRUE, read_varint, take, unzigzag,
};
use tailor_types::{Consent, Event, Loyalty, Profile, Value};

/// Reads a value from its start, or a field from where its section starts.
#[derive(Debug)]
pub(super) struct Decoder<'a> {
    input: &'a [u8],
    dictionary: &'a Dictionary,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(input: &'a [u8], dictionary: &'a Dictionary) -> Decoder<'a> {
        Decoder { input, dictionary }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.input.len()
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

    /// A string that must be inline (a value's customer id).
    pub(super) fn inline_str(&mut self) -> Result<&'a str, Malformed> {
        if self.input.first().is_some_and(|b| b & 1 == 1) {
            return Err(Malformed("the id is not inline"));
        }
        self.str()
    }

    fn string(&mut self) -> Result<String, Malformed> {
        self.str().map(str::to_owned)
    }

    pub(super) fn strings(&mut self) -> Result<Vec<String>, Malformed> {
        let n = self.count()?;
        (0..n).map(|_| self.string()).collect()
    }

    /// Passes over a list of strings, checking each.
    pub(super) fn skip_strings(&mut self) -> Result<(), Malformed> {
        let n = self.count()?;
        for _ in 0..n {
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

    pub(super) fn loyalty(&mut self) -> Result<Option<Loyalty>, Malformed> {
        Ok(self.loyalty_ref()?.map(|(tier, points)| Loyalty {
            tier: tier.to_owned(),
            points,
        }))
    }

    pub(super) fn consent(&mut self) -> Result<Consent, Malformed> {
        let bits = self.byte()?;
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

    /// Passes over one recent event, checking it.
    pub(super) fn skip_event(&mut self) -> Result<(), Malformed> {
        self.str()?;
        let flags = self.byte()?;
        if flags & !(EVENT_ITEM | EVENT_CATEGORY | EVENT_VALUE) != 0 {
            return Err(Malformed("event fields"));
        }
        if flags & EVENT_ITEM != 0 {
            self.str()?;
        }
        if flags & EVENT_CATEGORY != 0 {
            self.str()?;
        }
        if flags & EVENT_VALUE != 0 {
            self.float()?;
        }
        self.varint()?;
        Ok(())
    }

    /// One category affinity.
    pub(super) fn affinity(&mut self) -> Result<(&'a str, f64), Malformed> {
        Ok((self.str()?, self.float()?))
    }

    /// Nothing may follow the last field.
    pub(super) fn end(&self) -> Result<(), Malformed> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(Malformed("bytes after the profile"))
        }
    }

    /// The whole profile a value holds.
    pub(super) fn decode(&mut self) -> Result<Profile, Malformed> {
        let id = self.inline_str()?.to_owned();
        let segments = self.strings()?;
        let n = self.count()?;
        let mut traits = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.string()?;
            traits.push((key, self.value()?));
        }
        let loyalty = self.loyalty()?;
        let consent = self.consent()?;
        let n = self.count()?;
        let mut recent_events = Vec::with_capacity(n);
        let mut last_at = 0i64;
        for _ in 0..n {
            recent_events.push(self.event(&mut last_at)?);
        }
        let n = self.count()?;
        let mut affinities = Vec::with_capacity(n);
        for _ in 0..n {
            let (category, score) = self.affinity()?;
            affinities.push((category.to_owned(), score));
        }
        self.end()?;
        Ok(Profile {
            customer_id: Some(id),
            segments,
            traits,
            loyalty,
            consent,
            recent_events,
            affinities,
        })
    }
}
