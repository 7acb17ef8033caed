//! Preview: what the customer sees of a template on each channel, saved or being edited.
//!
//! For each channel profile (webchat, whatsapp, telegram, email, or the configured channels,
//! see [`ChannelProfile`]) the template is resolved along the fallback chain as the bridge
//! would (a `default/` template serves every channel without its own; the draft's unsaved
//! parts stand in for the files at its key), rendered with the data (default: the sidecar's
//! examples), then, as on the way out:
//!
//! 1. channels with HTML formatting (email) take the `txt`, `subject` and `html` parts where
//!    they exist ([`crate::render::apply_variants`]);
//! 2. the text and buttons are fitted to the channel's capabilities
//!    ([`crate::channels::shape::fit`]: split at its text limit, buttons kept, cut, or turned
//!    into numbered text);
//! 3. each fitted message is planned by the adapter ([`ChannelProfile::present`]: WhatsApp
//!    reply buttons or a list; Telegram text escaped for its parse mode);
//! 4. on a channel with a reply window (WhatsApp), the approved template standing in outside
//!    it, filled, or a note that the message cannot go out there without one.
//!
//! Buttons default to those the bridge adds: `payment_request` gets Pay and Cancel, labelled
//! from `payment_pay_button` and `payment_cancel_button` ([`default_buttons`]).
//!
//! The result carries the lint problems of the template ([`super::lint`]).

use std::collections::BTreeMap;

use handlebars::template::Template;
use omnibridge_sdk::{
    Button, ButtonAction, ConversationRef, Formatting, OutboundId, OutboundMessage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lint::{self, BUTTONS_PART, Draft, PARTS, Problem, Severity, part_name};
use super::schema::Schema;
use super::{TemplateEngine, TemplateError, lookup};
use crate::channels::profile::{ButtonsAs, ChannelProfile, Shown, WindowTemplate};
use crate::channels::shape;
use crate::money::Money;
use crate::payments::notify::payment_request_buttons;

/// What to preview.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The template: its directory, locale and name, and any unsaved text.
    pub draft: Draft,
    /// Only these channel kinds (default: every profile).
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// The template data (default: the examples of the sidecar each channel resolves).
    #[serde(default)]
    pub data: Option<Value>,
    /// The message's buttons (default: [`default_buttons`]).
    #[serde(default)]
    pub buttons: Option<Vec<Button>>,
}

impl PreviewRequest {
    /// A preview of `draft` on every channel with the default data and buttons.
    pub fn new(draft: Draft) -> Self {
        Self {
            draft,
            ..Self::default()
        }
    }
}

/// A template as each channel shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// The template's directory (`default` or a channel kind).
    pub channel: String,
    /// Its locale.
    pub locale: String,
    /// Its name.
    pub name: String,
    /// One entry per channel previewed.
    pub channels: Vec<ChannelPreview>,
    /// Lint problems of the template, on the channels that use it.
    pub problems: Vec<Problem>,
}

/// What the customer sees on one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelPreview {
    /// The channel kind.
    pub channel: String,
    /// Whether this channel uses the previewed template (rather than one of its own, or one
    /// of another locale).
    pub uses_template: bool,
    /// The template key used for each part (`""`, and for email `subject`, `txt`, `html`),
    /// e.g. `"": "default/en/payment_request"`.
    pub files: BTreeMap<String, String>,
    /// The data rendered with.
    pub data: Value,
    /// The messages, in sending order.
    pub messages: Vec<Shown>,
    /// Channels with HTML formatting (email): the subject and the two bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailPreview>,
    /// Channels with a reply window (WhatsApp): what goes out once it has closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_window: Option<OutsideWindow>,
    /// Why nothing can be shown (the template does not render, the channel refuses it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An email's parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailPreview {
    /// The subject (first non-empty line of the `subject` part), if there is one.
    pub subject: Option<String>,
    /// The plain-text body (the `txt` part, else the template; buttons as numbered text).
    pub text: String,
    /// The HTML body (the `html` part), if there is one; without it the adapter derives one
    /// from the text.
    pub html: Option<String>,
}

/// A message outside the reply window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutsideWindow {
    /// The approved template sent instead, filled, when one is mapped.
    #[serde(flatten)]
    pub template: Option<WindowTemplate>,
    /// Otherwise, why the message cannot go out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Previews `request` on each of `profiles` (filtered by `request.channels`), with the lint
