//! Validation of a templates tree without loading it: layout, syntax, unknown helpers, and
//! the `.schema.json` sidecars (valid, and next to a template of their name).
//!
//! [`check_merged`] checks what the bridge runs with (embedded defaults + `templates.dir`),
//! [`check_dir`] one tree alone. Each reports every problem it finds (it does not stop at the
//! first), each with file and, where known, line and column, printed as
//! `path:line:column: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use handlebars::template::{
    DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
};

use super::lookup::Placement;
use super::schema::Schema;
use super::{TemplateError, TemplateFile, helpers, lookup, source, template_files};

/// One problem found in a templates tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// The file (the directory itself if it could not be read).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks every template file under `dir`: placement, handlebars syntax, helper calls to
/// helpers that are neither built in nor registered by omnibridge, and sidecars (see
/// [`check_files`]). An empty result means clean.
pub fn check_dir(dir: &Path) -> Vec<TemplateProblem> {
    let (files, mut problems) = read_dir(dir);
    problems.extend(check_files(&files));
    problems
}

/// Checks the set the bridge runs with: the embedded shipped templates overridden file by
/// file by `dir` when it exists (see [`source::merged`]).
pub fn check_merged(dir: &Path) -> Vec<TemplateProblem> {
    let (overrides, mut problems) = if dir.is_dir() {
        read_dir(dir)
    } else {
        (Vec::new(), Vec::new())
    };
    problems.extend(check_files(&source::overlay(source::embedded(), overrides)));
    problems
}

/// The template files under `dir` that could be read, and a problem for each that could not.
fn read_dir(dir: &Path) -> (Vec<TemplateFile>, Vec<TemplateProblem>) {
    let paths = match template_files(dir) {
        Ok(paths) => paths,
        Err(e) => {
            let file = match &e {
                TemplateError::Io { path, .. } => path.clone(),
                _ => dir.to_path_buf(),
            };
            let problem = TemplateProblem {
                file,
                line: None,
                column: None,
                message: e.to_string(),
            };
            return (Vec::new(), vec![problem]);
        }
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(source) => files.push(TemplateFile {
                relative: path.strip_prefix(dir).unwrap_or(&path).to_path_buf(),
                origin: path,
                source,
            }),
            Err(e) => problems.push(TemplateProblem {
                file: path,
                line: None,
                column: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    (files, problems)
}

/// Checks `files`: placement, handlebars syntax and unknown helpers of `.hbs` files; each
/// `.schema.json` sidecar parses ([`Schema::parse`]) and sits next to a template of its name
/// (`<name>.hbs` or a part such as `<name>.txt.hbs`).
pub fn check_files(files: &[TemplateFile]) -> Vec<TemplateProblem> {
    let mut problems = Vec::new();
    let placed: Vec<Option<Placement>> = files
        .iter()
        .map(|file| lookup::place(&file.relative).ok())
        .collect();
    let template_keys: Vec<&str> = placed
        .iter()
        .filter_map(|p| match p {
            Some(Placement::Template { key, .. }) => Some(key.as_str()),
            _ => None,
        })
        .collect();
    for (file, placement) in files.iter().zip(&placed) {
        let problem = |line, column, message| TemplateProblem {
            file: file.origin.clone(),
            line,
            column,
            message,
        };
        if let Err(message) = lookup::place(&file.relative) {
            problems.push(problem(None, None, message));
        }
        if let Some(Placement::Schema { key, .. }) = placement {
            if let Err(e) = Schema::parse(&file.source) {
                problems.push(problem(Some(e.line), Some(e.column), e.message));
            }
            let part_prefix = format!("{key}.");
            if !template_keys
                .iter()
                .any(|t| *t == key || t.starts_with(&part_prefix))
            {
                problems.push(problem(
                    None,
                    None,
                    format!("no template {key} next to this schema"),
                ));
            }
            continue;
        }
        if file.relative.extension().is_none_or(|e| e != "hbs") {
            // A misplaced sidecar, reported above; it is not handlebars.
            continue;
        }
        match Template::compile(&file.source) {
            Err(e) => {
                let (line, column) = e.pos().unzip();
                problems.push(problem(
                    line,
                    column,
                    format!("syntax error: {}", e.reason()),
                ));
            }
            Ok(template) => {
                let mut unknown = Vec::new();
                walk(&template, &mut unknown);
                for (name, line, column) in unknown {
                    let message = format!("unknown helper {name:?}");
                    problems.push(problem(Some(line), Some(column), message));
                }
            }
        }
    }
    problems
}

/// Collects `(helper name, line, column)` for unknown helper calls in a template.
fn walk(template: &Template, unknown: &mut Vec<(String, usize, usize)>) {
    for (i, element) in template.elements.iter().enumerate() {
        let (line, column) = template.mapping.get(i).map_or((0, 0), |m| (m.0, m.1));
        match element {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                helper(h, false, line, column, unknown);
            }
            TemplateElement::HelperBlock(h) => helper(h, true, line, column, unknown),
            TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d)
            | TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d) => decorator(d, line, column, unknown),
            _ => {}
        }
    }
}

/// `{{name}}` alone is a variable; with parameters, a hash or as a block it is a helper call.
fn helper(
    h: &HelperTemplate,
    block: bool,
    line: usize,
    column: usize,
    unknown: &mut Vec<(String, usize, usize)>,
) {
    let is_call = block || !h.params.is_empty() || !h.hash.is_empty();
    if let (true, Parameter::Name(name)) = (is_call, &h.name)
        && !helpers::is_known(name)
    {
        unknown.push((name.clone(), line, column));
    }
    params(
        h.params.iter().chain(h.hash.values()),
        line,
        column,
        unknown,
    );
    for inner in [&h.template, &h.inverse].into_iter().flatten() {
        walk(inner, unknown);
    }
}

fn decorator(
    d: &DecoratorTemplate,
    line: usize,
    column: usize,
    unknown: &mut Vec<(String, usize, usize)>,
) {
    params(
        d.params.iter().chain(d.hash.values()),
        line,
        column,
        unknown,
    );
    if let Some(inner) = &d.template {
        walk(inner, unknown);
    }
}

/// Subexpressions `(name args)` are helper calls too.
fn params<'a>(
    params: impl Iterator<Item = &'a Parameter>,
    line: usize,
    column: usize,
    unknown: &mut Vec<(String, usize, usize)>,
) {
    for p in params {
        if let Parameter::Subexpression(sub) = p
            && let TemplateElement::Expression(h) = sub.element.as_ref()
        {
            let is_call = !h.params.is_empty() || !h.hash.is_empty();
            if let Some(name) = h.name.as_name()
                && is_call
                && !helpers::is_known(name)
            {
                unknown.push((name.to_owned(), line, column));
            }
            self::params(
                h.params.iter().chain(h.hash.values()),
                line,
                column,
                unknown,
            );
        }
    }
}
