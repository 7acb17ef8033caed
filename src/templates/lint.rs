//! Lint: problems in a template (saved or being edited), each with a stable code, a severity,
//! and the 1-based line and column of the offending token in the part's text.
//!
//! A template is a [`Draft`]: its directory (`default` or a channel kind), locale and name,
//! the text of its parts and its sidecar. Parts are named by what follows the name in the
//! file name: `""` for `<name>.hbs`, `subject`, `txt` and `html` for email's
//! `<name>.subject.hbs`, `<name>.txt.hbs` and `<name>.html.hbs` (see
//! [`crate::render::apply_variants`]).
//!
//! [`lint_source`] checks the text alone; [`lint`] adds what depends on the channels that use
//! the template (rendered with the sample data, fitted and shown as in
//! [`super::preview`]). Problems that are not about a part's text carry the pseudo-part
//! `schema` (the sidecar; line and column in its text) or `buttons` (the message's buttons;
//! the line is the button's 1-based index).
//!
//! # Codes
//! Errors: the message cannot be rendered or sent as meant. Warnings: it goes out, but
//! changed (split, truncated, buttons as a list or as text) or risky.
//!
//! | code | severity | what |
//! |---|---|---|
//! | `syntax` | error | the part is not valid handlebars |
//! | `unknown_part` | error | a part name other than `""`, `subject`, `txt`, `html` |
//! | `unknown_helper` | error | a helper call to a helper that is neither built in nor ours |
//! | `schema` | error | the sidecar is not valid ([`super::schema`]) |
//! | `undeclared_variable` | error | a top-level variable the sidecar does not declare (only with a sidecar) |
//! | `unused_required_variable` | warning | a required variable no part uses (not checked when a part calls a partial) |
//! | `unescaped_html` | warning | `{{{x}}}` or `{{& x}}` in the `html` part: data goes into the HTML unescaped |
//! | `missing_pay_action` | error | a `payment_request*` part with no `pay_url`/`confirm_url` and no Pay button to stand in (the `html` part always needs the link) |
//! | `render_error` | error | the part does not render with the sample data (a helper's error) |
//! | `missing_sample_value` | warning | a variable has no value in the sample data (declare an example), so the preview cannot render it |
//! | `text_too_long` | warning | the rendered text is over the channel's limit: it is split into several messages |
//! | `too_many_buttons` | warning | more buttons than the channel shows as buttons: a list (WhatsApp, past 3) or numbered text |
//! | `button_label_too_long` | warning | a label over the channel's length (WhatsApp: 20): cut, ending in `…` |
//! | `payload_too_long` | warning / error | Telegram: over 64 bytes of `callback_data`, stored server-side (warning); refused by the adapter (error) |
//! | `channel_refuses` | error | the adapter refuses the fitted message for another reason |
//! | `whatsapp_template_name` | error | the mapped approved template's name is over 512 characters or not `[a-z0-9_]` |
//! | `whatsapp_parameter_too_long` | error | a parameter of the mapped template is over 1,024 characters |
//! | `whatsapp_parameter_format` | error | a parameter of the mapped template has a newline, a tab or more than 4 spaces in a row |
//!
//! The WhatsApp template checks apply to channels whose profile maps the template to an
//! approved template for outside the 24-hour window (a `template_mappings` entry). Meta
//! documents 512 characters of lowercase letters, digits and `_` for template names, 1,024
//! characters for a template body, and refuses parameters with newlines, tabs or more than
//! four consecutive spaces (error 132018); no parameter can be longer than the body holds, so
//! 1,024 characters is the limit checked here.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::template::{
    BlockParam, DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
};
use omnibridge_sdk::{Button, ButtonAction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema::{self, Schema};
use super::{TemplateEngine, helpers, lookup};
use crate::channels::ChannelProfile;
use crate::payments::notify::PAY_ACTION_PREFIX;

/// The parts a template may have: `""` (`<name>.hbs`), and email's `subject`, `txt`, `html`.
pub const PARTS: &[&str] = &["", "subject", "txt", "html"];

/// The pseudo-part of problems in the sidecar.
pub const SCHEMA_PART: &str = "schema";
/// The pseudo-part of problems with the message's buttons.
pub const BUTTONS_PART: &str = "buttons";

/// Longest WhatsApp template name.
pub const WHATSAPP_TEMPLATE_NAME_MAX: usize = 512;
/// Longest WhatsApp template parameter checked (the longest template body).
pub const WHATSAPP_PARAMETER_MAX: usize = 1024;

/// The variables that carry the pay link of a payment request.
pub const PAY_LINK_VARIABLES: &[&str] = &["pay_url", "confirm_url"];

/// Every code lint reports, with its severity (`payload_too_long` is a warning when the
/// adapter stores the payload, an error when it refuses it).
pub const CODES: &[(&str, Severity)] = &[
    ("syntax", Severity::Error),
    ("unknown_part", Severity::Error),
    ("unknown_helper", Severity::Error),
    ("schema", Severity::Error),
    ("undeclared_variable", Severity::Error),
    ("unused_required_variable", Severity::Warning),
    ("unescaped_html", Severity::Warning),
    ("missing_pay_action", Severity::Error),
    ("render_error", Severity::Error),
    ("missing_sample_value", Severity::Warning),
    ("text_too_long", Severity::Warning),
    ("too_many_buttons", Severity::Warning),
    ("button_label_too_long", Severity::Warning),
    ("payload_too_long", Severity::Warning),
    ("channel_refuses", Severity::Error),
    ("whatsapp_template_name", Severity::Error),
    ("whatsapp_parameter_too_long", Severity::Error),
    ("whatsapp_parameter_format", Severity::Error),
];

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The message cannot be rendered or sent as meant.
    Error,
    /// It goes out, but changed or risky.
    Warning,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable snake_case code (see the module docs).
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The part (`""`, `subject`, `txt`, `html`) or pseudo-part (`schema`, `buttons`).
    pub part: String,
    /// 1-based line in the part's text (for `buttons`: the button's index).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong, for people.
    pub message: String,
    /// The channel kind the problem is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl Problem {
    /// A problem at a position.
    pub fn new(
        code: &'static str,
        severity: Severity,
        part: &str,
        (line, column): (usize, usize),
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            severity,
            part: part.to_owned(),
            line: u32::try_from(line.max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(column.max(1)).unwrap_or(u32::MAX),
            message: message.into(),
            channel: None,
        }
    }

    /// The same, about one channel.
    pub fn on(mut self, channel: &str) -> Self {
        self.channel = Some(channel.to_owned());
        self
    }
}

