//! Message templates: handlebars files per channel and locale, rendered in strict mode.
//!
//! # Layout
//! - `<dir>/<channel|default>/<locale>/<name>.hbs`: a template, e.g. `default/en/message.hbs`,
//!   `webchat/de/payment_request.hbs`. Its key is `<channel>/<locale>/<name>`.
//! - `<dir>/partials/<name>.hbs`: a partial, usable from every template as `{{> name}}`.
//!
//! The bridge loads the shipped tree embedded in the binary, overridden file by file by
//! `templates.dir` when it exists ([`source`]).
//!
//! - `<dir>/<channel|default>/<locale>/<name>.schema.json`: the variables the template
//!   declares, with examples ([`schema`]).
//!
//! Resolution follows the chain in [`lookup`]; [`Rendered`] says which file won.
//! Helpers are in [`helpers`] (`money`), and [`check`] validates a tree without loading it.
//! [`lint`] finds problems in a template (saved or not) per channel, and [`preview`] shows
//! what the customer sees on each channel.
//!
//! # Strict mode
//! A variable missing from the data is an error ([`TemplateError::MissingVariable`]), never an
//! empty string.
//!
//! # Escaping, decided by file extension
//! Chat channels render plain text, so `*.hbs` templates are rendered with **no** escaping
//! (`handlebars::no_escape`): `{{text}}` outputs `<b>&` verbatim. Files named `*.html.hbs`
//! (name `*.html`, e.g. `email/en/payment_request.html.hbs` rendered as
//! `payment_request.html`) are rendered with HTML escaping (`handlebars::html_escape`);
//! `{{{triple}}}` opts out as usual. The two kinds live in two registries that share the
//! helpers and partials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use handlebars::{Handlebars, RenderErrorReason};

pub mod check;
pub mod helpers;
pub mod lint;
pub mod lookup;
pub mod preview;
pub mod schema;
pub mod source;
pub mod versions;

use lookup::Placement;
use schema::Schema;
pub use source::TemplateFile;

/// Errors loading or rendering templates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `.hbs` file is not at `<channel>/<locale>/<name>.hbs` or `partials/<name>.hbs`.
    #[error("{path}: {reason}")]
    Misplaced {
        /// The file.
        path: PathBuf,
        /// What is wrong with where it is.
        reason: String,
    },
    /// A file is not valid handlebars.
    #[error("{path}{}: {message}", line.map_or_else(String::new, |l| format!(":{l}")))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// No file on the fallback chain exists.
    #[error("unknown template {name:?}; tried {}", tried.join(", "))]
    UnknownTemplate {
        /// The template name asked for.
        name: String,
        /// The keys tried, best first.
        tried: Vec<String>,
    },
    /// Strict mode: the template uses a variable the data lacks.
    #[error("template {template}: missing variable {variable:?}{}", at(*line))]
    MissingVariable {
        /// The key of the template that failed.
        template: String,
        /// The variable's path, e.g. `customer.name`.
        variable: String,
        /// 1-based line, when known.
        line: Option<usize>,
    },
    /// Any other rendering failure (a helper's error such as an unknown currency).
    #[error("template {template}: {message}{}", at(*line))]
    Render {
        /// The key of the template that failed.
        template: String,
        /// What went wrong.
        message: String,
        /// 1-based line, when known.
        line: Option<usize>,
    },
    /// The render data must be a JSON object (or null).
    #[error("template data must be a JSON object")]
    InvalidData,
    /// A `.schema.json` sidecar is not valid (see [`schema`]).
    #[error("{path}:{line}:{column}: {message}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

fn at(line: Option<usize>) -> String {
    line.map_or_else(String::new, |l| format!(" at line {l}"))
}

/// The output of [`TemplateEngine::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The rendered text.
    pub text: String,
    /// The key of the template used, e.g. `default/en/message`.
    pub template: String,
    /// The file used (`<embedded>/…` for a shipped template not overridden).
    pub file: PathBuf,
    /// The locale directory of the file used (also `@root.locale` while rendering).
    pub locale: String,
    /// Whether the output is HTML-escaped (the file is `*.html.hbs`).
    pub html: bool,
}

/// One loaded template file.
#[derive(Debug)]
struct Loaded {
    /// Where it came from.
    file: PathBuf,
    /// Its locale directory.
    locale: String,
    /// Its text.
    source: String,
}

