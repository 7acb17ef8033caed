//! Glue between the template engine and the places that render messages (the business API,
//! later the payment engine): [`TemplateRenderer`] implements the HTTP layer's
//! [`Renderer`](crate::http::api::messages::Renderer), and [`ApiKeys`] its authenticator.

use crate::config::ApiKeys;
use crate::http::Authenticator;
use crate::http::api::messages::Renderer;
use crate::templates::{TemplateEngine, TemplateError};
use omnibridge_sdk::{Capabilities, Formatting, OutboundMessage};

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

impl Authenticator for ApiKeys {
    fn authenticate(&self, presented: &str) -> Option<String> {
        self.verify(presented).map(str::to_owned)
    }
}