/// A template as saved or being edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// Its directory: `default` or a channel kind.
    #[serde(default = "default_dir")]
    pub channel: String,
    /// Its locale directory, e.g. `en`.
    pub locale: String,
    /// Its name, e.g. `payment_request`.
    pub name: String,
    /// Part name → text (see [`PARTS`]); parts left out are the saved files, if any.
    #[serde(default)]
    pub parts: BTreeMap<String, String>,
    /// The sidecar's text; `None`: the saved sidecar, if any.
    #[serde(default)]
    pub schema: Option<String>,
}

fn default_dir() -> String {
    lookup::DEFAULT_CHANNEL.to_owned()
}

impl Default for Draft {
    /// An unnamed template in `default/en`.
    fn default() -> Self {
        Self::new(lookup::DEFAULT_CHANNEL, "en", "")
    }
}

impl Draft {
    /// A draft of template `name` in `<channel>/<locale>/` with no unsaved text.
    pub fn new(channel: &str, locale: &str, name: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            locale: lookup::normalize_locale(locale),
            name: name.to_owned(),
            parts: BTreeMap::new(),
            schema: None,
        }
    }

    /// Sets the text of a part.
    pub fn with_part(mut self, part: &str, text: impl Into<String>) -> Self {
        self.parts.insert(part.to_owned(), text.into());
        self
    }

    /// Sets the sidecar's text.
    pub fn with_schema(mut self, text: impl Into<String>) -> Self {
        self.schema = Some(text.into());
        self
    }

    /// The key of a part: `<channel>/<locale>/<name>[.<part>]`.
    pub fn key(&self, part: &str) -> String {
        format!(
            "{}/{}/{}",
            self.channel,
            self.locale,
            part_name(&self.name, part)
        )
    }

    /// The key of the template (and its sidecar): `<channel>/<locale>/<name>`.
    pub fn base_key(&self) -> String {
        self.key("")
    }

    /// This draft, its locale normalised (`pt_br` → `pt-BR`), with the saved files filled in
    /// where it has no text of its own: every part saved in its directory, and the saved
    /// sidecar.
    pub fn with_saved(&self, engine: &TemplateEngine) -> Draft {
        let mut merged = self.clone();
        merged.locale = lookup::normalize_locale(&self.locale);
        for part in PARTS {
            if !merged.parts.contains_key(*part)
                && let Some(source) = engine.source(&merged.key(part))
            {
                merged.parts.insert((*part).to_owned(), source.to_owned());
            }
        }
        if merged.schema.is_none() {
            merged.schema = engine.schema_source(&merged.base_key()).map(str::to_owned);
        }
        merged
    }
}

