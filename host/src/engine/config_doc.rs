//! A policy version's configuration document, parsed once when the version is loaded into a
//! tree built for the lookups policies make: a JSON pointer walked without allocating, object
//! members found through a hash index, and each object's key list kept ready to hand out.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Largest config document accepted.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Objects with more members than this get a hash index; smaller ones are scanned.
const INDEX_OVER: usize = 8;

type Index = HashMap<Box<str>, usize, BuildHasherDefault<rustc_hash::FxHasher>>;

/// One value of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigNode {
    Null,
    Boolean(bool),
    Number(f64),
    Text(String),
    Array(Vec<ConfigNode>),
    Object(ConfigObject),
}

/// An object's members in document order, with an index for large objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigObject {
    keys: Vec<String>,
    values: Vec<ConfigNode>,
    index: Option<Index>,
}

impl ConfigObject {
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn get(&self, key: &str) -> Option<&ConfigNode> {
        let at = match &self.index {
            Some(index) => *index.get(key)?,
            None => self.keys.iter().position(|k| k == key)?,
        };
        self.values.get(at)
    }

    /// Members in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConfigNode)> {
        self.keys.iter().map(String::as_str).zip(&self.values)
    }
}

/// The parsed JSON config of one policy version. Policies read it by JSON pointer through the
/// contract's `config-get` / `config-json`, so a decision never re-parses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDocument {
    root: ConfigNode,
    /// The original JSON value, for `config-json` of whole subtrees.
    json: serde_json::Value,
    /// The whole document's JSON text, serialized once: a policy that reads its config into a
    /// typed struct asks for it on every decision.
    whole: String,
}

impl Default for ConfigDocument {
    fn default() -> Self {
        ConfigDocument::empty()
    }
}

impl ConfigDocument {
    /// A policy with no config: every pointer but `""` is absent, `""` is `null`.
    pub fn empty() -> Self {
        ConfigDocument {
            root: ConfigNode::Null,
            json: serde_json::Value::Null,
            whole: "null".to_owned(),
        }
    }

    /// Parses a config document; the error says where the JSON is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(format!(
                "{} bytes is over the {MAX_CONFIG_BYTES}-byte limit",
                text.len()
            ));
        }
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("line {} column {}: {e}", e.line(), e.column()))?;
        Ok(ConfigDocument::from_value(json))
    }

    pub fn from_value(json: serde_json::Value) -> Self {
        ConfigDocument {
            root: build(&json),
            whole: json.to_string(),
            json,
        }
    }

    /// The document as JSON.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// The node at an RFC 6901 pointer (`""` is the root; `~1` is `/` and `~0` is `~` in keys).
    pub fn get(&self, pointer: &str) -> Option<&ConfigNode> {
        if pointer.is_empty() {
            return Some(&self.root);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut node = &self.root;
        for token in rest.split('/') {
            let unescaped;
            let token = if token.contains('~') {
                unescaped = unescape(token)?;
                unescaped.as_str()
            } else {
                token
            };
            node = match node {
                ConfigNode::Object(object) => object.get(token)?,
                ConfigNode::Array(items) => items.get(array_index(token)?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The text members of the object at `pointer`, in document order (others left out);
    /// `None` when it names no object.
    pub fn texts(&self, pointer: &str) -> Option<Vec<(String, String)>> {
        match self.get(pointer)? {
            ConfigNode::Object(object) => Some(
                object
                    .iter()
                    .filter_map(|(key, node)| match node {
                        ConfigNode::Text(text) => Some((key.to_owned(), text.clone())),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The JSON text of the subtree at a pointer.
    pub fn get_json(&self, pointer: &str) -> Option<String> {
        if pointer.is_empty() {
            return Some(self.whole.clone());
        }
        self.json.pointer(pointer).map(serde_json::Value::to_string)
    }
}

fn unescape(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next()? {
                '0' => out.push('~'),
                '1' => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Array indices per RFC 6901: digits only, no leading zeros.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    token.parse().ok()
}

fn build(value: &serde_json::Value) -> ConfigNode {
    use serde_json::Value;
    match value {
        Value::Null => ConfigNode::Null,
        Value::Bool(b) => ConfigNode::Boolean(*b),
        Value::Number(n) => ConfigNode::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => ConfigNode::Text(s.clone()),
        Value::Array(items) => ConfigNode::Array(items.iter().map(build).collect()),
        Value::Object(members) => {
            let keys: Vec<String> = members.keys().cloned().collect();
            let values = members.values().map(build).collect();
            let index = (keys.len() > INDEX_OVER).then(|| {
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| (k.as_str().into(), i))
                    .collect()
            });
            ConfigNode::Object(ConfigObject {
                keys,
                values,
                index,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ConfigDocument {
        ConfigDocument::parse(text).unwrap()
    }

    #[test]
    fn pointers_follow_rfc_6901() {
        let d = doc(r#"{"a": {"b/c": 1, "d~e": 2, "": 3}, "list": [10, 20], "0": "zero"}"#);
        assert_eq!(d.get(""), Some(&d.root));
        assert_eq!(d.get("/a/b~1c"), Some(&ConfigNode::Number(1.0)));
        assert_eq!(d.get("/a/d~0e"), Some(&ConfigNode::Number(2.0)));
        assert_eq!(d.get("/a/"), Some(&ConfigNode::Number(3.0)));
        assert_eq!(d.get("/list/1"), Some(&ConfigNode::Number(20.0)));
        assert_eq!(d.get("/0"), Some(&ConfigNode::Text("zero".into())));
        for missing in [
            "/list/01",
            "/list/2",
            "/list/-",
            "/a/b~2",
            "a",
            "/nope",
            "/list/1/x",
        ] {
            assert_eq!(d.get(missing), None, "{missing}");
        }
    }

    #[test]
    fn large_objects_are_indexed_and_keep_document_order() {
        let members: Vec<String> = (0..20).rev().map(|i| format!("\"k{i}\": {i}")).collect();
        let d = doc(&format!("{{{}}}", members.join(",")));
        let ConfigNode::Object(object) = d.get("").unwrap() else {
            panic!("not an object")
        };
        assert!(object.index.is_some());
        assert_eq!(object.keys()[0], "k19");
        assert_eq!(d.get("/k3"), Some(&ConfigNode::Number(3.0)));
    }

    #[test]
    fn an_objects_text_members_come_back_in_order() {
        let d = doc(r#"{"v": {"headline": "Hi", "rank": 2, "cta": "Go", "nested": {"x": "y"}}}"#);
        assert_eq!(
            d.texts("/v"),
            Some(vec![
                ("headline".to_owned(), "Hi".to_owned()),
                ("cta".to_owned(), "Go".to_owned())
            ])
        );
        assert_eq!(d.texts("/v/headline"), None, "not an object");
        assert_eq!(d.texts("/missing"), None);
    }

    #[test]
    fn subtrees_come_back_as_json() {
        let d = doc(r#"{"arms": {"a": 1, "b": 2}}"#);
        assert_eq!(d.get_json("/arms").as_deref(), Some(r#"{"a":1,"b":2}"#));
        assert_eq!(d.get_json("/zzz"), None);
        assert_eq!(
            d.get_json("")
                .map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap()),
            Some(d.json().clone()),
            "the whole document"
        );
        assert_eq!(
            ConfigDocument::empty().get_json("").as_deref(),
            Some("null")
        );
    }

    #[test]
    fn errors_say_where() {
        let err = ConfigDocument::parse("{\n  \"a\": ,\n}").unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
    }
}
