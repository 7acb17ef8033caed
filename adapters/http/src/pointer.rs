//! JSON Pointers (RFC 6901) as the config uses them: checked at build time, read with
//! [`serde_json::Value::pointer`].

use omnibridge_sdk::ChannelError;
use serde_json::Value;

/// Checks that `pointer` is a JSON Pointer: empty (the whole value) or `/`-separated
/// reference tokens in which `~` is only followed by `0` or `1`.
pub(crate) fn validate(key: &str, pointer: &str) -> Result<(), ChannelError> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(ChannelError::config(
            key,
            format!("{pointer:?} is not a JSON Pointer: it must start with '/' (or be empty)"),
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(ChannelError::config(
                key,
                format!(
                    "{pointer:?} is not a JSON Pointer: '~' must be followed by 0 ('~') or 1 ('/')"
                ),
            ));
        }
    }
    Ok(())
}

/// What a pointer found in one item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing there, `null`, or an empty string.
    Nothing,
    /// A string, or a number as its decimal text.
    Text(String),
    /// A value that is neither (the JSON type's name).
    Other(&'static str),
}

/// The scalar at `pointer` in `value`.
pub(crate) fn scalar(value: &Value, pointer: &str) -> Found {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Found::Nothing,
        Some(Value::String(text)) if text.is_empty() => Found::Nothing,
        Some(Value::String(text)) => Found::Text(text.clone()),
        Some(Value::Number(number)) => Found::Text(number.to_string()),
        Some(Value::Bool(_)) => Found::Other("a boolean"),
        Some(Value::Array(_)) => Found::Other("an array"),
        Some(Value::Object(_)) => Found::Other("an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_syntax_follows_rfc_6901() {
        for good in ["", "/", "/a", "/a/0/b", "/a~0b", "/a~1b", "/~01"] {
            assert!(validate("k", good).is_ok(), "{good}");
        }
        for bad in ["a", "id", "/a~", "/a~2", "/~x", ".a"] {
            let Err(ChannelError::Config { key, message }) = validate("inbound.text", bad) else {
                panic!("{bad} accepted");
            };
            assert_eq!(key, "inbound.text");
            assert!(message.contains("JSON Pointer"), "{message}");
        }
    }

    #[test]
    fn scalars_are_strings_or_numbers() {
        let item = serde_json::json!({
            "s": "x", "n": 42, "f": 1.5, "e": "", "z": null, "b": true, "o": {}, "a": [],
            "a~b": "tilde", "c/d": "slash"
        });
        assert_eq!(scalar(&item, "/s"), Found::Text("x".into()));
        assert_eq!(scalar(&item, "/n"), Found::Text("42".into()));
        assert_eq!(scalar(&item, "/f"), Found::Text("1.5".into()));
        assert_eq!(scalar(&item, "/a~0b"), Found::Text("tilde".into()));
        assert_eq!(scalar(&item, "/c~1d"), Found::Text("slash".into()));
        for nothing in ["/e", "/z", "/missing", "/s/deeper"] {
            assert_eq!(scalar(&item, nothing), Found::Nothing, "{nothing}");
        }
        assert_eq!(scalar(&item, "/b"), Found::Other("a boolean"));
        assert_eq!(scalar(&item, "/o"), Found::Other("an object"));
        assert_eq!(scalar(&item, "/a"), Found::Other("an array"));
    }
}
