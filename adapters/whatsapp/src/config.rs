//! The `[[channels]] type = "whatsapp"` table, and the secrets the bridge resolves for it.
//!
//! ```toml
//! [[channels]]
//! id = "acme-wa"
//! type = "whatsapp"
//! phone_number_id = "106540352242922"
//! access_token_env = "ACME_WA_ACCESS_TOKEN"
//! app_secret_env = "ACME_WA_APP_SECRET"
//! verify_token_env = "ACME_WA_VERIFY_TOKEN"
//!
//! [channels.template_mappings.payment_request]
//! name = "payment_request_v2"
//! language = "en_US"
//! body_params = ["data.amount", "data.merchant"]
//! button_params = [{ sub_type = "quick_reply", value = "button.0" }]
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::errors::ConfigError;

/// Graph API host used unless `api_base` says otherwise.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com";
/// Graph API version used unless `api_version` says otherwise.
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// One WhatsApp Business phone number, as configured. Secrets are never in here: only the
/// names of the environment variables holding them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WhatsAppConfig {
    /// The Cloud API phone-number id we send from (Meta's `metadata.phone_number_id`); also
    /// the `account` of every conversation on this channel.
    pub phone_number_id: String,
    /// The WhatsApp Business Account id, for operators and logs.
    #[serde(default)]
    pub business_account_id: Option<String>,
    /// The number as customers see it, e.g. `+1 555 078 3881`, for operators and logs.
    #[serde(default)]
    pub display_phone: Option<String>,
    /// Env var holding the Graph API access token (a system-user token).
    pub access_token_env: String,
    /// Env var holding the Meta app secret that signs webhooks (`X-Hub-Signature-256`).
    pub app_secret_env: String,
    /// Env var holding the verify token you type into Meta's webhook settings.
    pub verify_token_env: String,
    /// Graph API base URL; tests point it at the fake.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Graph API version segment, e.g. `v21.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Our template name -> the approved WhatsApp template to send instead of free-form text
    /// outside the 24-hour window.
    #[serde(default)]
    pub template_mappings: BTreeMap<String, TemplateMapping>,
}

impl WhatsAppConfig {
    /// A config for `phone_number_id` with the default env var names
    /// (`WHATSAPP_ACCESS_TOKEN`, `WHATSAPP_APP_SECRET`, `WHATSAPP_VERIFY_TOKEN`) and API.
    pub fn new(phone_number_id: impl Into<String>) -> Self {
        Self {
            phone_number_id: phone_number_id.into(),
            business_account_id: None,
            display_phone: None,
            access_token_env: "WHATSAPP_ACCESS_TOKEN".into(),
            app_secret_env: "WHATSAPP_APP_SECRET".into(),
            verify_token_env: "WHATSAPP_VERIFY_TOKEN".into(),
            api_base: default_api_base(),
            api_version: default_api_version(),
            template_mappings: BTreeMap::new(),
        }
    }

    /// Points the channel at another Graph API host (a fake in tests).
    pub fn with_api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = api_base.into();
        self
    }

    /// Adds an approved-template mapping for our template `ours`.
    pub fn with_template(mut self, ours: impl Into<String>, mapping: TemplateMapping) -> Self {
        self.template_mappings.insert(ours.into(), mapping);
        self
    }

    /// Resolves the three secrets through `lookup` (the bridge passes the process env).
    pub fn resolve_secrets(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<WhatsAppSecrets, ConfigError> {
        let get = |name: &str| match lookup(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ConfigError::MissingSecret(name.to_owned())),
        };
        Ok(WhatsAppSecrets {
            access_token: get(&self.access_token_env)?,
            app_secret: get(&self.app_secret_env)?,
            verify_token: get(&self.verify_token_env)?,
        })
    }
}

/// The channel's secrets, resolved from env by the bridge. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WhatsAppSecrets {
    /// Bearer token for the Graph API.
    pub access_token: String,
    /// Key of the webhook HMAC.
    pub app_secret: String,
    /// What Meta echoes in `hub.verify_token` during the handshake.
    pub verify_token: String,
}