/// problems of the draft ([`lint::lint_source`] on the draft with its saved files, plus the
/// channel checks of each channel that uses it).
pub fn preview(
    engine: &TemplateEngine,
    profiles: &[ChannelProfile],
    request: &PreviewRequest,
) -> Preview {
    let draft = request.draft.with_saved(engine);
    let view = View {
        engine,
        draft: &draft,
    };
    let mut problems = lint::lint_source(&draft, request.buttons.as_deref());
    let broken: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| p.part.clone())
        .collect();
    let mut channels = Vec::new();
    for profile in profiles {
        if let Some(only) = &request.channels
            && !only.contains(&profile.kind)
        {
            continue;
        }
        let (channel, channel_problems) = preview_channel(&view, profile, request);
        channels.push(channel);
        for problem in channel_problems {
            // A part that does not parse, or calls an unknown helper or variable, is reported
            // as such; that it does not render either says nothing more.
            let explained = problem.code == "render_error" && broken.contains(&problem.part);
            if !explained {
                add(&mut problems, problem);
            }
        }
    }
    problems.sort_by(|a, b| {
        (a.severity, &a.part, a.line, a.column).cmp(&(b.severity, &b.part, b.line, b.column))
    });
    Preview {
        channel: draft.channel.clone(),
        locale: draft.locale.clone(),
        name: draft.name.clone(),
        channels,
        problems,
    }
}

/// Adds a channel's problem; the same problem on another channel is kept once, for all.
fn add(problems: &mut Vec<Problem>, problem: Problem) {
    let same = |p: &Problem| {
        p.code == problem.code
            && p.part == problem.part
            && p.line == problem.line
            && p.column == problem.column
            && p.message == problem.message
    };
    match problems.iter_mut().find(|p| same(p)) {
        Some(existing) => existing.channel = None,
        None => problems.push(problem),
    }
}

/// The buttons the bridge adds to a message of template `name`: for `payment_request`, Pay
/// and Cancel (payloads `pay:<intent_id>`, `cancel:<intent_id>` from `data`), labelled from
/// the `payment_pay_button` and `payment_cancel_button` templates of the `default`
/// directory, as [`crate::payments::notify`] does; none for other templates.
pub fn default_buttons(
    engine: &TemplateEngine,
    locale: &str,
    name: &str,
    data: &Value,
) -> Vec<Button> {
    let draft = Draft::new(lookup::DEFAULT_CHANNEL, locale, name);
    View {
        engine,
        draft: &draft,
    }
    .default_buttons(locale, name, data)
}

/// The engine with a draft's parts standing in for the files at its keys.
struct View<'a> {
    engine: &'a TemplateEngine,
    draft: &'a Draft,
}

/// A part that failed to render.
struct Failure {
    /// The part (`""`, `txt`…).
    part: &'static str,
    /// The template key that failed.
    key: String,
    /// Why.
    error: TemplateError,
}

/// A template rendered for one channel, as [`crate::render`] does it.
struct RenderedParts {
    files: BTreeMap<String, String>,
    text: String,
    /// The part the text came from (`""` or `txt`).
    text_part: &'static str,
    subject: Option<String>,
    html: Option<String>,
}

