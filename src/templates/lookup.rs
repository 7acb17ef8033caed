//! The template fallback chain and the on-disk layout rules.
//!
//! A template is `<dir>/<channel|default>/<locale>/<name>.hbs`; its key is
//! `<channel>/<locale>/<name>`. Its declared variables, if any, are in
//! `<channel|default>/<locale>/<name>.schema.json` (see [`super::schema`]). Rendering `name` for (`channel`, `locale`) tries, in order:
//! `<channel>/<locale>` → `<channel>/<lang>` → `default/<locale>` → `default/<lang>` →
//! `default/<default locale>` (normally `en`), skipping repeats.

use std::path::{Component, Path};

use super::schema::SCHEMA_SUFFIX;

/// The directory that holds channel-independent templates.
pub const DEFAULT_CHANNEL: &str = "default";
/// The directory that holds partials (`{{> name}}`).
pub const PARTIALS_DIR: &str = "partials";

/// Normalises a locale tag: `pt_br` → `pt-BR`, `EN` → `en`.
pub fn normalize_locale(locale: &str) -> String {
    let mut parts = locale.trim().split(['-', '_']);
    let lang = parts.next().unwrap_or("").to_ascii_lowercase();
    let rest: Vec<String> = parts
        .map(|p| {
            if p.len() == 2 {
                p.to_ascii_uppercase()
            } else {
                p.to_owned()
            }
        })
        .collect();
    if rest.is_empty() {
        lang
    } else {
        format!("{lang}-{}", rest.join("-"))
    }
}

/// The language part of a locale: `pt-BR` → `pt`.
pub fn language(locale: &str) -> &str {
    locale.split(['-', '_']).next().unwrap_or(locale)
}

/// The template keys to try, best first, without repeats.
pub fn chain(channel: &str, locale: &str, name: &str, default_locale: &str) -> Vec<String> {
    let locale = normalize_locale(locale);
    let lang = language(&locale).to_owned();
    let steps = [
        (channel, locale.as_str()),
        (channel, lang.as_str()),
        (DEFAULT_CHANNEL, locale.as_str()),
        (DEFAULT_CHANNEL, lang.as_str()),
        (DEFAULT_CHANNEL, default_locale),
    ];
    let mut keys: Vec<String> = Vec::with_capacity(steps.len());
    for (c, l) in steps {
        let key = format!("{c}/{l}/{name}");
        if !l.is_empty() && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Where a `.hbs` file sits in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// `<channel>/<locale>/<name>.hbs`, registered under `key`.
    Template {
        /// `<channel>/<locale>/<name>` (the name keeps inner dots: `payment_request.html`).
        key: String,
        /// The locale directory.
        locale: String,
    },
    /// `partials/<name>.hbs`, registered as partial `name`.
    Partial {
        /// The partial's name.
        name: String,
    },
    /// `<channel>/<locale>/<name>.schema.json`: the declared variables of the template(s)
    /// `<channel>/<locale>/<name>` (and its parts `<name>.txt`, `.subject`, `.html`).
    Schema {
        /// `<channel>/<locale>/<name>`.
        key: String,
        /// The locale directory.
        locale: String,
    },
}

/// Classifies a `.hbs` or `.schema.json` path relative to the templates dir, or says why it
/// is misplaced.
pub fn place(relative: &Path) -> Result<Placement, String> {
    let parts: Vec<&str> = relative
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().unwrap_or("\u{fffd}"),
            _ => "\u{fffd}",
        })
        .collect();
    let expected = "expected <channel|default>/<locale>/<name>.hbs or partials/<name>.hbs";
    let stem = |file: &str| {
        file.strip_suffix(".hbs")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let schema_stem = |file: &str| {
        file.strip_suffix(SCHEMA_SUFFIX)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match parts.as_slice() {
        [dir, file] if *dir == PARTIALS_DIR => match stem(file) {
            Some(name) => Ok(Placement::Partial { name }),
            None => Err(format!("misplaced file: {expected}")),
        },
        [channel, locale, file] => {
            let (name, schema) = match (stem(file), schema_stem(file)) {
                (Some(name), _) => (name, false),
                (None, Some(name)) => (name, true),
                (None, None) => return Err(format!("misplaced file: {expected}")),
            };
            if !is_channel(channel) {
                return Err(format!("invalid channel directory {channel:?}: {expected}"));
            }
            if !is_locale(locale) {
                return Err(format!(
                    "invalid locale directory {locale:?} (like en or pt-BR)"
                ));
            }
            let key = format!("{channel}/{locale}/{name}");
            let locale = locale.to_string();
            Ok(if schema {
                Placement::Schema { key, locale }
            } else {
                Placement::Template { key, locale }
            })
        }
        _ => Err(format!("misplaced file: {expected}")),
    }
}

/// A channel directory name: lowercase letters, digits, `-` and `_`.
fn is_channel(s: &str) -> bool {
    !s.is_empty()
        && s != PARTIALS_DIR
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A locale directory name in normalised form: `en`, `pt-BR`, `zh-Hant`.
fn is_locale(s: &str) -> bool {
    let lang = language(s);
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && normalize_locale(s) == s
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn chain_has_every_step_in_order() {
        assert_eq!(
            chain("webchat", "pt_br", "message", "en"),
            [
                "webchat/pt-BR/message",
                "webchat/pt/message",
                "default/pt-BR/message",
                "default/pt/message",
                "default/en/message",
            ]
        );
        assert_eq!(chain("default", "en", "m", "en"), ["default/en/m"]);
    }

    #[test]
    fn placement() {
        assert_eq!(
            place(Path::new("webchat/de/payment_request.html.hbs")),
            Ok(Placement::Template {
                key: "webchat/de/payment_request.html".into(),
                locale: "de".into()
            })
        );
        assert_eq!(
            place(Path::new("partials/footer.hbs")),
            Ok(Placement::Partial {
                name: "footer".into()
            })
        );
        assert_eq!(
            place(Path::new("email/en/payment_request.schema.json")),
            Ok(Placement::Schema {
                key: "email/en/payment_request".into(),
                locale: "en".into()
            })
        );
        assert!(place(Path::new("partials/footer.schema.json")).is_err());
        assert!(place(Path::new("default/en/.schema.json")).is_err());
        assert!(place(Path::new("default/message.hbs")).is_err());
        assert!(place(Path::new("default/EN/message.hbs")).is_err());
        assert!(place(Path::new("a/b/c/d.hbs")).is_err());
    }
}
