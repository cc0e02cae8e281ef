//! A profile line read in place: the loader's fast path, which allocates no string.
//!
//! [`scan`] reads the lines a customer data platform writes (the JSON of a [`Profile`], with
//! texts that need no escape) straight into a [`ProfileRef`] whose texts borrow the line. It
//! handles a subset of what [`super::parse_profile`] accepts, and gives up on anything else:
//! an escape or a control character in a text, a number with an exponent or of more than 18
//! digits, an integral field written with a point, an unknown or repeated field, `-0`, any
//! syntax error. The loader then parses that line with serde, which either reads it or names
//! the field that is wrong, so every line is read exactly as serde reads it and every error is
//! serde's. What the scan does accept it reads as serde does (`scan_agrees_with_serde` in the
//! tests holds it to that over sample lines and many damaged ones).

use tailor_types::{Consent, Event, Profile, Value};

/// A profile whose texts borrow the snapshot line (or a parsed [`Profile`]): what the store's
/// encoder and the partition filter read.
#[derive(Debug, Default, PartialEq)]
pub struct ProfileRef<'a> {
    pub customer_id: &'a str,
    pub segments: Vec<&'a str>,
    pub traits: Vec<(&'a str, ValueRef<'a>)>,
    pub loyalty: Option<LoyaltyRef<'a>>,
    pub consent: Consent,
    /// Newest first, as in the line.
    pub recent_events: Vec<EventRef<'a>>,
    pub affinities: Vec<(&'a str, f64)>,
}