impl View<'_> {
    /// The draft's text for `key`, if the key is one of its parts.
    fn draft_text(&self, key: &str) -> Option<&str> {
        self.draft
            .parts
            .iter()
            .find(|(part, _)| self.draft.key(part) == key)
            .map(|(_, text)| text.as_str())
    }

    /// The key the fallback chain picks for `name` (a part name) on `channel`.
    fn find(&self, channel: &str, locale: &str, name: &str) -> Option<String> {
        lookup::chain(channel, locale, name, self.engine.default_locale())
            .into_iter()
            .find(|key| self.draft_text(key).is_some() || self.engine.source(key).is_some())
    }

    /// Renders template `name` (a part name) for `channel`: `None` when no file on the
    /// chain exists.
    fn render(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &Value,
    ) -> Result<Option<(String, String)>, (String, TemplateError)> {
        let Some(key) = self.find(channel, locale, name) else {
            return Ok(None);
        };
        let rendered = match self.draft_text(&key) {
            Some(text) => self.engine.render_source(&key, text, data),
            None => self.engine.render_key(&key, data).map(|r| r.text),
        };
        match rendered {
            Ok(text) => Ok(Some((key, text))),
            Err(error) => Err((key, error)),
        }
    }

    /// The declared variables of template `name` for `channel`: the draft's sidecar at its
    /// key, else the first saved one along the chain.
    fn schema(&self, channel: &str, locale: &str, name: &str) -> Option<Schema> {
        for key in lookup::chain(channel, locale, name, self.engine.default_locale()) {
            if key == self.draft.base_key()
                && let Some(text) = &self.draft.schema
            {
                return Schema::parse(text).ok();
            }
            if let Some(text) = self.engine.schema_source(&key) {
                return Schema::parse(text).ok();
            }
        }
        None
    }

    /// Renders the template for a channel with `formatting`, with its variants.
    fn render_parts(
        &self,
        channel: &str,
        formatting: Formatting,
        locale: &str,
        name: &str,
        data: &Value,
    ) -> Result<RenderedParts, Failure> {
        let fail = |part: &'static str| move |(key, error)| Failure { part, key, error };
        let Some((key, main)) = self.render(channel, locale, name, data).map_err(fail(""))? else {
            return Err(Failure {
                part: "",
                key: self.draft.base_key(),
                error: TemplateError::UnknownTemplate {
                    name: name.to_owned(),
                    tried: lookup::chain(channel, locale, name, self.engine.default_locale()),
                },
            });
        };
        let mut out = RenderedParts {
            files: BTreeMap::from([(String::new(), key)]),
            text: main.trim_end_matches(['\n', '\r']).to_owned(),
            text_part: "",
            subject: None,
            html: None,
        };
        if formatting != Formatting::Html {
            return Ok(out);
        }
        for part in ["txt", "subject", "html"] {
            let Some((key, text)) = self
                .render(channel, locale, &part_name(name, part), data)
                .map_err(fail(part))?
            else {
                continue;
            };
            out.files.insert(part.to_owned(), key);
            match part {
                "txt" => {
                    out.text = text.trim_end_matches(['\n', '\r']).to_owned();
                    out.text_part = "txt";
                }
                "subject" => {
                    out.subject = text
                        .lines()
                        .map(str::trim)
                        .find(|line| !line.is_empty())
                        .map(str::to_owned);
                }
                _ => out.html = Some(text),
            }
        }
        Ok(out)
    }

    fn default_buttons(&self, locale: &str, name: &str, data: &Value) -> Vec<Button> {
        if name != "payment_request" {
            return Vec::new();
        }
        let label = |template: &str| {
            self.render(lookup::DEFAULT_CHANNEL, locale, template, data)
                .ok()
                .flatten()
                .map(|(_, text)| text.trim_end_matches(['\n', '\r']).to_owned())
                .filter(|label| !label.trim().is_empty())
        };
        let amount = data
            .get("amount")
            .and_then(Value::as_i64)
            .zip(data.get("currency").and_then(Value::as_str))
            .and_then(|(minor, currency)| Money::new(minor, currency).ok())
            .map(|money| format!("Pay {}", money.format(locale)));
        let pay = label("payment_pay_button")
            .or(amount)
            .unwrap_or_else(|| "Pay".to_owned());
        let cancel = label("payment_cancel_button").unwrap_or_else(|| "Cancel".to_owned());
        let intent_id = data
            .get("intent_id")
            .and_then(Value::as_str)
            .unwrap_or("payint_preview");
        payment_request_buttons(pay, cancel, intent_id)
    }
}

