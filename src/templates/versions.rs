//! Templates as versioned data: the files under `templates/` stay the reviewed defaults, and
//! edits made in the studio are stored as numbered versions of one template (its channel or
//! `default`, locale and name, with every part: the main text and variants such as an email's
//! `subject`, `txt` and `html`), each with its author, time and a message. Publishing a
//! version makes the renderer use it instead of the file; rolling back publishes an earlier
//! one. [`TemplateStore`] keeps them; [`as_files`] turns the published ones into template
//! files layered over the tree.

use std::collections::BTreeMap;
use std::path::PathBuf;

use omnibridge_sdk::Timestamp;
use serde::{Deserialize, Serialize};

use super::TemplateFile;
use crate::store::StoreError;

/// Which template: `<channel|default>/<locale>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TemplateKey {
    /// A channel kind (`whatsapp`) or `default`.
    pub channel: String,
    /// The locale directory (`en`, `es`, `pt_br`).
    pub locale: String,
    /// The template's name without part suffix (`payment_request`).
    pub name: String,
}

impl TemplateKey {
    /// The key of `channel`/`locale`/`name`, each checked to be a plain path segment
    /// (`[a-z0-9_-]`, at most 64 characters) so a key can never name another directory.
    pub fn parse(channel: &str, locale: &str, name: &str) -> Result<Self, String> {
        for (what, value) in [("channel", channel), ("locale", locale), ("name", name)] {
            let valid = !value.is_empty()
                && value.len() <= 64
                && value.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !valid {
                return Err(format!(
                    "{what} {value:?} must be 1-64 characters of a-z, 0-9, _ and -"
                ));
            }
        }
        Ok(Self {
            channel: channel.to_owned(),
            locale: locale.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `channel/locale/name`.
    pub fn path(&self) -> String {
        format!("{}/{}/{}", self.channel, self.locale, self.name)
    }
}

/// The parts of one template: `""` for the main text, else the variant (`subject`, `txt`,
/// `html`), each the handlebars source.
pub type Parts = BTreeMap<String, String>;

/// Whether `part` is a part name a template may have (`""`, or `[a-z0-9_]{1,32}`).
pub fn valid_part(part: &str) -> bool {
    part.is_empty()
        || (part.len() <= 32
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

/// One stored version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    /// Which template.
    pub key: TemplateKey,
    /// 1, 2, 3... per template.
    pub version: u32,
    /// Every part's source.
    pub parts: Parts,
    /// The API key's name that saved it.
    pub author: String,
    /// What changed, in the author's words.
    pub message: String,
    /// When it was saved.
    pub created_at: Timestamp,
}

/// Which version of a template is live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// Which template.
    pub key: TemplateKey,
    /// The live version.
    pub version: u32,
    /// When it was published.
    pub published_at: Timestamp,
    /// The API key's name that published it.
    pub published_by: String,
}

/// Where template versions live (the bridge's store, shared by every instance on it).
#[async_trait::async_trait]
pub trait TemplateStore: Send + Sync + 'static {
    /// Stores `parts` as the next version of `key` (numbered in the same write, so two
    /// concurrent saves get distinct numbers).
    async fn add_template_version(
        &self,
        key: &TemplateKey,
        parts: &Parts,
        author: &str,
        message: &str,
    ) -> Result<TemplateVersion, StoreError>;

    /// Every version of `key`, oldest first.
    async fn template_versions(
        &self,
        key: &TemplateKey,
    ) -> Result<Vec<TemplateVersion>, StoreError>;

    /// One version of `key`.
    async fn template_version(
        &self,
        key: &TemplateKey,
        version: u32,
    ) -> Result<Option<TemplateVersion>, StoreError>;

    /// Makes `version` of `key` the live one; `Ok(None)` when that version does not exist.
    async fn publish_template(
        &self,
        key: &TemplateKey,
        version: u32,
        by: &str,
    ) -> Result<Option<Publication>, StoreError>;

    /// Makes the file live again for `key` (no stored version is); `Ok(false)` when no
    /// version of it was live. The versions stay stored.
    async fn unpublish_template(&self, key: &TemplateKey, by: &str) -> Result<bool, StoreError>;

    /// Every template with stored versions: its publication (if any) and its latest version.
    async fn stored_templates(
        &self,
    ) -> Result<Vec<(TemplateKey, Option<Publication>, u32)>, StoreError>;

    /// The live version of every published template.
    async fn published_templates(&self) -> Result<Vec<TemplateVersion>, StoreError>;

    /// A number that changes whenever any template is published (instances compare it to
    /// know when to reload).
    async fn templates_generation(&self) -> Result<i64, StoreError>;
}

/// The file name of `part` of template `name`: `name.hbs`, `name.subject.hbs`...
pub fn part_file_name(name: &str, part: &str) -> String {
    if part.is_empty() {
        format!("{name}.hbs")
    } else {
        format!("{name}.{part}.hbs")
    }
}

/// The published versions as template files (origin `<store>/<key>@v<version>/<file>`), to
/// be loaded after the tree so they win.
pub fn as_files(published: &[TemplateVersion]) -> Vec<TemplateFile> {
    published
        .iter()
        .flat_map(|version| {
            version.parts.iter().map(move |(part, source)| {
                let file = part_file_name(&version.key.name, part);
                let relative = PathBuf::from(&version.key.channel)
                    .join(&version.key.locale)
                    .join(&file);
                TemplateFile {
                    origin: PathBuf::from(format!(
                        "<store>/{}@v{}/{file}",
                        version.key.path(),
                        version.version
                    )),
                    relative,
                    source: source.clone(),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_plain_segments() {
        assert!(TemplateKey::parse("default", "es", "payment_request").is_ok());
        assert!(TemplateKey::parse("default", "../x", "a").is_err());
        assert!(TemplateKey::parse("Default", "es", "a").is_err());
        assert!(TemplateKey::parse("default", "es", "").is_err());
        assert!(valid_part("") && valid_part("subject") && !valid_part("a.b"));
    }

    #[test]
    fn published_parts_become_files_at_their_place() {
        let version = TemplateVersion {
            key: TemplateKey::parse("email", "es", "payment_request").unwrap(),
            version: 3,
            parts: [("subject".to_owned(), "Pago".to_owned())].into(),
            author: "lead".into(),
            message: "m".into(),
            created_at: chrono::Utc::now(),
        };
        let files = as_files(&[version]);
        assert_eq!(
            files[0].relative,
            PathBuf::from("email/es/payment_request.subject.hbs")
        );
        assert!(files[0].origin.to_string_lossy().contains("@v3"));
    }
}
