//! lettre's SMTP errors → [`SmtpError`].
//!
//! - a 5xx reply (`is_permanent`) → [`SmtpError::Permanent`] with the code and the server's
//!   reply lines (joined with spaces, as lettre keeps them);
//! - a 4xx reply (`is_transient`) → [`SmtpError::Transient`] with code and text;
//! - everything else (timeouts, refused or dropped connections, I/O, TLS, unparsable replies,
//!   a server that lacks STARTTLS or our AUTH mechanism) → [`SmtpError::Transient`].
//!
//! None of these texts can hold credentials: lettre never puts what it sent into its errors,
//! only what the server or the socket said.

use std::error::Error as _;

use lettre::transport::smtp::Error as LettreError;

use super::SmtpError;

/// Maps one lettre SMTP error.
pub(crate) fn from_lettre(err: &LettreError) -> SmtpError {
    // For a negative reply lettre's source is the reply text itself.
    let reply_text = || err.source().map(ToString::to_string).unwrap_or_default();
    match err.status() {
        Some(code) if err.is_permanent() => SmtpError::Permanent {
            code: code.to_string(),
            text: reply_text(),
        },
        Some(code) => SmtpError::Transient(format!("{code} {}", reply_text())),
        None if err.is_timeout() => SmtpError::Transient(format!("timed out: {err}")),
        None => SmtpError::Transient(err.to_string()),
    }
}
