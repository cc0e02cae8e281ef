//! A policy version's configuration document, parsed once when the version is loaded.

use serde_json::Value;

/// Largest config document accepted.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The parsed JSON config of one policy version. Policies read it by JSON pointer through the
/// contract's `config-get` / `config-json`, so a decision never re-parses it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigDocument {
    root: Value,
}

impl ConfigDocument {
    /// A policy with no config: every pointer but `""` is absent, `""` is `null`.
    pub fn empty() -> Self {
        ConfigDocument { root: Value::Null }
    }

    /// Parses a config document; the error says where the JSON is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(format!(
                "{} bytes is over the {MAX_CONFIG_BYTES}-byte limit",
                text.len()
            ));
        }
        serde_json::from_str(text)
            .map(|root| ConfigDocument { root })
            .map_err(|e| format!("line {} column {}: {e}", e.line(), e.column()))
    }

    pub fn from_value(root: Value) -> Self {
        ConfigDocument { root }
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The value at an RFC 6901 pointer.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.root.pointer(pointer)
    }
}
