//! Declared template variables: a sidecar `<name>.schema.json` next to a template's `.hbs`
//! files (same `<channel|default>/<locale>/` directory) says which variables the template
//! takes, their types, whether the data always carries them, and an example of each:
//!
//! ```json
//! {
//!   "variables": {
//!     "amount": { "type": "integer", "required": true, "example": 4990,
//!                 "description": "Amount in minor units of currency" }
//!   }
//! }
//! ```
//!
//! - `type`: `string`, `number`, `integer`, `boolean`, `object` or `array` (of the values the
//!   data carries; `null` is always accepted as data, never as an example).
//! - `required` (default `false`): the template needs it, so the data must carry it. Lint
//!   warns about a required variable no part uses.
//! - `example`: a realistic value of that type; the examples together are the sample data of
//!   previews ([`Schema::sample_data`]).
//! - `description`: for people editing the template.
//!
//! One sidecar covers every part of the template in its directory: `payment_request.hbs`,
//! and for email `payment_request.subject.hbs`, `.txt.hbs` and `.html.hbs`. It is looked up
//! along the same fallback chain as the templates ([`super::TemplateEngine::schema`]).
//! Unknown keys are refused, so a typo (`"requird"`) is an error, not a silent default.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file name suffix of a sidecar: `payment_request.schema.json`.
pub const SCHEMA_SUFFIX: &str = ".schema.json";

/// The variable the engine sets itself (the resolved template's locale directory): always
/// available, never declared.
pub const ENGINE_VARIABLES: &[&str] = &["locale"];

/// A template's declared variables.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The variables by name (top-level keys of the template data).
    pub variables: BTreeMap<String, Variable>,
}

/// One declared variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The JSON type of its value.
    #[serde(rename = "type")]
    pub kind: VariableType,
    /// Whether the template needs it (the data always carries it). Default `false`.
    #[serde(default)]
    pub required: bool,
    /// A realistic value, used as sample data by previews and lint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    /// What it is, for people editing the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The JSON type of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableType {
    /// A JSON string.
    String,
    /// Any JSON number.
    Number,
    /// A JSON number without a fractional part (minor units of money, counts).
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

impl VariableType {
    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Boolean => value.is_boolean(),
            Self::Object => value.is_object(),
            Self::Array => value.is_array(),
        }
    }

    /// Its name in a sidecar.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
        }
    }
}

/// Why a sidecar is refused, with the 1-based position in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct SchemaError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VariableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Schema {
    /// Parses and validates a sidecar: JSON of the documented shape (unknown keys refused),
    /// variable names that templates can use (letters, digits, `_`, not starting with a
    /// digit), and each example of its declared type.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let schema: Schema = serde_json::from_str(text).map_err(|e| SchemaError {
            line: e.line().max(1),
            column: e.column().max(1),
            message: e.to_string(),
        })?;
        for (name, variable) in &schema.variables {
            let (line, column) = key_position(text, name).unwrap_or((1, 1));
            let error = |message: String| SchemaError {
                line,
                column,
                message,
            };
            if !is_variable_name(name) {
                return Err(error(format!(
                    "variable name {name:?}: use letters, digits and _, not starting with a digit"
                )));
            }
            if ENGINE_VARIABLES.contains(&name.as_str()) {
                return Err(error(format!(
                    "variable {name:?} is set by the engine and cannot be declared"
                )));
            }
            if let Some(example) = &variable.example
                && !variable.kind.matches(example)
            {
                return Err(error(format!(
                    "variable {name:?}: the example {example} is not of type {}",
                    variable.kind
                )));
            }
        }
        Ok(schema)
    }

    /// The examples as a JSON object: the sample data of previews. Variables without an
    /// example are left out.
    pub fn sample_data(&self) -> Value {
        Value::Object(
            self.variables
                .iter()
                .filter_map(|(name, v)| Some((name.clone(), v.example.clone()?)))
                .collect(),
        )
    }

    /// Whether `name` is declared (or set by the engine).
    pub fn declares(&self, name: &str) -> bool {
        self.variables.contains_key(name) || ENGINE_VARIABLES.contains(&name)
    }

    /// For each declared variable `data` (a JSON object) has with a value of another type:
    /// `(name, message)`. `null` is accepted for any type.
    pub fn type_mismatches(&self, data: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, variable) in &self.variables {
            if let Some(value) = data.get(name)
                && !value.is_null()
                && !variable.kind.matches(value)
            {
                out.push((
                    name.clone(),
                    format!(
                        "{name} is {value}, not of the declared type {}",
                        variable.kind
                    ),
                ));
            }
        }
        out
    }
}

/// A name templates can use as a top-level variable.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The 1-based position of the object key `"name"` in a sidecar's text (its first
/// occurrence followed by `:`), for messages about that variable.
pub fn key_position(text: &str, name: &str) -> Option<(usize, usize)> {
    let quoted = format!("\"{name}\"");
    let mut from = 0;
    while let Some(found) = text[from..].find(&quoted) {
        let at = from + found;
        let rest = text[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            return Some(line_column(text, at));
        }
        from = at + quoted.len();
    }
    None
}

/// The 1-based line and column (in characters) of byte offset `at` in `text`.
pub fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const GOOD: &str = r#"{
  "variables": {
    "amount": { "type": "integer", "required": true, "example": 4990,
                "description": "minor units" },
    "note": { "type": "string" }
  }
}"#;

    #[test]
    fn parses_and_gives_the_examples_as_sample_data() {
        let schema = Schema::parse(GOOD).unwrap();
        assert!(schema.variables["amount"].required);
        assert!(
            !schema.variables["note"].required,
            "required defaults to false"
        );
        assert_eq!(schema.sample_data(), json!({"amount": 4990}));
        assert!(schema.declares("amount") && schema.declares("locale"));
        assert!(!schema.declares("amont"));
    }

    #[test]
    fn unknown_keys_types_and_bad_examples_are_refused_with_a_position() {
        let typo = GOOD.replace("\"required\"", "\"requird\"");
        let e = Schema::parse(&typo).unwrap_err();
        assert!(e.message.contains("requird"), "{e}");
        assert_eq!(e.line, 3);

        let bad_type = GOOD.replace("\"integer\"", "\"int\"");
        assert!(Schema::parse(&bad_type).is_err());

        let bad_example = GOOD.replace("4990", "\"49.90\"");
        let e = Schema::parse(&bad_example).unwrap_err();
        assert_eq!((e.line, e.column), (3, 5), "{e}");
        assert!(e.message.contains("not of type integer"), "{e}");

        let float = GOOD.replace("4990", "49.9");
        assert!(Schema::parse(&float).is_err(), "49.9 is not an integer");

        let engine = r#"{"variables": {"locale": {"type": "string"}}}"#;
        assert!(Schema::parse(engine).is_err());
        let name = r#"{"variables": {"1st": {"type": "string"}}}"#;
        assert!(Schema::parse(name).is_err());
        assert!(Schema::parse("{}").is_err(), "variables is required");
    }

    #[test]
    fn data_of_another_type_is_reported() {
        let schema = Schema::parse(GOOD).unwrap();
        assert!(
            schema
                .type_mismatches(&json!({"amount": 1, "note": null}))
                .is_empty()
        );
        let bad = schema.type_mismatches(&json!({"amount": "12"}));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, "amount");
    }
}
