//! [`SmtpSettings`] + [`SmtpAuth`] → lettre's pooled `AsyncSmtpTransport` builder.
//!
//! - [`SmtpTls::Implicit`]: `relay` (TLS from the first byte, port 465 unless set);
//! - [`SmtpTls::Starttls`]: `starttls_relay` (STARTTLS required, port 587 unless set);
//! - [`SmtpTls::None`]: `builder_dangerous` (plain text, port 25 unless set).
//!
//! TLS is rustls with the webpki roots. The pool keeps at most `max_connections` (4 by
//! default) connections.
//!
//! Timeouts: `timeout_secs` (30 s by default) is per command. lettre's async client applies
//! it to the TCP connect only and waits for replies without limit, so the sender also puts
//! an overall deadline on each call: one `timeout_secs` per command the call may need (see
//! [`send_deadline`] and [`check_deadline`]).

use std::time::Duration;

use lettre::Tokio1Executor;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder, PoolConfig};

use super::{SmtpAuth, SmtpError, SmtpSettings, SmtpTls};

/// Pooled connections when the settings do not say.
pub(crate) const DEFAULT_MAX_CONNECTIONS: u32 = 4;
/// Per-command timeout when the settings do not say.
pub(crate) const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// `max_connections` with its default; zero is refused.
pub(crate) fn max_connections(settings: &SmtpSettings) -> Result<u32, SmtpError> {
    match settings.max_connections {
        Some(0) => Err(SmtpError::Invalid(
            "smtp.max_connections must be at least 1".into(),
        )),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_MAX_CONNECTIONS),
    }
}

/// Commands of a connection setup: greeting, EHLO, STARTTLS, EHLO again, AUTH (one reply
/// each; a multi-step AUTH LOGIN has two more, covered by the slack below).
const SETUP_COMMANDS: u32 = 5;
/// Commands of a transaction besides RCPT: NOOP (a pooled connection is tested first),
/// MAIL, DATA, the end of data, plus two of slack (AUTH LOGIN's steps).
const TRANSACTION_COMMANDS: u32 = 6;

/// `timeout_secs` with its default; zero is refused.
pub(crate) fn command_timeout(settings: &SmtpSettings) -> Result<Duration, SmtpError> {
    match settings.timeout_secs {
        Some(0) => Err(SmtpError::Invalid(
            "smtp.timeout_secs must be at least 1".into(),
        )),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Ok(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
    }
}

/// The overall deadline of one send to `recipients` recipients: one command timeout for
/// every command it may take (setup, one RCPT each, the transaction).
pub(crate) fn send_deadline(command: Duration, recipients: usize) -> Duration {
    let rcpts = u32::try_from(recipients).unwrap_or(u32::MAX);
    command.saturating_mul(
        SETUP_COMMANDS
            .saturating_add(TRANSACTION_COMMANDS)
            .saturating_add(rcpts),
    )
}

/// The overall deadline of a check: connection setup and one NOOP.
pub(crate) fn check_deadline(command: Duration) -> Duration {
    command.saturating_mul(SETUP_COMMANDS + 1)
}

/// The transport builder (nothing connects, nothing is spawned yet).
pub(crate) fn builder(
    settings: &SmtpSettings,
    auth: &SmtpAuth,
) -> Result<AsyncSmtpTransportBuilder, SmtpError> {
    let host = settings.host.trim();
    if host.is_empty() {
        return Err(SmtpError::Invalid("smtp.host is empty".into()));
    }
    let timeout = command_timeout(settings)?;
    let max_connections = max_connections(settings)?;

    let tls_error = |e: lettre::transport::smtp::Error| {
        SmtpError::Invalid(format!("cannot set up TLS for {host}: {e}"))
    };
    let mut builder = match settings.tls {
        SmtpTls::Implicit => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?
        }
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
        }
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    if let Some(port) = settings.port {
        builder = builder.port(port);
    }
    builder = builder
        .timeout(Some(timeout))
        .pool_config(PoolConfig::new().max_size(max_connections));

    match auth {
        SmtpAuth::None => {}
        SmtpAuth::Password { username, password } => {
            builder = builder
                .credentials(Credentials::new(username.clone(), password.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        SmtpAuth::XOAuth2 { username, token } => {
            builder = builder
                .credentials(Credentials::new(username.clone(), token.clone()))
                .authentication(vec![Mechanism::Xoauth2]);
        }
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".into(),
            port: None,
            tls: SmtpTls::Starttls,
            username: None,
            max_connections: None,
            timeout_secs: None,
        }
    }

    #[test]
    fn every_tls_mode_builds() {
        for tls in [SmtpTls::Implicit, SmtpTls::Starttls, SmtpTls::None] {
            let s = SmtpSettings { tls, ..settings() };
            assert!(builder(&s, &SmtpAuth::None).is_ok(), "{tls:?}");
        }
    }

    #[test]
    fn deadlines_count_one_timeout_per_command() {
        let t = Duration::from_secs(2);
        assert_eq!(send_deadline(t, 1), Duration::from_secs(2 * 12));
        assert_eq!(send_deadline(t, 3), Duration::from_secs(2 * 14));
        assert_eq!(check_deadline(t), Duration::from_secs(2 * 6));
        assert_eq!(send_deadline(Duration::MAX, usize::MAX), Duration::MAX);
    }

    #[test]
    fn unusable_settings_are_invalid() {
        let empty_host = SmtpSettings {
            host: " ".into(),
            ..settings()
        };
        let zero_pool = SmtpSettings {
            max_connections: Some(0),
            ..settings()
        };
        let zero_timeout = SmtpSettings {
            timeout_secs: Some(0),
            ..settings()
        };
        for s in [empty_host, zero_pool, zero_timeout] {
            assert!(
                matches!(builder(&s, &SmtpAuth::None), Err(SmtpError::Invalid(_))),
                "{s:?}"
            );
        }
    }
}
