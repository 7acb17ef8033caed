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
//! Resolution follows the chain in [`lookup`]; [`Rendered`] says which file won.
//! Helpers are in [`helpers`] (`money`), and [`check`] validates a tree without loading it.
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
pub mod lookup;
pub mod source;
pub mod versions;

use lookup::Placement;
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

/// Loaded templates, ready to render. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct TemplateEngine {
    plain: Handlebars<'static>,
    html: Handlebars<'static>,
    files: HashMap<String, (PathBuf, String)>,
    default_locale: String,
}

impl TemplateEngine {
    /// Loads every `.hbs` file under `dir` (other files are ignored), and nothing else. Fails
    /// on the first unreadable, misplaced or unparsable file.
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
                    engine.files.insert(key, (path.clone(), locale));
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
        let tried = lookup::chain(channel, locale, name, &self.default_locale);
        let Some((key, (file, file_locale))) =
            tried.iter().find_map(|k| self.files.get_key_value(k))
        else {
            return Err(TemplateError::UnknownTemplate {
                name: name.to_owned(),
                tried,
            });
        };
        let mut data = match data {
            serde_json::Value::Object(map) => map.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            _ => return Err(TemplateError::InvalidData),
        };
        data.insert("locale".to_owned(), file_locale.clone().into());
        let html = is_html(key);
        let registry = if html { &self.html } else { &self.plain };
        let text = registry
            .render(key, &data)
            .map_err(|e| render_error(key, e))?;
        Ok(Rendered {
            text,
            template: key.clone(),
            file: file.clone(),
            locale: file_locale.clone(),
            html,
        })
    }
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

/// Every `*.hbs` file under `dir`, recursively, sorted.
pub(crate) fn hbs_files(dir: &Path) -> Result<Vec<PathBuf>, TemplateError> {
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
            } else if path.extension().is_some_and(|e| e == "hbs") {
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