/// One channel's preview and its problems (only when it uses the draft).
fn preview_channel(
    view: &View<'_>,
    profile: &ChannelProfile,
    request: &PreviewRequest,
) -> (ChannelPreview, Vec<Problem>) {
    let draft = view.draft;
    let kind = profile.kind.as_str();
    let (locale, name) = (draft.locale.as_str(), draft.name.as_str());
    let caps = &profile.capabilities;
    let data = request.data.clone().unwrap_or_else(|| {
        view.schema(kind, locale, name)
            .map_or_else(|| Value::Object(Default::default()), |s| s.sample_data())
    });
    let parts: &[&str] = if caps.formatting == Formatting::Html {
        PARTS
    } else {
        &[""]
    };
    let uses_template = parts.iter().any(|part| {
        view.find(kind, locale, &part_name(name, part))
            .is_some_and(|key| key == draft.key(part))
    });
    let mut out = ChannelPreview {
        channel: kind.to_owned(),
        uses_template,
        files: BTreeMap::new(),
        data: data.clone(),
        messages: Vec::new(),
        email: None,
        outside_window: None,
        error: None,
    };
    let mut problems = Vec::new();
    let rendered = match view.render_parts(kind, caps.formatting, locale, name, &data) {
        Ok(rendered) => rendered,
        Err(failure) => {
            out.error = Some(failure.error.to_string());
            if let Some(problem) = render_problem(draft, &failure) {
                problems.push(problem.on(kind));
            }
            return (out, if uses_template { problems } else { Vec::new() });
        }
    };
    out.files = rendered.files.clone();
    let buttons = request
        .buttons
        .clone()
        .unwrap_or_else(|| view.default_buttons(locale, name, &data));
    let id = OutboundId::new("preview");
    let conversation = ConversationRef::new("preview", "preview");
    let fitted = shape::fit(&id, &conversation, &rendered.text, &buttons, caps);
    let numbered = shape::numbers_buttons(&buttons, caps);
    for mut message in fitted.iter().cloned() {
        message.template = Some(name.to_owned());
        message.template_data = Some(data.clone());
        match profile.present(&message) {
            Ok(shown) => out.messages.extend(shown),
            Err(refusal) => {
                let code = if refusal.code == "button_payload_too_long" {
                    "payload_too_long"
                } else {
                    "channel_refuses"
                };
                problems.push(
                    Problem::new(
                        code,
                        Severity::Error,
                        BUTTONS_PART,
                        (1, 1),
                        format!("{kind} refuses the message: {}", refusal.message),
                    )
                    .on(kind),
                );
                out.error = Some(refusal.message);
            }
        }
    }
    if numbered && let Some(last) = out.messages.last_mut() {
        last.buttons_as = Some(ButtonsAs::NumberedText);
    }
    if caps.formatting == Formatting::Html {
        out.email = Some(EmailPreview {
            subject: rendered.subject.clone(),
            text: fitted
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            html: rendered.html.clone(),
        });
    }
    if profile.has_reply_window() {
        let mut whole = OutboundMessage::text(id, conversation, rendered.text.clone())
            .with_buttons(buttons.clone());
        whole.template = Some(name.to_owned());
        whole.template_data = Some(data.clone());
        let template = profile.window_template(&whole);
        if let Some(template) = &template {
            problems.extend(window_problems(kind, template));
        }
        let note = template.is_none().then(|| {
            let hours = caps.reply_window.map_or(0, |w| w.as_secs() / 3600);
            format!(
                "outside the {hours}-hour reply window this message cannot be sent: no approved \
                 {kind} template is mapped to {name:?}"
            )
        });
        out.outside_window = Some(OutsideWindow { template, note });
    }
    problems.extend(fit_problems(
        profile,
        &rendered,
        fitted.len(),
        &buttons,
        &out.messages,
    ));
    (out, if uses_template { problems } else { Vec::new() })
}

/// A render failure in one of the draft's parts (a failure in another file is that file's
/// problem, shown as the channel's error). Parts with a syntax error are left to lint.
fn render_problem(draft: &Draft, failure: &Failure) -> Option<Problem> {
    if failure.key != draft.key(failure.part) {
        return None;
    }
    let text = draft.parts.get(failure.part)?;
    if Template::compile(text).is_err() {
        return None;
    }
    let (line, token) = match &failure.error {
        TemplateError::MissingVariable { line, variable, .. } => (*line, Some(variable.as_str())),
        TemplateError::Render { line, .. } => (*line, None),
        _ => (None, None),
    };
    let line = line.unwrap_or(1);
    // A variable without a value in the sample data: strict mode fails the render, but with
    // real data the template may well work. Lint says how to get a real preview.
    let missing = matches!(failure.error, TemplateError::MissingVariable { .. });
    let column = token
        .and_then(|token| text.lines().nth(line.saturating_sub(1))?.find(token))
        .map_or(1, |at| {
            text.lines()
                .nth(line.saturating_sub(1))
                .map_or(1, |l| l[..at].chars().count() + 1)
        });
    if missing {
        return Some(Problem::new(
            "missing_sample_value",
            Severity::Warning,
            failure.part,
            (line, column),
            format!(
                "no value for `{}` in the sample data, so the preview cannot render it; declare \
                 it with an example in the template's .schema.json or give it in the data",
                token.unwrap_or_default()
            ),
        ));
    }
    Some(Problem::new(
        "render_error",
        Severity::Error,
        failure.part,
        (line, column),
        format!("does not render with the sample data: {}", failure.error),
    ))
}