/// The template name of a part: `payment_request` + `txt` → `payment_request.txt`.
pub fn part_name(name: &str, part: &str) -> String {
    if part.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{part}")
    }
}

/// Whether a template name is a payment request (the Pay action must be reachable).
pub fn is_payment_request(name: &str) -> bool {
    name.starts_with("payment_request")
}

/// Every check: [`lint_source`] on the draft with its saved files filled in
/// ([`Draft::with_saved`]), plus the checks of each channel of `profiles` that uses it
/// (see [`super::preview`]), rendered with `data` (default: the sidecar's examples) and
/// `buttons` (default: what the bridge adds, see [`super::preview::default_buttons`]).
pub fn lint(
    engine: &TemplateEngine,
    profiles: &[ChannelProfile],
    draft: &Draft,
    data: Option<&Value>,
    buttons: Option<&[Button]>,
) -> Vec<Problem> {
    let request = super::preview::PreviewRequest {
        draft: draft.clone(),
        channels: None,
        data: data.cloned(),
        buttons: buttons.map(<[Button]>::to_vec),
    };
    super::preview::preview(engine, profiles, &request).problems
}

/// The checks of the text alone: syntax, part names, helpers, declared variables, unescaped
/// HTML and the pay action. `buttons` are the message's buttons (`None`: those the bridge
/// adds, a Pay button for `payment_request`).
pub fn lint_source(draft: &Draft, buttons: Option<&[Button]>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let schema = match draft.schema.as_deref().map(Schema::parse) {
        None => None,
        Some(Ok(schema)) => Some(schema),
        Some(Err(e)) => {
            problems.push(Problem::new(
                "schema",
                Severity::Error,
                SCHEMA_PART,
                (e.line, e.column),
                format!(
                    "invalid {}{}: {}",
                    draft.name,
                    schema::SCHEMA_SUFFIX,
                    e.message
                ),
            ));
            None
        }
    };
    let mut used = BTreeSet::new();
    let mut uses_partial = false;
    for (part, text) in &draft.parts {
        if !PARTS.contains(&part.as_str()) {
            problems.push(Problem::new(
                "unknown_part",
                Severity::Error,
                part,
                (1, 1),
                format!("unknown part {part:?}: the parts are \"\" (the template), subject, txt and html"),
            ));
            continue;
        }
        let template = match Template::compile(text) {
            Ok(template) => template,
            Err(e) => {
                let position = e.pos().unwrap_or((1, 1));
                problems.push(Problem::new(
                    "syntax",
                    Severity::Error,
                    part,
                    position,
                    format!("syntax error: {}", e.reason()),
                ));
                continue;
            }
        };
        let mut found = Found::default();
        walk(&template, &mut vec![Scope::root()], &mut found);
        uses_partial |= found.partial;
        let at = |token: &Token| {
            locate(
                text,
                offset_of(text, token.line, token.column),
                &token.token,
            )
        };
        for call in &found.unknown_helpers {
            problems.push(Problem::new(
                "unknown_helper",
                Severity::Error,
                part,
                at(call),
                format!("unknown helper {:?}", call.token),
            ));
        }
        for reference in &found.variables {
            if let Some(schema) = &schema
                && !schema.declares(&reference.name)
            {
                problems.push(Problem::new(
                    "undeclared_variable",
                    Severity::Error,
                    part,
                    at(&reference.token),
                    format!(
                        "variable {:?} is not declared in {}{}",
                        reference.name,
                        draft.name,
                        schema::SCHEMA_SUFFIX
                    ),
                ));
            }
        }
        if part == "html" {
            for raw in &found.unescaped {
                problems.push(Problem::new(
                    "unescaped_html",
                    Severity::Warning,
                    part,
                    at(raw),
                    format!(
                        "{{{{{{{}}}}}}} inserts data into the HTML unescaped: use {{{{{}}}}} unless the value is HTML you trust",
                        raw.token, raw.token
                    ),
                ));
            }
        }
        let names: BTreeSet<&str> = found.variables.iter().map(|v| v.name.as_str()).collect();
        if is_payment_request(&draft.name)
            && part != "subject"
            && !PAY_LINK_VARIABLES.iter().any(|v| names.contains(v))
            && (part == "html" || !has_pay_button(&draft.name, buttons))
        {
            let why = if part == "html" {
                "the HTML part shows no buttons"
            } else {
                "the message has no Pay button"
            };
            problems.push(Problem::new(
                "missing_pay_action",
                Severity::Error,
                part,
                (1, 1),
                format!("{why}, and the text has no pay link: use {{{{pay_url}}}} or {{{{confirm_url}}}}"),
            ));
        }
        used.extend(found.variables.into_iter().map(|v| v.name));
    }
    if let (Some(schema), false) = (&schema, uses_partial) {
        let source = draft.schema.as_deref().unwrap_or_default();
        for (name, variable) in &schema.variables {
            if variable.required && !used.contains(name) {
                problems.push(Problem::new(
                    "unused_required_variable",
                    Severity::Warning,
                    SCHEMA_PART,
                    schema::key_position(source, name).unwrap_or((1, 1)),
                    format!("required variable {name:?} is not used by any part"),
                ));
            }
        }
    }
    problems
}