/// A trait's value, its texts borrowed.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    Boolean(bool),
    Integer(i64),
    Number(f64),
    Text(&'a str),
    TextList(Vec<&'a str>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoyaltyRef<'a> {
    pub tier: &'a str,
    pub points: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventRef<'a> {
    pub kind: &'a str,
    pub item_id: Option<&'a str>,
    pub category: Option<&'a str>,
    pub value: Option<f64>,
    pub at_ms: i64,
}

impl<'a> ProfileRef<'a> {
    /// `profile`'s fields, borrowed (`customer_id` is `id`).
    pub fn of(id: &'a str, profile: &'a Profile) -> ProfileRef<'a> {
        ProfileRef {
            customer_id: id,
            segments: profile.segments.iter().map(String::as_str).collect(),
            traits: profile
                .traits
                .iter()
                .map(|(key, value)| (key.as_str(), ValueRef::of(value)))
                .collect(),
            loyalty: profile.loyalty.as_ref().map(|l| LoyaltyRef {
                tier: &l.tier,
                points: l.points,
            }),
            consent: profile.consent,
            recent_events: profile.recent_events.iter().map(EventRef::of).collect(),
            affinities: profile
                .affinities
                .iter()
                .map(|(category, score)| (category.as_str(), *score))
                .collect(),
        }
    }

    /// The value of the trait `key`.
    pub fn trait_value(&self, key: &str) -> Option<&ValueRef<'a>> {
        self.traits.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Empties it for the next line, keeping its lists' room.
    fn clear(&mut self) {
        self.customer_id = "";
        self.segments.clear();
        self.traits.clear();
        self.loyalty = None;
        self.consent = Consent::default();
        self.recent_events.clear();
        self.affinities.clear();
    }
}

impl<'a> ValueRef<'a> {
    fn of(value: &'a Value) -> ValueRef<'a> {
        match value {
            Value::Boolean(b) => ValueRef::Boolean(*b),
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Number(x) => ValueRef::Number(*x),
            Value::Text(text) => ValueRef::Text(text),
            Value::TextList(list) => ValueRef::TextList(list.iter().map(String::as_str).collect()),
        }
    }
}

impl<'a> EventRef<'a> {
    fn of(event: &'a Event) -> EventRef<'a> {
        EventRef {
            kind: &event.kind,
            item_id: event.item_id.as_deref(),
            category: event.category.as_deref(),
            value: event.value,
            at_ms: event.at_ms,
        }
    }
}

/// Reads `line` into `profile` (emptied first); `false` when the line needs serde's parse.
pub fn scan<'a>(line: &'a str, profile: &mut ProfileRef<'a>) -> bool {
    profile.clear();
    let mut scanner = Scanner { line, at: 0 };
    scanner.profile(profile).is_some() && scanner.at_end()
}

/// A cursor over a line. Every method returns `None` to give up.
struct Scanner<'a> {
    line: &'a str,
    at: usize,
}

/// The top-level fields, for refusing a repeated one (serde's "duplicate field").
const CUSTOMER_ID: u8 = 1;
const SEGMENTS: u8 = 2;
const TRAITS: u8 = 4;
const LOYALTY: u8 = 8;
const CONSENT: u8 = 16;
const RECENT_EVENTS: u8 = 32;
const AFFINITIES: u8 = 64;

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.line.as_bytes()
    }

    /// The next byte after whitespace, not taken.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.at) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.peek()?;
        let rest = self.bytes().get(self.at..)?;
        rest.starts_with(word.as_bytes())
            .then(|| self.at += word.len())
    }

    /// A text without escapes or control characters.
    fn text(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.bytes().get(start..)?;
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are next to an ASCII quote, so on character boundaries.
        self.line.get(start..start + len)
    }

    /// `null` as `None`, or what `read` reads.
    fn null_or<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|()| true),
            b'f' => self.literal("false").map(|()| false),
            _ => None,
        }
    }

    /// A JSON number's text, and whether it is written without a fraction.
    fn number(&mut self) -> Option<Number<'a>> {
        self.peek()?;
        let bytes = self.bytes();
        let start = self.at;
        let mut at = start;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at > from
        };
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                digits(&mut at);
            }
            _ => return None,
        }
        let mut integral = true;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            integral = false;
            if !digits(&mut at) {
                return None;
            }
        }
        // An exponent can overflow or underflow, where serde's and the standard library's
        // readings differ in what they refuse: serde's parse decides.
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            return None;
        }
        let text = self.line.get(start..at)?;
        // `-0` is a float to serde (negative zero); a longer integer may not fit an `i64`, and
        // a fraction of more than 15 digits may round differently in serde's reading.
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        if text.len() > 18 || (integral && text == "-0") || (!integral && digits > 15) {
            return None;
        }
        self.at = at;
        Some(Number { text, integral })
    }

    /// An integer written without a point (one with `.0` is serde's).
    fn integer(&mut self) -> Option<i64> {
        let number = self.number()?;
        if !number.integral {
            return None;
        }
        number.text.parse().ok()
    }

    /// A number as an `f64`: an integer converts as serde converts it.
    fn float(&mut self) -> Option<f64> {
        let number = self.number()?;
        if number.integral {
            return number.text.parse::<i64>().ok().map(|n| n as f64);
        }
        number.fraction()
    }

    /// An object, calling `field` with each key (the cursor at its value).
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.text()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array, calling `item` with the cursor at each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn texts(&mut self, into: &mut Vec<&'a str>) -> Option<()> {
        self.array(|s| s.text().map(|text| into.push(text)))
    }

    /// A trait's value, as `Value`'s visitor reads it.
    fn value(&mut self) -> Option<ValueRef<'a>> {
        Some(match self.peek()? {
            b'"' => ValueRef::Text(self.text()?),
            b't' | b'f' => ValueRef::Boolean(self.boolean()?),
            b'[' => {
                let mut list = Vec::new();
                self.texts(&mut list)?;
                ValueRef::TextList(list)
            }
            _ => {
                let number = self.number()?;
                if number.integral {
                    ValueRef::Integer(number.text.parse().ok()?)
                } else {
                    ValueRef::Number(number.fraction()?)
                }
            }
        })
    }

    fn profile(&mut self, profile: &mut ProfileRef<'a>) -> Option<()> {
        let mut seen = 0u8;
        self.object(|s, key| {
            let bit = match key {
                "customer_id" => CUSTOMER_ID,
                "segments" => SEGMENTS,
                "traits" => TRAITS,
                "loyalty" => LOYALTY,
                "consent" => CONSENT,
                "recent_events" => RECENT_EVENTS,
                "affinities" => AFFINITIES,
                _ => return None,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match bit {
                CUSTOMER_ID => {
                    profile.customer_id = s.text().filter(|id| !id.is_empty())?;
                    Some(())
                }
                SEGMENTS => s.texts(&mut profile.segments),
                TRAITS => s.object(|s, key| {
                    if profile.traits.iter().any(|(k, _)| *k == key) {
                        return None;
                    }
                    let value = s.value()?;
                    profile.traits.push((key, value));
                    Some(())
                }),
                LOYALTY => {
                    profile.loyalty = s.null_or(Self::loyalty)?;
                    Some(())
                }
                CONSENT => {
                    profile.consent = s.consent()?;
                    Some(())
                }
                RECENT_EVENTS => s.array(|s| {
                    let event = s.event()?;
                    profile.recent_events.push(event);
                    Some(())
                }),
                _ => s.object(|s, key| {
                    if profile.affinities.iter().any(|(k, _)| *k == key) {
                        return None;
                    }
                    let score = s.float()?;
                    profile.affinities.push((key, score));
                    Some(())
                }),
            }
        })?;
        // A line without an id is an error serde names.
        (seen & CUSTOMER_ID != 0).then_some(())
    }

    fn loyalty(&mut self) -> Option<LoyaltyRef<'a>> {
        let (mut tier, mut points) = (None, None);
        self.object(|s, key| match key {
            "tier" if tier.is_none() => s.text().map(|t| tier = Some(t)),
            "points" if points.is_none() => s.integer().map(|p| points = Some(p)),
            _ => None,
        })?;
        Some(LoyaltyRef {
            tier: tier?,
            points: points.unwrap_or(0),
        })
    }

    fn consent(&mut self) -> Option<Consent> {
        let mut consent = Consent::default();
        let mut seen = 0u8;
        self.object(|s, key| {
            let (bit, field) = match key {
                "personalization" => (1, &mut consent.personalization),
                "marketing" => (2, &mut consent.marketing),
                "analytics" => (4, &mut consent.analytics),
                "third_party_sharing" => (8, &mut consent.third_party_sharing),
                _ => return None,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            *field = s.boolean()?;
            Some(())
        })?;
        Some(consent)
    }

    fn event(&mut self) -> Option<EventRef<'a>> {
        let (mut kind, mut at_ms) = (None, None);
        let (mut item_id, mut category, mut value) = (None, None, None);
        self.object(|s, key| match key {
            "kind" if kind.is_none() => s.text().map(|k| kind = Some(k)),
            "item_id" if item_id.is_none() => s.null_or(Self::text).map(|i| item_id = Some(i)),
            "category" if category.is_none() => s.null_or(Self::text).map(|c| category = Some(c)),
            "value" if value.is_none() => s.null_or(Self::float).map(|v| value = Some(v)),
            "at_ms" if at_ms.is_none() => s.integer().map(|a| at_ms = Some(a)),
            _ => None,
        })?;
        Some(EventRef {
            kind: kind?,
            item_id: item_id.flatten(),
            category: category.flatten(),
            value: value.flatten(),
            at_ms: at_ms?,
        })
    }
}

/// A number as written.
struct Number<'a> {
    text: &'a str,
    integral: bool,
}

impl Number<'_> {
    /// A number with a fraction, as an `f64` (finite, as serde requires).
    fn fraction(&self) -> Option<f64> {
        self.text.parse::<f64>().ok().filter(|x| x.is_finite())
    }
}

#[cfg(test)]
mod tests;
