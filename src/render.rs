//! Glue between the template engine and the places that render messages (the business API,
//! the payment engine): the [`Renderer`] trait they depend on, and [`TemplateRenderer`], its
//! implementation on the template engine.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::templates::versions::{TemplateStore, TemplateVersion};
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

/// Renders named templates with the engine's fallback chain. The engine can be replaced
/// while serving ([`TemplateRenderer::replace`]): published template versions take effect
/// without a restart.
pub struct TemplateRenderer {
    engine: RwLock<Arc<TemplateEngine>>,
    default_locale: String,
    /// The store generation the engine was built at (see [`TemplateStore`]).
    generation: AtomicI64,
}

impl TemplateRenderer {
    /// Wraps a loaded engine.
    pub fn new(engine: TemplateEngine, default_locale: String) -> Self {
        Self {
            engine: RwLock::new(Arc::new(engine)),
            default_locale,
            generation: AtomicI64::new(0),
        }
    }

    /// Marks the engine as built at store `generation` (start-up loads the published
    /// versions itself).
    pub fn at_generation(self, generation: i64) -> Self {
        self.generation.store(generation, Ordering::Release);
        self
    }

    /// The engine in use now.
    pub fn engine(&self) -> Arc<TemplateEngine> {
        match self.engine.read() {
            Ok(engine) => engine.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Renders with the engine in use now.
    fn render_now(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<crate::templates::Rendered, TemplateError> {
        self.engine().render(channel, locale, name, data)
    }

    /// Uses `engine` from now on.
    pub fn replace(&self, engine: TemplateEngine) {
        let engine = Arc::new(engine);
        match self.engine.write() {
            Ok(mut slot) => *slot = engine,
            Err(poisoned) => *poisoned.into_inner() = engine,
        }
    }

    /// Rebuilds the engine from the template files under `dir` and the published versions
    /// in `store` when the store's generation moved since the last build; returns whether it
    /// did. A published version that no longer compiles keeps the previous engine (logged).
    pub async fn refresh(
        &self,
        dir: &Path,
        store: &dyn TemplateStore,
    ) -> Result<bool, crate::store::StoreError> {
        let generation = store.templates_generation().await?;
        if generation == self.generation.load(Ordering::Acquire) {
            return Ok(false);
        }
        let published = store.published_templates().await?;
        match load_engine(dir, &published) {
            Ok(engine) => {
                self.replace(engine);
                self.generation.store(generation, Ordering::Release);
                tracing::info!(
                    generation,
                    published = published.len(),
                    "Templates reloaded with the published versions."
                );
                Ok(true)
            }
            Err(error) => {
                tracing::error!(%error, "A published template version does not load; keeping the previous templates.");
                Ok(false)
            }
        }
    }

    /// Refreshes every `every` until `stop` is cancelled, so each instance sharing the store
    /// renders a version within about `every` of its publication.
    pub async fn keep_fresh(
        self: Arc<Self>,
        dir: std::path::PathBuf,
        store: Arc<dyn TemplateStore>,
        every: Duration,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.refresh(&dir, store.as_ref()).await {
                tracing::warn!(%error, "Could not look for published templates.");
            }
        }
    }
}

/// The engine of the template files under `dir` (over the embedded defaults) with the
/// `published` versions layered on top.
pub fn load_engine(
    dir: &Path,
    published: &[TemplateVersion],
) -> Result<TemplateEngine, TemplateError> {
    let files = crate::templates::source::overlay(
        crate::templates::source::merged(dir)?,
        crate::templates::versions::as_files(published),
    );
    TemplateEngine::load_files(files)
}

impl Renderer for TemplateRenderer {
    fn render(
        &self,
        channel: &str,
        locale: &str,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<String, String> {
        self.render_now(channel, locale, name, data)
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
        match self.render_now(channel, locale, name, data) {
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