/// Loaded templates, ready to render. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct TemplateEngine {
    plain: Handlebars<'static>,
    html: Handlebars<'static>,
    files: HashMap<String, Loaded>,
    schemas: HashMap<String, (String, Schema)>,
    default_locale: String,
}

impl TemplateEngine {
    /// Loads every `.hbs` and `.schema.json` file under `dir` (other files are ignored), and
    /// nothing else. Fails on the first unreadable, misplaced or unparsable file.
    pub fn load(dir: &Path) -> Result<TemplateEngine, TemplateError> {
        Self::load_files(source::from_dir(dir)?)
    }

    /// Loads the embedded shipped templates, overridden file by file by `dir` when it exists
    /// (see [`source::merged`]): what the bridge runs with.
    pub fn load_with_defaults(dir: &Path) -> Result<TemplateEngine, TemplateError> {
        Self::load_files(source::merged(dir)?)
    }

    /// Loads `files`. Fails on the first misplaced or unparsable one.
    pub fn load_files(files: Vec<TemplateFile>) -> Result<TemplateEngine, TemplateError> {
        let mut engine = TemplateEngine {
            plain: registry(false),
            html: registry(true),
            files: HashMap::new(),
            schemas: HashMap::new(),
            default_locale: "en".to_owned(),
        };
        for file in files {
            let path = file.origin;
            let placement =
                lookup::place(&file.relative).map_err(|reason| TemplateError::Misplaced {
                    path: path.clone(),
                    reason,
                })?;
            let source = file.source;
            let syntax = |e: handlebars::TemplateError| TemplateError::Syntax {
                path: path.clone(),
                line: e.pos().map(|(l, _)| l),
                message: e.reason().to_string(),
            };
            match placement {
                Placement::Partial { name } => {
                    engine
                        .plain
                        .register_partial(&name, &source)
                        .map_err(syntax)?;
                    engine
                        .html
                        .register_partial(&name, &source)
                        .map_err(syntax)?;
                }
                Placement::Template { key, locale } => {
                    let registry = if is_html(&key) {
                        &mut engine.html
                    } else {
                        &mut engine.plain
                    };
                    registry
                        .register_template_string(&key, &source)
                        .map_err(syntax)?;
                    let loaded = Loaded {
                        file: path.clone(),
                        locale,
                        source,
                    };
                    engine.files.insert(key, loaded);
                }
                Placement::Schema { key, .. } => {
                    let parsed = Schema::parse(&source).map_err(|e| TemplateError::Schema {
                        path: path.clone(),
                        line: e.line,
                        column: e.column,
                        message: e.message,
                    })?;
                    engine.schemas.insert(key, (source, parsed));
                }
            }
        }
        Ok(engine)
    }

    /// Sets the last step of the fallback chain (`default/<locale>`); `en` unless changed.
    pub fn with_default_locale(mut self, locale: &str) -> TemplateEngine {
        self.default_locale = lookup::normalize_locale(locale);
        self
    }

