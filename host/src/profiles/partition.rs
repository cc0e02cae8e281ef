//! Which of a snapshot's profiles a node keeps: a kiosk one store's customers, a PoP one
//! region's, a node of a sharded fleet one hash range. The node declares it (`snapshot_partition`)
//! and loads only the matching profiles from a national export; a customer outside it is served
//! as anonymous there, as an unknown one is (her events still overlay what the node knows).
//!
//! Forms:
//! - `trait:KEY=VALUE[,VALUE…]`: the profile's trait `KEY` is one of the texts (or a text list
//!   holding one of them), e.g. `trait:home_store=store-0042` or `trait:region=north,east`;
//! - `hash:I/N`: the customer is in part `I` of `N` (`0 <= I < N`) by a stable hash of the id
//!   (MurmurHash3 of `partition:<id>`, the same on every node and release).

use super::snapshot::{ProfileRef, ValueRef};
use std::fmt;
use std::str::FromStr;

/// Parts a `hash:` partition may split customers into at most.
const MAX_PARTS: u32 = 1 << 16;

/// A node's share of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partition {
    Trait { key: String, values: Vec<String> },
    Hash { part: u32, parts: u32 },
}

/// A partition that does not parse; says what the forms are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "snapshot_partition: {given:?} {why}; use trait:KEY=VALUE[,VALUE…] or hash:I/N (0 <= I < N)"
)]
pub struct PartitionError {
    given: String,
    why: &'static str,
}

impl Partition {
    /// Whether the node keeps `profile`.
    pub fn holds(&self, profile: &ProfileRef<'_>) -> bool {
        match self {
            Partition::Trait { key, values } => match profile.trait_value(key) {
                Some(ValueRef::Text(text)) => values.iter().any(|v| v == text),
                Some(ValueRef::TextList(list)) => {
                    list.iter().any(|t| values.iter().any(|v| v == t))
                }
                _ => false,
            },
            Partition::Hash { part, parts } => {
                let hash = tailor_bucketing::murmur3_x86_32(
                    &[b"partition:", profile.customer_id.as_bytes()],
                    0,
                );
                ((u64::from(hash) * u64::from(*parts)) >> 32) as u32 == *part
            }
        }
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let bad = |why| PartitionError {
            given: given.to_owned(),
            why,
        };
        let (kind, rest) = given.split_once(':').ok_or_else(|| bad("names no form"))?;
        match kind {
            "trait" => {
                let (key, values) = rest.split_once('=').ok_or_else(|| bad("has no =VALUE"))?;
                let values: Vec<String> = values.split(',').map(str::to_owned).collect();
                if key.is_empty() || values.iter().any(String::is_empty) {
                    return Err(bad("has an empty key or value"));
                }
                Ok(Partition::Trait {
                    key: key.to_owned(),
                    values,
                })
            }
            "hash" => {
                let (part, parts) = rest.split_once('/').ok_or_else(|| bad("has no /N"))?;
                let (Ok(part), Ok(parts)) = (part.parse::<u32>(), parts.parse::<u32>()) else {
                    return Err(bad("is not two whole numbers"));
                };
                if parts == 0 || part >= parts || parts > MAX_PARTS {
                    return Err(bad("is out of range (at most 65536 parts)"));
                }
                Ok(Partition::Hash { part, parts })
            }
            _ => Err(bad("names an unknown form")),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Trait { key, values } => write!(f, "trait:{key}={}", values.join(",")),
            Partition::Hash { part, parts } => write!(f, "hash:{part}/{parts}"),
        }
    }
}

impl serde::Serialize for Partition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Partition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let given = String::deserialize(deserializer)?;
        given.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_print_and_refuse_naming_the_option() {
        for text in [
            "trait:home_store=store-0042",
            "trait:region=north,east",
            "hash:3/16",
        ] {
            assert_eq!(text.parse::<Partition>().unwrap().to_string(), text);
        }
        for bad in [
            "",
            "store-0042",
            "trait:home_store",
            "trait:=x",
            "trait:k=a,,b",
            "hash:3",
            "hash:16/16",
            "hash:a/2",
            "hash:0/0",
            "hash:0/70000",
            "geo:uk",
        ] {
            let error = bad.parse::<Partition>().unwrap_err().to_string();
            assert!(error.starts_with("snapshot_partition:"), "{error}");
        }
    }

    #[test]
    fn a_trait_partition_keeps_matching_texts_and_lists_only() {
        let partition: Partition = "trait:home_store=store-0042,store-0107".parse().unwrap();
        let with = |value: ValueRef<'static>| ProfileRef {
            customer_id: "c",
            traits: vec![("home_store", value)],
            ..ProfileRef::default()
        };
        assert!(partition.holds(&with(ValueRef::Text("store-0107"))));
        assert!(!partition.holds(&with(ValueRef::Text("store-0213"))));
        assert!(partition.holds(&with(ValueRef::TextList(vec!["x", "store-0042"]))));
        assert!(!partition.holds(&with(ValueRef::Integer(42))));
        assert!(!partition.holds(&ProfileRef::default()));
    }

    #[test]
    fn hash_parts_split_customers_evenly_and_exactly_once() {
        let parts: Vec<Partition> = (0..4)
            .map(|i| format!("hash:{i}/4").parse().unwrap())
            .collect();
        let mut sizes = [0usize; 4];
        for n in 0..20_000 {
            let id = format!("cust-{n:06}");
            let holding: Vec<usize> = (0..4)
                .filter(|&i| {
                    parts[i].holds(&ProfileRef {
                        customer_id: &id,
                        ..ProfileRef::default()
                    })
                })
                .collect();
            assert_eq!(holding.len(), 1, "{id}");
            sizes[holding[0]] += 1;
        }
        assert!(
            sizes.iter().all(|&s| (4_500..5_500).contains(&s)),
            "{sizes:?}"
        );
    }
}
