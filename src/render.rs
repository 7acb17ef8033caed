//! Glue between the template engine and the places that render messages (the business API,
//! later the payment engine): [`TemplateRenderer`] implements the HTTP layer's
//! [`Renderer`](crate::http::api::messages::Renderer), and [`ApiKeys`] its authenticator.

use crate::config::ApiKeys;
use crate::http::Authenticator;
use crate::http::api::messages::Renderer;
use crate::templates::TemplateEngine;

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

    fn default_locale(&self) -> &str {
        &self.default_locale
    }
}

impl Authenticator for ApiKeys {
    fn authenticate(&self, presented: &str) -> Option<String> {
        self.verify(presented).map(str::to_owned)
    }
}
