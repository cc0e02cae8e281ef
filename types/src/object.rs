//! Serde support for struct fields that take a JSON object and nothing else. A derived
//! `Deserialize` also reads a struct from an array of its field values in declaration order
//! (`"unit": [null, "a-1"]`); the HTTP API documents objects only, and a client sending an
//! array has made a mistake worth a 400, not a guess.
//!
//! `#[serde(deserialize_with = "object::deserialize")]` on a struct field, `object::option` on
//! an `Option` of one, `object::list` on a `Vec` of them.

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A `T` from a JSON object only.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Object::deserialize(deserializer).map(|Object(value)| value)
}

/// `null`, or a `T` from a JSON object.
pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|Object(value)| value))
}

/// An array of `T`s, each from a JSON object.
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Objects<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Objects<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of JSON objects")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(Object(value)) = seq.next_element()? {
                out.push(value);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Objects(PhantomData))
}

/// A `T` read from a JSON object only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = Object<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }

        deserializer.deserialize_map(Fields(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Unit {
        id: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        #[serde(deserialize_with = "super::deserialize")]
        unit: Unit,
        #[serde(default, deserialize_with = "super::option")]
        maybe: Option<Unit>,
        #[serde(default, deserialize_with = "super::list")]
        many: Vec<Unit>,
    }

    fn read(json: &str) -> Result<Request, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn objects_are_read_as_a_derived_deserialize_reads_them() {
        let request = read(r#"{"unit": {"id": "a"}, "maybe": null, "many": [{}, {"id": "b"}]}"#);
        assert_eq!(
            request,
            Ok(Request {
                unit: Unit {
                    id: Some("a".into())
                },
                maybe: None,
                many: vec![
                    Unit { id: None },
                    Unit {
                        id: Some("b".into())
                    }
                ],
            })
        );
        let unknown = read(r#"{"unit": {"id": "a", "x": 1}}"#).unwrap_err();
        assert!(unknown.contains("unknown field `x`"), "{unknown}");
    }

    #[test]
    fn an_array_in_place_of_an_object_is_refused() {
        for json in [
            r#"{"unit": ["a"]}"#,
            r#"{"unit": {}, "maybe": ["a"]}"#,
            r#"{"unit": {}, "many": [["a"]]}"#,
        ] {
            let error = read(json).unwrap_err();
            assert!(error.contains("expected a JSON object"), "{json}: {error}");
        }
    }
}
