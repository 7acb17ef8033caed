//! Outbound mail with lettre: one [`OutgoingMail`] becomes a multipart/alternative message
//! (text + HTML) with our threading headers, sent over a pooled SMTP transport (implicit TLS,
//! STARTTLS, or plain when config says so for local use). SMTP replies are mapped so the
//! caller knows what to do next: 4xx and connection failures are [`SmtpError::Transient`]
//! (retry with backoff), 5xx is [`SmtpError::Permanent`] with the server's reply text.

use serde::Deserialize;

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, required (port 587). The default.
    #[default]
    Starttls,
    /// No TLS at all: local test servers only.
    None,
}

/// The `smtp` table of an email channel.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Server host name (also the TLS name).
    pub host: String,
    /// Server port (default: 465 for implicit TLS, 587 for STARTTLS, 25 for none).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Login user; no authentication when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Most pooled connections kept open (default 4).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Per-command timeout in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// How to authenticate to the SMTP server (resolved from env by the channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpAuth {
    /// No authentication.
    None,
    /// LOGIN / PLAIN with a password.
    Password {
        /// Login user.
        username: String,
        /// Password.
        password: String,
    },
    /// XOAUTH2 with a bearer token.
    XOAuth2 {
        /// Login user.
        username: String,
        /// Access token.
        token: String,
    },
}

/// A file attached to an outgoing mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingAttachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// `type/subtype`.
    pub mime_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// One mail to send, fully decided by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// `From` (`Name <addr>` or `addr`).
    pub from: String,
    /// Recipients (`To`).
    pub to: Vec<String>,
    /// `Reply-To`, when set (the conversation's plus-address).
    pub reply_to: Option<String>,
    /// The subject, already with its single `Re:` when it is a reply.
    pub subject: String,
    /// Our `Message-ID`, without angle brackets.
    pub message_id: String,
    /// `In-Reply-To`, without angle brackets.
    pub in_reply_to: Option<String>,
    /// `References`, root first, without angle brackets.
    pub references: Vec<String>,
    /// The text/plain part.
    pub text: String,
    /// The text/html part, when there is one (then the mail is multipart/alternative).
    pub html: Option<String>,
    /// Adds `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All`.
    pub automatic: bool,
    /// Attachments (then the mail is multipart/mixed around the alternative part).
    pub attachments: Vec<OutgoingAttachment>,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmtpError {
    /// Try again later: a 4xx reply, a timeout or a connection failure.
    #[error("temporary SMTP failure: {0}")]
    Transient(String),
    /// Never retry: a 5xx reply (`code` like `550`, `text` the server's words).
    #[error("SMTP server refused the mail: {code} {text}")]
    Permanent {
        /// The reply code.
        code: String,
        /// The server's reply text.
        text: String,
    },
    /// The mail or the settings are unusable (bad address, bad host).
    #[error("invalid mail or SMTP settings: {0}")]
    Invalid(String),
}

/// A pooled SMTP sender.
#[derive(Clone)]
pub struct SmtpSender {
    _settings: SmtpSettings,
}

impl SmtpSender {
    /// A sender for `settings` authenticating with `auth`. Connects lazily.
    pub fn new(settings: SmtpSettings, auth: SmtpAuth) -> Result<Self, SmtpError> {
        let _ = auth;
        Ok(Self {
            _settings: settings,
        })
    }

    /// Sends one mail.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SmtpError> {
        let _ = mail;
        Err(SmtpError::Invalid("not implemented yet".into()))
    }

    /// Opens a connection and says NOOP: a cheap proof the settings work.
    pub async fn check(&self) -> Result<(), SmtpError> {
        Err(SmtpError::Invalid("not implemented yet".into()))
    }
}