impl WhatsAppSecrets {
    /// Secrets from their values.
    pub fn new(
        access_token: impl Into<String>,
        app_secret: impl Into<String>,
        verify_token: impl Into<String>,
    ) -> Self {
        Self {
            access_token: access_token.into(),
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
        }
    }
}

impl fmt::Debug for WhatsAppSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WhatsAppSecrets { .. }")
    }
}

/// An approved WhatsApp template standing in for one of our templates.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateMapping {
    /// The approved template's name at Meta.
    pub name: String,
    /// Its language code, e.g. `en_US`.
    pub language: String,
    /// Where each body parameter `{{1}}`, `{{2}}`… comes from, in order: `text` (the rendered
    /// message), `button.N` (payload of our N-th payload button) or `data.a.b` (a field of the
    /// template data, see [`WhatsAppChannel::send_template`](crate::WhatsAppChannel::send_template)).
    #[serde(default)]
    pub body_params: Vec<String>,
    /// Parameters of the template's buttons, by button index.
    #[serde(default)]
    pub button_params: Vec<ButtonParam>,
    /// Send this template even inside the 24-hour window (default: only when Meta reports the
    /// window closed, code 131047, or when the bridge asks for it).
    #[serde(default)]
    pub always: bool,
}

impl TemplateMapping {
    /// A mapping to the approved template `name` in `language` without parameters.
    pub fn new(name: impl Into<String>, language: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            language: language.into(),
            body_params: Vec::new(),
            button_params: Vec::new(),
            always: false,
        }
    }

    /// Sets the body parameter sources.
    pub fn with_body_params(mut self, params: &[&str]) -> Self {
        self.body_params = params.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Adds a button parameter.
    pub fn with_button_param(mut self, param: ButtonParam) -> Self {
        self.button_params.push(param);
        self
    }
}

/// One template button's parameter.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ButtonParam {
    /// `quick_reply` (the value becomes the payload that comes back on a tap) or `url` (the
    /// value fills the URL's variable suffix).
    pub sub_type: ButtonSubType,
    /// The value's source, as in [`TemplateMapping::body_params`].
    pub value: String,
}

impl ButtonParam {
    /// A quick-reply button whose tap payload comes from `value`.
    pub fn quick_reply(value: impl Into<String>) -> Self {
        Self {
            sub_type: ButtonSubType::QuickReply,
            value: value.into(),
        }
    }
}

/// The kinds of template button that take a parameter.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ButtonSubType {
    /// A quick-reply button; its parameter is the payload.
    QuickReply,
    /// A URL button; its parameter is the URL suffix.
    Url,
}

impl ButtonSubType {
    /// The Graph API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuickReply => "quick_reply",
            Self::Url => "url",
        }
    }
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_and_defaults_apply() {
        let json = serde_json::json!({
            "phone_number_id": "1", "access_token_env": "A", "app_secret_env": "B",
            "verify_token_env": "C",
            "template_mappings": { "payment_request": { "name": "pay", "language": "en",
                "body_params": ["data.amount"],
                "button_params": [{ "sub_type": "quick_reply", "value": "button.0" }] } }
        });
        let config: WhatsAppConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(config.api_base, DEFAULT_API_BASE);
        assert_eq!(config.template_mappings["payment_request"].name, "pay");
        let mut bad = json;
        bad["acces_token"] = "oops".into();
        assert!(serde_json::from_value::<WhatsAppConfig>(bad).is_err());
    }

    #[test]
    fn secrets_come_from_lookup_and_never_print() {
        let config = WhatsAppConfig::new("1");
        let secrets = config
            .resolve_secrets(|name| Some(format!("value-of-{name}")))
            .unwrap();
        assert_eq!(secrets.app_secret, "value-of-WHATSAPP_APP_SECRET");
        assert!(!format!("{secrets:?}").contains("value-of"));
        let missing = config.resolve_secrets(|_| None).unwrap_err();
        assert!(missing.to_string().contains("WHATSAPP_ACCESS_TOKEN"));
    }
}