/// Checks of the fitted message: split text, buttons shown otherwise, cut labels, payloads.
fn fit_problems(
    profile: &ChannelProfile,
    rendered: &RenderedParts,
    parts: usize,
    buttons: &[Button],
    shown: &[Shown],
) -> Vec<Problem> {
    let kind = profile.kind.as_str();
    let caps = &profile.capabilities;
    let mut problems = Vec::new();
    if let Some(limit) = caps.max_text_chars
        && parts > 1
    {
        let chars = rendered.text.chars().count();
        problems.push(
            Problem::new(
                "text_too_long",
                Severity::Warning,
                rendered.text_part,
                (1, 1),
                format!(
                    "the text renders to {chars} characters with the sample data; {kind} takes \
                     at most {limit} per message: it is sent as {parts} messages"
                ),
            )
            .on(kind),
        );
    }
    if buttons.is_empty() {
        return problems;
    }
    let numbered = shape::numbers_buttons(buttons, caps);
    let as_list = shown.iter().any(|s| s.buttons_as == Some(ButtonsAs::List));
    if numbered || as_list {
        let shown_as = if numbered {
            "numbered text"
        } else {
            "a list the customer opens"
        };
        let limit = match caps.buttons {
            None => format!("{kind} shows no buttons"),
            Some(limits) if buttons.len() > limits.max_count => {
                format!("{kind} shows at most {} buttons", limits.max_count)
            }
            Some(_) if numbered => format!("{kind} has no URL buttons"),
            Some(_) => format!("{kind} shows fewer buttons"),
        };
        problems.push(
            Problem::new(
                "too_many_buttons",
                Severity::Warning,
                BUTTONS_PART,
                (1, 1),
                format!(
                    "{} buttons: {limit}; they are shown as {shown_as}",
                    buttons.len()
                ),
            )
            .on(kind),
        );
    }
    for (index, button) in buttons.iter().enumerate() {
        let line = (index + 1, 1);
        if let (Some(limits), false) = (caps.buttons, numbered) {
            let chars = button.label.chars().count();
            if chars > limits.max_label_chars {
                let cut: String = button
                    .label
                    .chars()
                    .take(limits.max_label_chars.saturating_sub(1))
                    .chain(['…'])
                    .collect();
                problems.push(
                    Problem::new(
                        "button_label_too_long",
                        Severity::Warning,
                        BUTTONS_PART,
                        line,
                        format!(
                            "button label {:?} has {chars} characters; {kind} shows at most {}: \
                             {cut:?}",
                            button.label, limits.max_label_chars
                        ),
                    )
                    .on(kind),
                );
            }
        }
        if let (Some(max), ButtonAction::Payload(payload), false) =
            (profile.inline_payload_bytes, &button.action, numbered)
            && payload.len() > max
        {
            problems.push(
                Problem::new(
                    "payload_too_long",
                    Severity::Warning,
                    BUTTONS_PART,
                    line,
                    format!(
                        "button payload of {} bytes; {kind} carries at most {max}: it is stored \
                         and the button carries a token",
                        payload.len()
                    ),
                )
                .on(kind),
            );
        }
    }
    problems
}

/// WhatsApp's rules for the approved template standing in outside the window.
fn window_problems(kind: &str, template: &WindowTemplate) -> Vec<Problem> {
    let mut problems = Vec::new();
    let name = &template.template_name;
    let name_ok = !name.is_empty()
        && name.chars().count() <= lint::WHATSAPP_TEMPLATE_NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        problems.push(
            Problem::new(
                "whatsapp_template_name",
                Severity::Error,
                "",
                (1, 1),
                format!(
                    "the approved template mapped to this one is named {name:?}: WhatsApp \
                     template names are 1 to {} lowercase letters, digits and _",
                    lint::WHATSAPP_TEMPLATE_NAME_MAX
                ),
            )
            .on(kind),
        );
    }
    for (index, parameter) in template.parameters.iter().enumerate() {
        let chars = parameter.value.chars().count();
        let number = index + 1;
        if chars > lint::WHATSAPP_PARAMETER_MAX {
            problems.push(
                Problem::new(
                    "whatsapp_parameter_too_long",
                    Severity::Error,
                    "",
                    (1, 1),
                    format!(
                        "parameter {number} ({}) of template {name:?} has {chars} characters \
                         with the sample data; WhatsApp takes at most {}",
                        parameter.component,
                        lint::WHATSAPP_PARAMETER_MAX
                    ),
                )
                .on(kind),
            );
        }
        if parameter.value.contains(['\n', '\t']) || parameter.value.contains("     ") {
            problems.push(
                Problem::new(
                    "whatsapp_parameter_format",
                    Severity::Error,
                    "",
                    (1, 1),
                    format!(
                        "parameter {number} ({}) of template {name:?} has a newline, a tab or \
                         more than 4 spaces in a row, which WhatsApp refuses",
                        parameter.component
                    ),
                )
                .on(kind),
            );
        }
    }
    problems
}
