//! The `[[channels]] type = "email"` table and its secrets, which come only from env vars
//! (the table names them) or, for XOAUTH2 tokens, from a command.

use serde::Deserialize;

use crate::imap::{ImapAuth, ImapSettings, TokenSource};
use crate::smtp::{SmtpAuth, SmtpSettings};

/// Default largest raw mail accepted by the webhook, in bytes (25 MiB, a common provider cap).
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Default time a raw mail is kept for its attachments, in hours.
pub const DEFAULT_KEEP_RAW_MAIL_HOURS: u64 = 7 * 24;
/// Default replay window of the webhook signature, in seconds.
pub const DEFAULT_WEBHOOK_TOLERANCE_SECS: u64 = 300;

/// One business mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The mailbox address customers write to (`support@acme.test`); our mail comes from it
    /// and replies go to its plus-addresses (`support+<token>@acme.test`).
    pub address: String,
    /// The display name on our mail (`Acme Support`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Inbound over IMAP; absent when mail arrives only through the webhook.
    #[serde(default)]
    pub imap: Option<ImapSettings>,
    /// Env var holding the IMAP password (LOGIN).
    #[serde(default)]
    pub imap_password_env: Option<String>,
    /// Env var holding an XOAUTH2 access token for IMAP (Gmail, Microsoft 365).
    #[serde(default)]
    pub imap_oauth_token_env: Option<String>,
    /// A command printing a fresh XOAUTH2 access token for IMAP (run with `sh -c` on each
    /// connection).
    #[serde(default)]
    pub imap_oauth_token_command: Option<String>,
    /// Outbound SMTP.
    pub smtp: SmtpSettings,
    /// Env var holding the SMTP password.
    #[serde(default)]
    pub smtp_password_env: Option<String>,
    /// Env var holding an XOAUTH2 access token for SMTP.
    #[serde(default)]
    pub smtp_oauth_token_env: Option<String>,
    /// Env var holding the raw-MIME webhook's signing secret; the webhook refuses everything
    /// when unset.
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Largest raw mail the webhook accepts, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How old a webhook's signed timestamp may be, in seconds.
    #[serde(default = "default_tolerance")]
    pub webhook_tolerance_secs: u64,
    /// Add the conversation token to our subjects (`Re: Order 7 [#k3x9q2m4p1]`), so a reply
    /// whose headers were stripped still finds its thread. Default on.
    #[serde(default = "default_true")]
    pub subject_token: bool,
    /// How long a received mail with attachments is kept (for the bridge to store its
    /// attachments), in hours (default 168, a week).
    #[serde(default = "default_keep_raw_hours")]
    pub keep_raw_mail_hours: u64,
    /// How a "PAY" reply's sender is authenticated before it may pay.
    #[serde(default)]
    pub sender_check: crate::sender_check::SenderCheckSettings,
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_tolerance() -> u64 {
    DEFAULT_WEBHOOK_TOLERANCE_SECS
}

fn default_keep_raw_hours() -> u64 {
    DEFAULT_KEEP_RAW_MAIL_HOURS
}

fn default_true() -> bool {
    true
}

/// Secrets resolved from env (and commands, for IMAP tokens at connect time).
#[derive(Clone)]
pub struct EmailSecrets {
    /// IMAP login, when IMAP is configured.
    pub imap: Option<ImapAuth>,
    /// SMTP login.
    pub smtp: SmtpAuth,
    /// The webhook signing secret, when set.
    pub webhook_secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for EmailSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSecrets")
            .field("imap", &self.imap.is_some())
            .field("webhook_secret", &self.webhook_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// A setting that cannot work; names keys and env vars, never values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A named env var is not set.
    #[error("env var {var} (from {key}) is not set")]
    MissingEnv {
        /// The config key naming the variable.
        key: &'static str,
        /// The variable.
        var: String,
    },
    /// A value is not usable.
    #[error("{key}: {reason}")]
    Invalid {
        /// The config key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl EmailConfig {
    /// The mailbox address split into local part and domain, lowercased.
    pub fn address_parts(&self) -> Result<(String, String), ConfigError> {
        let address = self.address.trim().to_ascii_lowercase();
        match address.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !local.contains('+') =>
            {
                Ok((local.to_owned(), domain.to_owned()))
            }
            _ => Err(ConfigError::Invalid {
                key: "address",
                reason: "must be a plain mailbox address like support@example.com".into(),
            }),
        }
    }

    /// Reads the secrets the table names.
    pub fn resolve_secrets(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<EmailSecrets, ConfigError> {
        let need = |key: &'static str, var: &str| {
            env(var).ok_or_else(|| ConfigError::MissingEnv {
                key,
                var: var.to_owned(),
            })
        };
        let imap = match &self.imap {
            None => None,
            Some(imap) => {
                let username = imap.username.clone();
                Some(
                    match (
                        &self.imap_password_env,
                        &self.imap_oauth_token_env,
                        &self.imap_oauth_token_command,
                    ) {
                        (Some(var), None, None) => ImapAuth::Password {
                            username,
                            password: need("imap_password_env", var)?,
                        },
                        (None, Some(var), None) => ImapAuth::XOAuth2 {
                            username,
                            token: TokenSource::Fixed(need("imap_oauth_token_env", var)?),
                        },
                        (None, None, Some(command)) => ImapAuth::XOAuth2 {
                            username,
                            token: TokenSource::Command(command.clone()),
                        },
                        _ => {
                            return Err(ConfigError::Invalid {
                                key: "imap_password_env",
                                reason: "set exactly one of imap_password_env, \
                                         imap_oauth_token_env, imap_oauth_token_command"
                                    .into(),
                            });
                        }
                    },
                )
            }
        };
        let smtp = match (
            &self.smtp.username,
            &self.smtp_password_env,
            &self.smtp_oauth_token_env,
        ) {
            (None, None, None) => SmtpAuth::None,
            (Some(username), Some(var), None) => SmtpAuth::Password {
                username: username.clone(),
                password: need("smtp_password_env", var)?,
            },
            (Some(username), None, Some(var)) => SmtpAuth::XOAuth2 {
                username: username.clone(),
                token: need("smtp_oauth_token_env", var)?,
            },
            _ => {
                return Err(ConfigError::Invalid {
                    key: "smtp.username",
                    reason: "with smtp.username set exactly one of smtp_password_env and \
                             smtp_oauth_token_env; without it, neither"
                        .into(),
                });
            }
        };
        let webhook_secret = match &self.webhook_secret_env {
            Some(var) => Some(need("webhook_secret_env", var)?.into_bytes()),
            None => None,
        };
        self.address_parts()?;
        Ok(EmailSecrets {
            imap,
            smtp,
            webhook_secret,
        })
    }
}
