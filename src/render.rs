//! Glue between the template engine and the places that render messages (the business API,
//! the payment engine): the [`Renderer`] trait they depend on, and [`TemplateRenderer`], its
//! implementation on the template engine.

use crate::templates::{TemplateEngine, TemplateError};
use omnibridge_sdk::{Capabilities, Formatting, OutboundMessage};

/// Renders a named template for a channel and locale (the template engine, behind a trait
/// so its users do not depend on handlebars).
pub trait Renderer: Send + Sync + 'static {
    /// The rendered text, or a client-facing reason why it could not be rendered.
    fn render(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<String, String>;

    /// Like [`render`](Renderer::render), but `Ok(None)` when no template of that name
    /// exists in the fallback chain (for optional variants such as `payment_request.html`).
    fn render_optional(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<Option<String>, String> {
        let _ = (channel, locale, name, data);
        Ok(None)
    }

    /// The locale used when a request names none.
    fn default_locale(&self) -> &str;
}

/// Renders named templates with the engine's fallback chain.
pub struct TemplateRenderer {
    engine: TemplateEngine,
    default_locale: String,
}

impl TemplateRenderer {
    /// Wraps a loaded engine.
    pub fn new(engine: TemplateEngine, default_locale: String) -> Self {
        Self {
            engine,
            default_locale,
        }
    }
}

impl Renderer for TemplateRenderer {
    fn render(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<String, String> {
        self.engine
            .render(channel, locale, name, data)
            // Template files end with a newline by convention; a chat message should not.
            .map(|rendered| rendered.text.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|error| error.to_string())
    }

    fn render_optional(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<Option<String>, String> {
        match self.engine.render(channel, locale, name, data) {
            Ok(rendered) => Ok(Some(rendered.text)),
            Err(TemplateError::UnknownTemplate { .. }) => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    fn default_locale(&self) -> &str {
        &self.default_locale
    }
}

/// For channels with HTML formatting (email), fills a templated message's other parts from
/// the template's variants, where they exist in the fallback chain: `<name>.txt` replaces the
/// text, `<name>.subject` (trimmed, first line) becomes the subject, `<name>.html` (HTML-escaped
/// data) the HTML part. Other channels are left as they are.
pub fn apply_variants(
    renderer: &dyn Renderer,
    capabilities: &Capabilities,
    channel: &str,
    locale: &str,
    name: &str,
    data: &serde_json::Value,
    message: &mut OutboundMessage,
) -> Result<(), String> {
    if capabilities.formatting != Formatting::Html {
        return Ok(());
    }
    if let Some(text) = renderer.render_optional(channel, locale, &format!("{name}.txt"), data)? {
        message.text = text.trim_end_matches(['\n', '\r']).to_owned();
    }
    if let Some(subject) =
        renderer.render_optional(channel, locale, &format!("{name}.subject"), data)?
    {
        let subject = subject.lines().map(str::trim).find(|line| !line.is_empty());
        message.subject = subject.map(str::to_owned);
    }
    message.html = renderer.render_optional(channel, locale, &format!("{name}.html"), data)?;
    Ok(())
}
