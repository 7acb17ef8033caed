//! Validation of a templates tree without loading it: layout, syntax and unknown helpers.
//!
//! [`check_dir`] reports every problem it finds (it does not stop at the first), each with
//! file and, where known, line and column, printed as `path:line:column: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use handlebars::template::{
    DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
};

use super::{TemplateError, hbs_files, helpers, lookup};

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

/// Checks every `.hbs` file under `dir`: placement, handlebars syntax, and helper calls to
/// helpers that are neither built in nor registered by omnibridge. An empty result means clean.
pub fn check_dir(dir: &Path) -> Vec<TemplateProblem> {
    let files = match hbs_files(dir) {
        Ok(files) => files,
        Err(e) => {
            let file = match &e {
                TemplateError::Io { path, .. } => path.clone(),
                _ => dir.to_path_buf(),
            };
            return vec![TemplateProblem {
                file,
                line: None,
                column: None,
                message: e.to_string(),
            }];
        }
    };
    let mut problems = Vec::new();
    for file in files {
        let problem = |line, column, message| TemplateProblem {
            file: file.clone(),
            line,
            column,
            message,
        };
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        if let Err(message) = lookup::place(relative) {
            problems.push(problem(None, None, message));
        }
        let source = match std::fs::read_to_string(&file) {
            Ok(source) => source,
            Err(e) => {
                problems.push(problem(None, None, format!("cannot read: {e}")));
                continue;
            }
        };
        match Template::compile(&source) {
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
