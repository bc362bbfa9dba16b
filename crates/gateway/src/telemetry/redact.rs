//! Argument values in the audit log, when the operator asks for them: values under sensitive
//! keys, and strings matching sensitive patterns, are replaced before they are stored.

use regex::Regex;
use serde_json::Value;

/// What to hide.
#[derive(Debug, Clone)]
pub struct Redaction {
    /// Keys (any depth, case-insensitive) whose values are replaced.
    pub keys: Vec<String>,
    /// Strings matching any of these are replaced.
    pub patterns: Vec<Regex>,
}

pub const REDACTED: &str = "[REDACTED]";

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            keys: [
                "password",
                "secret",
                "token",
                "api_key",
                "apikey",
                "authorization",
                "cookie",
                "credential",
            ]
            .map(String::from)
            .to_vec(),
            patterns: Vec::new(),
        }
    }
}

impl Redaction {
    pub fn apply(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let hidden = self
                            .keys
                            .iter()
                            .any(|s| k.to_ascii_lowercase().contains(&s.to_ascii_lowercase()));
                        (
                            k.clone(),
                            if hidden {
                                Value::String(REDACTED.into())
                            } else {
                                self.apply(v)
                            },
                        )
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.apply(v)).collect()),
            Value::String(s) if self.patterns.iter().any(|p| p.is_match(s)) => {
                Value::String(REDACTED.into())
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_patterns_are_hidden_at_any_depth() {
        let r = Redaction {
            patterns: vec![Regex::new(r"^\d{4}-\d{4}-\d{4}-\d{4}$").unwrap()],
            ..Redaction::default()
        };
        let v = json!({"name": "Acme", "auth": {"API_KEY": "k", "list": ["4111-1111-1111-1111", "ok"]}, "userPassword": "p"});
        assert_eq!(
            r.apply(&v),
            json!({"name": "Acme", "auth": {"API_KEY": "[REDACTED]", "list": ["[REDACTED]", "ok"]}, "userPassword": "[REDACTED]"})
        );
    }
}
