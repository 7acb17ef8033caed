//! [`SmtpSettings`] + [`SmtpAuth`] → lettre's pooled `AsyncSmtpTransport` builder.
//!
//! - [`SmtpTls::Implicit`]: `relay` (TLS from the first byte, port 465 unless set);
//! - [`SmtpTls::Starttls`]: `starttls_relay` (STARTTLS required, port 587 unless set);
//! - [`SmtpTls::None`]: `builder_dangerous` (plain text, port 25 unless set).
//!
//! TLS is rustls with the webpki roots. The per-command timeout (connect, every reply) is
//! `timeout_secs` (30 s by default) and the pool keeps at most `max_connections` (4 by
//! default) connections.

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

/// The transport builder (nothing connects, nothing is spawned yet).
pub(crate) fn builder(
    settings: &SmtpSettings,
    auth: &SmtpAuth,
) -> Result<AsyncSmtpTransportBuilder, SmtpError> {
    let host = settings.host.trim();
    if host.is_empty() {
        return Err(SmtpError::Invalid("smtp.host is empty".into()));
    }
    let timeout = match settings.timeout_secs {
        Some(0) => {
            return Err(SmtpError::Invalid(
                "smtp.timeout_secs must be at least 1".into(),
            ));
        }
        Some(secs) => secs,
        None => DEFAULT_TIMEOUT_SECS,
    };
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
        .timeout(Some(Duration::from_secs(timeout)))
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