/// Whether the message carries a Pay button: the given buttons, or, by default, those the
/// bridge adds (`payment_request` gets Pay and Cancel, see
/// [`crate::payments::notify::payment_request_buttons`]).
fn has_pay_button(name: &str, buttons: Option<&[Button]>) -> bool {
    match buttons {
        Some(buttons) => buttons.iter().any(
            |b| matches!(&b.action, ButtonAction::Payload(p) if p.starts_with(PAY_ACTION_PREFIX)),
        ),
        None => name == "payment_request",
    }
}

/// The 1-based position of `token`, as a whole word, at or after byte `offset` of `text`
/// (where the element holding it starts), else of the element itself.
fn locate(text: &str, offset: usize, token: &str) -> (usize, usize) {
    let offset = offset.min(text.len());
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let at = text
        .get(offset..)
        .filter(|_| !token.is_empty())
        .and_then(|rest| {
            rest.match_indices(token)
                .map(|(i, _)| offset + i)
                .find(|&at| {
                    let before = text[..at].chars().next_back();
                    let after = text[at + token.len()..].chars().next();
                    !before.is_some_and(is_word) && !after.is_some_and(is_word)
                })
        })
        .unwrap_or(offset);
    schema::line_column(text, at)
}

/// The byte offset of a 1-based (line, column in characters) position in `text`.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match text[offset..].find('\n') {
            Some(newline) => offset += newline + 1,
            None => return text.len(),
        }
    }
    text[offset..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| offset + i)
}

/// A token found in a template: where its element starts and its text.
#[derive(Debug, Clone)]
struct Token {
    /// 1-based line and column of the element holding it.
    line: usize,
    column: usize,
    /// The token as written.
    token: String,
}

/// A top-level variable reference.
#[derive(Debug, Clone)]
struct Reference {
    /// The variable.
    name: String,
    /// Where it is used.
    token: Token,
}

#[derive(Debug, Default)]
struct Found {
    unknown_helpers: Vec<Token>,
    variables: Vec<Reference>,
    unescaped: Vec<Token>,
    partial: bool,
}

/// A context scope while walking: whether `this` is the root data, and block parameters.
#[derive(Debug, Clone)]
struct Scope {
    root: bool,
    locals: Vec<String>,
}

impl Scope {
    fn root() -> Self {
        Self {
            root: true,
            locals: Vec::new(),
        }
    }
}

/// The top-level variable a path names, if it names one: `amount`, `customer.name` →
/// `customer`, `@root.x` → `x`, `../x` from inside an `#each` → `x`; `this`, `@index` and
/// block parameters are not variables of the data.
fn top_level(raw: &str, scopes: &[Scope]) -> Option<String> {
    let first = |path: &str| {
        let name = path
            .split(['.', '/', '['])
            .next()
            .unwrap_or_default()
            .to_owned();
        (!name.is_empty() && name != "this").then_some(name)
    };
    if let Some(rest) = raw.strip_prefix("@root") {
        return first(rest.trim_start_matches(['.', '/']));
    }
    if raw.starts_with('@') {
        return None;
    }
    let mut path = raw;
    let mut up = 0;
    while let Some(rest) = path.strip_prefix("../") {
        up += 1;
        path = rest;
    }
    for prefix in ["this.", "this/", "./"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            path = rest;
        }
    }
    let name = first(path)?;
    let target = scopes.len().saturating_sub(1 + up);
    if scopes[target..]
        .iter()
        .any(|scope| scope.locals.contains(&name))
    {
        return None;
    }
    scopes.get(target).is_some_and(|s| s.root).then_some(name)
}