    /// The template keys loaded, e.g. `default/en/message` (sorted).
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.files.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    /// Renders `name` for a channel and locale, resolving through the fallback chain.
    /// `data` must be a JSON object (or null); `locale` in it is set to the resolved
    /// template's locale directory (see [`helpers`]).
    pub fn render(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<Rendered, TemplateError> {
        let Some(key) = self.resolve(channel, locale, name) else {
            return Err(TemplateError::UnknownTemplate {
                name: name.to_owned(),
                tried: lookup::chain(channel, locale, name, &self.default_locale),
            });
        };
        self.render_key(key, data)
    }

    /// Renders the loaded template `key` (e.g. `default/en/message`), without the fallback
    /// chain. `locale` in the data is set to its locale directory.
    pub fn render_key(
        &self,
        key: &str,
        data: &serde_json::Value,
    ) -> Result<Rendered, TemplateError> {
        let Some((key, loaded)) = self.files.get_key_value(key) else {
            return Err(TemplateError::UnknownTemplate {
                name: key.to_owned(),
                tried: vec![key.to_owned()],
            });
        };
        let data = with_locale(data, &loaded.locale)?;
        let html = is_html(key);
        let registry = if html { &self.html } else { &self.plain };
        let text = registry
            .render(key, &data)
            .map_err(|e| render_error(key, e))?;
        Ok(Rendered {
            text,
            template: key.clone(),
            file: loaded.file.clone(),
            locale: loaded.locale.clone(),
            html,
        })
    }

    /// Renders template text that is not loaded (an unsaved draft) as if it were the
    /// template `key` (`<channel>/<locale>/<name>`): same helpers, partials, strict mode and
    /// escaping (HTML for a `*.html` name), `locale` set to the key's locale directory.
    /// Errors name `key`.
    pub fn render_source(
        &self,
        key: &str,
        source: &str,
        data: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let locale = key.split('/').nth(1).unwrap_or(&self.default_locale);
        let data = with_locale(data, locale)?;
        let registry = if is_html(key) {
            &self.html
        } else {
            &self.plain
        };
        registry
            .render_template(source, &data)
            .map_err(|e| render_error(key, e))
    }

    /// The key of the loaded template the fallback chain picks for `name` on `channel` in
    /// `locale` (e.g. `default/en/payment_request`), if any.
    pub fn resolve(&self, channel: &str, locale: &str, name: &str) -> Option<&str> {
        lookup::chain(channel, locale, name, &self.default_locale)
            .iter()
            .find_map(|k| self.files.get_key_value(k))
            .map(|(key, _)| key.as_str())
    }

    /// The text of the loaded template `key`.
    pub fn source(&self, key: &str) -> Option<&str> {
        self.files.get(key).map(|loaded| loaded.source.as_str())
    }

    /// The last step of the fallback chain (`default/<locale>`).
    pub fn default_locale(&self) -> &str {
        &self.default_locale
    }

    /// The declared variables of template `name` (a base name such as `payment_request`, not
    /// a part such as `payment_request.txt`) for `channel` and `locale`: the first
    /// `<name>.schema.json` along the fallback chain, with its key
    /// (`<channel>/<locale>/<name>`).
    pub fn schema(&self, channel: &str, locale: &str, name: &str) -> Option<(&str, &Schema)> {
        lookup::chain(channel, locale, name, &self.default_locale)
            .iter()
            .find_map(|k| self.schemas.get_key_value(k))
            .map(|(key, (_, schema))| (key.as_str(), schema))
    }

    /// The text of the sidecar loaded for `key` (`<channel>/<locale>/<name>`).
    pub fn schema_source(&self, key: &str) -> Option<&str> {
        self.schemas.get(key).map(|(source, _)| source.as_str())
    }

    /// The sample data of template `name` for `channel` and `locale`: the examples of its
    /// declared variables ([`Schema::sample_data`]); an empty object without a sidecar.
    pub fn sample_data(&self, channel: &str, locale: &str, name: &str) -> serde_json::Value {
        self.schema(channel, locale, name).map_or_else(
            || serde_json::Value::Object(serde_json::Map::new()),
            |(_, schema)| schema.sample_data(),
        )
    }
}

/// `data` (an object or null) with `locale` set.
fn with_locale(
    data: &serde_json::Value,
    locale: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, TemplateError> {
    let mut data = match data {
        serde_json::Value::Object(map) => map.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        _ => return Err(TemplateError::InvalidData),
    };
    data.insert("locale".to_owned(), locale.into());
    Ok(data)
}

/// `*.html` names (files `*.html.hbs`) are HTML-escaped; everything else is plain text.
pub fn is_html(name: &str) -> bool {
    name.ends_with(".html")
}

fn registry(html: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    if html {
        hb.register_escape_fn(handlebars::html_escape);
    } else {
        hb.register_escape_fn(handlebars::no_escape);
    }
    helpers::register(&mut hb);
    hb
}

fn render_error(key: &str, e: handlebars::RenderError) -> TemplateError {
    let line = e.line_no;
    match e.reason() {
        RenderErrorReason::MissingVariable(variable) => TemplateError::MissingVariable {
            template: key.to_owned(),
            variable: variable.clone().unwrap_or_default(),
            line,
        },
        reason => TemplateError::Render {
            template: key.to_owned(),
            message: reason.to_string(),
            line,
        },
    }
}

/// Whether a file is a template file: `*.hbs` or a `*.schema.json` sidecar.
pub(crate) fn is_template_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "hbs")
        || path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(schema::SCHEMA_SUFFIX))
}

/// Every template file (`*.hbs`, `*.schema.json`) under `dir`, recursively, sorted.
pub(crate) fn template_files(dir: &Path) -> Result<Vec<PathBuf>, TemplateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TemplateError::Io { path, source }
    };
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).map_err(io(&current))? {
            let path = entry.map_err(io(&current))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_template_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod preview_tests;