fn position(template: &Template, index: usize) -> (usize, usize) {
    template.mapping.get(index).map_or((1, 1), |m| (m.0, m.1))
}

fn walk(template: &Template, scopes: &mut Vec<Scope>, found: &mut Found) {
    for (index, element) in template.elements.iter().enumerate() {
        let (line, column) = position(template, index);
        match element {
            TemplateElement::Expression(h) => expression(h, line, column, scopes, found),
            TemplateElement::HtmlExpression(h) => {
                if let Some(token) = h.name.as_name() {
                    found.unescaped.push(Token {
                        line,
                        column,
                        token: token.to_owned(),
                    });
                }
                expression(h, line, column, scopes, found);
            }
            TemplateElement::HelperBlock(h) => block(h, line, column, scopes, found),
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                found.partial = true;
                decorator(d, line, column, scopes, found);
            }
            TemplateElement::DecoratorExpression(d) | TemplateElement::DecoratorBlock(d) => {
                decorator(d, line, column, scopes, found);
            }
            _ => {}
        }
    }
}

/// `{{name}}` alone is a variable; with parameters or a hash it is a helper call.
fn expression(h: &HelperTemplate, line: usize, column: usize, scopes: &[Scope], found: &mut Found) {
    let is_call = !h.params.is_empty() || !h.hash.is_empty();
    match &h.name {
        Parameter::Name(name) if is_call => helper_name(name, line, column, found),
        Parameter::Name(name) if helpers::is_known(name) => {}
        Parameter::Name(name) | Parameter::Path(handlebars::Path::Relative((_, name))) => {
            variable(name, line, column, scopes, found);
        }
        Parameter::Subexpression(_) => {
            params(std::iter::once(&h.name), line, column, scopes, found)
        }
        _ => {}
    }
    params(
        h.params.iter().chain(h.hash.values()),
        line,
        column,
        scopes,
        found,
    );
}

fn block(
    h: &HelperTemplate,
    line: usize,
    column: usize,
    scopes: &mut Vec<Scope>,
    found: &mut Found,
) {
    let name = h.name.as_name().unwrap_or_default();
    helper_name(name, line, column, found);
    params(
        h.params.iter().chain(h.hash.values()),
        line,
        column,
        scopes,
        found,
    );
    let locals = match &h.block_param {
        Some(BlockParam::Single(p)) => p.as_name().map(str::to_owned).into_iter().collect(),
        Some(BlockParam::Pair((a, b))) => [a, b]
            .into_iter()
            .filter_map(|p| p.as_name().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let changes_context = matches!(name, "each" | "with");
    let inherited = scopes.last().is_some_and(|s| s.root);
    if let Some(inner) = &h.template {
        scopes.push(Scope {
            root: inherited && !changes_context,
            locals,
        });
        walk(inner, scopes, found);
        scopes.pop();
    }
    if let Some(inverse) = &h.inverse {
        walk(inverse, scopes, found);
    }
}

fn decorator(
    d: &DecoratorTemplate,
    line: usize,
    column: usize,
    scopes: &mut Vec<Scope>,
    found: &mut Found,
) {
    params(
        d.params.iter().chain(d.hash.values()),
        line,
        column,
        scopes,
        found,
    );
    if let Some(inner) = &d.template {
        walk(inner, scopes, found);
    }
}

fn helper_name(name: &str, line: usize, column: usize, found: &mut Found) {
    if !helpers::is_known(name) {
        found.unknown_helpers.push(Token {
            line,
            column,
            token: name.to_owned(),
        });
    }
}

fn variable(raw: &str, line: usize, column: usize, scopes: &[Scope], found: &mut Found) {
    if let Some(name) = top_level(raw, scopes) {
        found.variables.push(Reference {
            name,
            token: Token {
                line,
                column,
                token: raw.to_owned(),
            },
        });
    }
}

/// Parameters and hash values: paths are variables, subexpressions helper calls.
fn params<'a>(
    params: impl Iterator<Item = &'a Parameter>,
    line: usize,
    column: usize,
    scopes: &[Scope],
    found: &mut Found,
) {
    for p in params {
        match p {
            Parameter::Path(handlebars::Path::Relative((_, raw))) => {
                variable(raw, line, column, scopes, found);
            }
            Parameter::Path(_) => {}
            Parameter::Name(name) => variable(name, line, column, scopes, found),
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(h) = sub.element.as_ref() {
                    expression(h, line, column, scopes, found);
                }
            }
            _ => {}
        }
    }
}
