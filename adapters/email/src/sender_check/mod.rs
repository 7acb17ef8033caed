//! Sender authentication for inbound mail: may this reply act for its `From` address?
//!
//! A customer can confirm a payment by replying "PAY"; such a reply may only pay when its
//! sender is authenticated. [`SenderChecker::check`] gives a [`SenderVerdict`] for one raw
//! message, according to the channel's [`SenderCheckSettings`]:
//!
//! - [`SenderCheckSettings::Dkim`] (the default) verifies DKIM ourselves with `mail-auth`
//!   (rsa-sha256 and ed25519-sha256; rsa-sha1 signatures are not accepted) and evaluates the
//!   From domain's DMARC policy.
//! - [`SenderCheckSettings::AuthenticationResults`] trusts the `Authentication-Results`
//!   header that our own receiving MTA added (identified by its authserv-id).
//! - [`SenderCheckSettings::None`] passes everything (local development only).
//!
//! # What is authenticated
//! DKIM and DMARC authenticate the *domain* of the From address, not the mailbox: a pass means
//! the mail was signed by (or for) the From domain's owner, so anyone that domain's mail system
//! sends for can pass as any address at that domain. Both modes also require the message to
//! have exactly one From address and that it is the address the caller acts on (`from`).
//!
//! # Alignment
//! A DKIM signature counts only when its `d=` domain is *aligned* with the From domain. We use
//! a simple stand-in for DMARC's relaxed alignment (same organisational domain, which needs the
//! Public Suffix List): the two domains are equal, or one is a subdomain of the other and the
//! shorter one has at least two labels (so `d=test` never aligns with `customer.test`; a
//! multi-label public suffix such as `co.uk` could in principle sign for its registrants, but
//! only its registry can publish keys there). In DKIM mode a signature of a sibling domain
//! (sharing at least two trailing labels, e.g. `d=mail.shop.test` for `eu.shop.test`) also
//! counts when the From domain publishes a DMARC record and `mail-auth`'s DMARC evaluation
//! (which finds the organisational domain by the DNS tree walk) found DKIM aligned.
//!
//! # Failures
//! Every failure, including DNS failures (`temperror`) and timeouts, is a
//! [`SenderVerdict::Fail`] with a short reason; nothing here panics. Logs carry only domains,
//! results and reasons, never message bodies or key material.

mod auth_results;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::common::crypto::Algorithm;
use mail_auth::common::to_a_label;
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DmarcResult, DnsError, Error as AuthError,
    MessageAuthenticator, SpfOutput,
};
use serde::Deserialize;

/// The longest one check may take (all DNS lookups included) before it fails as `temperror`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-query timeout and attempts for a configured `dns_server`.
const DNS_TIMEOUT: Duration = Duration::from_secs(3);
const DNS_ATTEMPTS: usize = 2;

/// The `sender_check` setting of an email channel.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum SenderCheckSettings {
    /// Verify DKIM ourselves (mail-auth). Pass only with a valid signature (rsa-sha256 or
    /// ed25519-sha256, covering the From header) whose `d=` domain is aligned with the From
    /// domain (equal, or one a subdomain of the other; see the [module docs](self)). DMARC is
    /// evaluated too: when the From domain publishes a DMARC record whose policy is `reject`
    /// or `quarantine` and DMARC fails, the check fails; a DMARC `temperror` fails as well.
    /// The default.
    Dkim {
        /// The DNS resolver to use, `"ip:port"` (or a bare IP for port 53), queried over UDP
        /// and TCP; the system's (`/etc/resolv.conf`) when absent.
        #[serde(default)]
        dns_server: Option<String>,
    },
    /// Trust the `Authentication-Results` header added by our own receiving MTA, whose
    /// authserv-id is `authserv_id` (compared case-insensitively). Pass when such a header says
    /// `dkim=pass` with a `header.d` (or `header.i`) aligned with the From domain, or
    /// `dmarc=pass` (with `header.from`, when present, equal to the From domain); fail when
    /// such a header says `dmarc=fail`. Headers with another authserv-id are ignored: anyone
    /// can write them. The MTA must remove or rename incoming `Authentication-Results`
    /// headers that claim its authserv-id (RFC 8601 §5), as common MTAs and milters do.
    AuthenticationResults {
        /// The authserv-id our MTA writes (usually its host name).
        authserv_id: String,
    },
    /// No check: every sender passes. Local development only; logs a warning at startup.
    None,
}

impl Default for SenderCheckSettings {
    fn default() -> Self {
        SenderCheckSettings::Dkim { dns_server: None }
    }
}

/// The outcome of one sender check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderVerdict {
    /// The sender is authenticated for its From address.
    Pass,
    /// The sender is not authenticated (or could not be checked).
    Fail {
        /// A short, machine-readable-ish reason such as `dkim=fail (signature mismatch)`,
        /// `no_dkim_signature`, `dkim domain a.test not aligned with from domain b.test`,
        /// `dmarc=fail (p=reject; no_dkim_signature)` or `dkim=temperror (dns error)`.
        reason: String,
    },
}

impl SenderVerdict {
    /// Whether this is [`SenderVerdict::Pass`].
    pub fn is_pass(&self) -> bool {
        matches!(self, SenderVerdict::Pass)
    }

    fn fail(reason: impl Into<String>) -> Self {
        SenderVerdict::Fail {
            reason: reason.into(),
        }
    }
}

/// Why a [`SenderChecker`] could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SenderCheckError {
    /// `dns_server` is neither `ip:port` nor an IP address.
    #[error("sender_check.dns_server {value:?} is not an ip:port or ip address")]
    InvalidDnsServer {
        /// The configured value.
        value: String,
    },
    /// The DNS resolver could not be set up (e.g. `/etc/resolv.conf` unreadable).
    #[error("sender_check: cannot set up the DNS resolver: {0}")]
    Resolver(String),
    /// `authserv_id` is empty.
    #[error("sender_check.authserv_id must not be empty")]
    EmptyAuthservId,
}

/// Checks senders of inbound mail according to one channel's [`SenderCheckSettings`].
///
/// Cheap to share behind an `Arc`; [`check`](Self::check) takes `&self`.
pub struct SenderChecker {
    mode: Mode,
}

enum Mode {
    Dkim(Box<MessageAuthenticator>),
    AuthenticationResults { authserv_id: String },
    None,
}

impl std::fmt::Debug for SenderChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Dkim(_) => "dkim",
            Mode::AuthenticationResults { .. } => "authentication_results",
            Mode::None => "none",
        };
        f.debug_struct("SenderChecker")
            .field("mode", &mode)
            .finish()
    }
}

impl SenderChecker {
    /// Builds the checker: in DKIM mode this sets up the DNS resolver (the configured
    /// `dns_server`, or the system's configuration). In `none` mode it logs a warning.
    pub fn new(settings: &SenderCheckSettings) -> Result<Self, SenderCheckError> {
        let mode = match settings {
            SenderCheckSettings::Dkim { dns_server } => {
                let authenticator = match dns_server {
                    Some(server) => {
                        let addr = parse_dns_server(server)?;
                        let mut udp = ConnectionConfig::udp();
                        udp.port = addr.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = addr.port();
                        let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                        let config = ResolverConfig::from_parts(None, vec![], vec![ns]);
                        let mut opts = ResolverOpts::default();
                        opts.timeout = DNS_TIMEOUT;
                        opts.attempts = DNS_ATTEMPTS;
                        MessageAuthenticator::new(config, opts)
                    }
                    None => MessageAuthenticator::new_system_conf(),
                }
                .map_err(|e| SenderCheckError::Resolver(e.to_string()))?;
                Mode::Dkim(Box::new(authenticator))
            }
            SenderCheckSettings::AuthenticationResults { authserv_id } => {
                let authserv_id = authserv_id.trim();
                if authserv_id.is_empty() {
                    return Err(SenderCheckError::EmptyAuthservId);
                }
                Mode::AuthenticationResults {
                    authserv_id: authserv_id.to_owned(),
                }
            }
            SenderCheckSettings::None => {
                tracing::warn!(
                    "email sender_check mode is \"none\": any sender can confirm payments by \
                     mail; use this for local development only"
                );
                Mode::None
            }
        };
        Ok(SenderChecker { mode })
    }

    /// Checks the raw RFC 5322 message (bytes exactly as received) whose From address is
    /// `from` (as the caller parsed it; it must be the message's only From address).
    pub async fn check(&self, raw: &[u8], from: &str) -> SenderVerdict {
        let verdict = match &self.mode {
            Mode::None => return SenderVerdict::Pass,
            Mode::Dkim(authenticator) => {
                match tokio::time::timeout(CHECK_TIMEOUT, check_dkim(authenticator, raw, from))
                    .await
                {
                    Ok(verdict) => verdict,
                    Err(_) => SenderVerdict::fail("temperror (sender check timed out)"),
                }
            }
            Mode::AuthenticationResults { authserv_id } => {
                check_authentication_results(authserv_id, raw, from)
            }
        };
        match &verdict {
            SenderVerdict::Pass => {
                tracing::debug!(from_domain = domain_of(from), "email sender check passed");
            }
            SenderVerdict::Fail { reason } => {
                tracing::info!(
                    from_domain = domain_of(from),
                    reason = %reason,
                    "email sender check failed"
                );
            }
        }
        verdict
    }
}

fn parse_dns_server(value: &str) -> Result<SocketAddr, SenderCheckError> {
    let v = value.trim();
    if let Ok(addr) = v.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = v
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(SenderCheckError::InvalidDnsServer {
        value: value.to_owned(),
    })
}

/// The domain part of an address (`<` `>` and whitespace trimmed), or `""`.
fn domain_of(address: &str) -> &str {
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("")
}

/// A domain in the form we compare: A-label, lower case, without a trailing dot.
fn normalize_domain(domain: &str) -> String {
    to_a_label(domain.trim().trim_end_matches('.')).to_ascii_lowercase()
}

/// Relaxed-alignment stand-in: equal, or one is a subdomain of the other and the shorter one
/// has at least two labels. Both arguments must be normalized.
fn aligned(signing_domain: &str, from_domain: &str) -> bool {
    if signing_domain.is_empty() || from_domain.is_empty() {
        return false;
    }
    if signing_domain == from_domain {
        return true;
    }
    let (short, long) = if signing_domain.len() < from_domain.len() {
        (signing_domain, from_domain)
    } else {
        (from_domain, signing_domain)
    };
    short.contains('.')
        && long
            .strip_suffix(short)
            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

/// How many trailing labels two normalized domains share (`a.x.test`, `b.x.test` → 2).
fn common_suffix_labels(a: &str, b: &str) -> usize {
    a.rsplit('.')
        .zip(b.rsplit('.'))
        .take_while(|(x, y)| !x.is_empty() && x == y)
        .count()
}

/// Checks that the message has exactly one From address and that it is `from`; returns the
/// normalized From domain.
fn from_domain_of(message: &AuthenticatedMessage<'_>, from: &str) -> Result<String, SenderVerdict> {
    let wanted = from
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase();
    let froms = message.froms();
    match froms {
        [] => return Err(SenderVerdict::fail("no_from_header")),
        [only] if *only == wanted => {}
        [_] => {
            return Err(SenderVerdict::fail(
                "from address differs from the From header",
            ));
        }
        _ => return Err(SenderVerdict::fail("multiple_from_addresses")),
    }
    let domain = normalize_domain(domain_of(&wanted));
    if domain.is_empty() {
        return Err(SenderVerdict::fail("from address has no domain"));
    }
    Ok(domain)
}

async fn check_dkim(authenticator: &MessageAuthenticator, raw: &[u8], from: &str) -> SenderVerdict {
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return SenderVerdict::fail("unparseable_message");
    };
    let from_domain = match from_domain_of(&message, from) {
        Ok(d) => d,
        Err(v) => return v,
    };

    let dkim = authenticator.verify_dkim(&message).await;
    let spf = SpfOutput::default();
    let dmarc = authenticator
        .verify_dmarc(DmarcParameters::new(&message, &dkim, &from_domain, &spf))
        .await;
    let dmarc_has_record = dmarc.dmarc_record().is_some();
    let dmarc_dkim_pass = dmarc_has_record && matches!(dmarc.dkim_result(), DmarcResult::Pass);

    let dkim_outcome = evaluate_dkim(&dkim, &from_domain, dmarc_dkim_pass);

    // DMARC: a DNS failure while looking for the record, or a failing result under an
    // enforcing policy, fails the check.
    if let DmarcResult::TempError(_) = dmarc.dkim_result() {
        return SenderVerdict::fail(match &dkim_outcome {
            Ok(()) => "dmarc=temperror (dns error)".to_owned(),
            Err(reason) => format!("dmarc=temperror (dns error); {reason}"),
        });
    }
    if dmarc_has_record {
        let dmarc_pass = matches!(dmarc.result(), DmarcResult::Pass);
        let policy = match dmarc.policy() {
            Policy::Reject => Some("reject"),
            Policy::Quarantine => Some("quarantine"),
            Policy::None | Policy::Unspecified => None,
        };
        if !dmarc_pass && let Some(policy) = policy {
            let detail = match &dkim_outcome {
                Ok(()) => "dkim not aligned".to_owned(),
                Err(reason) => reason.clone(),
            };
            return SenderVerdict::fail(format!("dmarc=fail (p={policy}; {detail})"));
        }
    }

    match dkim_outcome {
        Ok(()) => SenderVerdict::Pass,
        Err(reason) => SenderVerdict::fail(reason),
    }
}

/// `Ok` when some DKIM result passes, is acceptable and aligned; otherwise the reason.
fn evaluate_dkim(
    outputs: &[DkimOutput<'_>],
    from_domain: &str,
    dmarc_dkim_pass: bool,
) -> Result<(), String> {
    if outputs.is_empty() {
        return Err("no_dkim_signature".to_owned());
    }
    let mut not_aligned: Option<String> = None;
    let mut weak: Option<String> = None;
    let mut failed_aligned: Option<String> = None;
    let mut failed_other: Option<String> = None;

    for output in outputs {
        let signature = output.signature();
        let domain = signature
            .map(|s| normalize_domain(&s.d))
            .unwrap_or_default();
        match output.result() {
            DkimResult::Pass => {
                let Some(signature) = signature else { continue };
                if signature.a == Algorithm::RsaSha1 {
                    weak.get_or_insert_with(|| "dkim=pass but rsa-sha1 is not accepted".into());
                    continue;
                }
                if !signature.h.iter().any(|h| h.eq_ignore_ascii_case("from")) {
                    weak.get_or_insert_with(|| "dkim=pass but From is not signed".into());
                    continue;
                }
                if aligned(&domain, from_domain)
                    || (dmarc_dkim_pass && common_suffix_labels(&domain, from_domain) >= 2)
                {
                    return Ok(());
                }
                not_aligned.get_or_insert_with(|| {
                    format!("dkim domain {domain} not aligned with from domain {from_domain}")
                });
            }
            other => {
                let reason = describe_dkim_failure(other);
                if !domain.is_empty() && aligned(&domain, from_domain) {
                    failed_aligned.get_or_insert(reason);
                } else {
                    failed_other.get_or_insert(reason);
                }
            }
        }
    }
    Err(failed_aligned
        .or(weak)
        .or(not_aligned)
        .or(failed_other)
        .unwrap_or_else(|| "no_dkim_signature".to_owned()))
}

fn describe_dkim_failure(result: &DkimResult) -> String {
    let (keyword, err) = match result {
        DkimResult::Pass => return "dkim=pass".to_owned(),
        DkimResult::None => return "no_dkim_signature".to_owned(),
        DkimResult::Neutral(e) => ("neutral", e),
        DkimResult::Fail(e) => ("fail", e),
        DkimResult::PermError(e) => ("permerror", e),
        DkimResult::TempError(e) => ("temperror", e),
    };
    // A body hash mismatch is a failed signature (RFC 6376 §6.1.3), whatever mail-auth calls it.
    let keyword = match err {
        AuthError::Dkim(DkimError::FailedBodyHashMatch) => "fail",
        _ => keyword,
    };
    let detail = match err {
        AuthError::Crypto(mail_auth::common::crypto::CryptoError::FailedVerification) => {
            "signature mismatch".to_owned()
        }
        AuthError::Crypto(_) => "crypto error".to_owned(),
        AuthError::Dkim(DkimError::FailedBodyHashMatch) => "body hash mismatch".to_owned(),
        AuthError::Dkim(DkimError::SignatureExpired) => "signature expired".to_owned(),
        AuthError::Dkim(DkimError::SignatureLength) => "l= tag not accepted".to_owned(),
        AuthError::Dkim(DkimError::RevokedPublicKey) => "key revoked".to_owned(),
        AuthError::Dkim(DkimError::FailedAuidMatch) => "i= not within d=".to_owned(),
        AuthError::Dkim(e) => e.to_string().to_ascii_lowercase(),
        AuthError::Dns(DnsError::RecordNotFound(code)) => format!("key not in dns: {code}"),
        AuthError::Dns(DnsError::InvalidRecordType) => "invalid key record".to_owned(),
        AuthError::Dns(DnsError::Resolver(_)) => "dns error".to_owned(),
        AuthError::ParseError => "malformed signature or key record".to_owned(),
        e => e.to_string().to_ascii_lowercase(),
    };
    format!("dkim={keyword} ({detail})")
}

fn check_authentication_results(authserv_id: &str, raw: &[u8], from: &str) -> SenderVerdict {
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return SenderVerdict::fail("unparseable_message");
    };
    let from_domain = match from_domain_of(&message, from) {
        Ok(d) => d,
        Err(v) => return v,
    };

    let mut trusted_headers = 0usize;
    let mut pass = false;
    let mut dmarc_fail = false;
    let mut dkim_fail: Option<String> = None;
    let mut not_aligned: Option<String> = None;

    for (name, value) in message.raw_parsed_headers() {
        if !name.eq_ignore_ascii_case(b"Authentication-Results") {
            continue;
        }
        let value = String::from_utf8_lossy(value);
        let Some(parsed) = auth_results::parse(&value) else {
            continue;
        };
        if !parsed.authserv_id.eq_ignore_ascii_case(authserv_id) {
            continue;
        }
        trusted_headers += 1;
        for r in &parsed.results {
            match r.method.as_str() {
                "dkim" => {
                    let domain = r
                        .prop("header.d")
                        .or_else(|| r.prop("header.i").map(domain_of))
                        .map(normalize_domain)
                        .unwrap_or_default();
                    if r.result == "pass" {
                        if aligned(&domain, &from_domain) {
                            pass = true;
                        } else {
                            not_aligned.get_or_insert_with(|| {
                                format!(
                                    "dkim domain {domain} not aligned with from domain \
                                     {from_domain}"
                                )
                            });
                        }
                    } else {
                        dkim_fail.get_or_insert_with(|| format!("dkim={}", r.result));
                    }
                }
                "dmarc" => {
                    let about_from = r
                        .prop("header.from")
                        .is_none_or(|d| normalize_domain(d) == from_domain);
                    if !about_from {
                        continue;
                    }
                    match r.result.as_str() {
                        "pass" => pass = true,
                        "fail" => dmarc_fail = true,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    if trusted_headers == 0 {
        return SenderVerdict::fail(format!("no authentication-results from {authserv_id}"));
    }
    if dmarc_fail {
        return SenderVerdict::fail("dmarc=fail (authentication-results)");
    }
    if pass {
        return SenderVerdict::Pass;
    }
    SenderVerdict::fail(
        not_aligned
            .or(dkim_fail.map(|d| format!("{d} (authentication-results)")))
            .unwrap_or_else(|| "no dkim=pass or dmarc=pass in authentication-results".to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment() {
        assert!(aligned("customer.test", "customer.test"));
        assert!(aligned("customer.test", "mail.customer.test"));
        assert!(aligned("mail.customer.test", "customer.test"));
        assert!(!aligned("test", "customer.test"));
        assert!(!aligned("customer.test", "evilcustomer.test"));
        assert!(!aligned("other.test", "customer.test"));
        assert!(!aligned("", "customer.test"));
    }

    #[test]
    fn common_suffix() {
        assert_eq!(
            common_suffix_labels("a.customer.test", "b.customer.test"),
            2
        );
        assert_eq!(common_suffix_labels("customer.test", "other.test"), 1);
        assert_eq!(common_suffix_labels("", "test"), 0);
    }

    #[test]
    fn builds_outside_a_runtime() {
        // Channels are set up at startup; the resolver must not need a runtime to be built.
        let checker = SenderChecker::new(&SenderCheckSettings::Dkim {
            dns_server: Some("127.0.0.1:53".into()),
        });
        assert!(checker.is_ok());
    }

    #[test]
    fn normalizes_domains() {
        assert_eq!(normalize_domain("Customer.TEST."), "customer.test");
        assert_eq!(domain_of("<a@B.test>"), "B.test");
        assert_eq!(domain_of("nodomain"), "");
    }

    #[test]
    fn dns_server_forms() {
        assert_eq!(
            parse_dns_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_dns_server("::1").unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert!(parse_dns_server("localhost:53").is_err());
    }

    #[test]
    fn settings_deserialize() {
        let s: SenderCheckSettings = serde_json::from_str(r#"{"mode":"dkim"}"#).unwrap();
        assert_eq!(s, SenderCheckSettings::default());
        let s: SenderCheckSettings =
            serde_json::from_str(r#"{"mode":"dkim","dns_server":"127.0.0.1:5353"}"#).unwrap();
        assert_eq!(
            s,
            SenderCheckSettings::Dkim {
                dns_server: Some("127.0.0.1:5353".into())
            }
        );
        let s: SenderCheckSettings =
            serde_json::from_str(r#"{"mode":"authentication_results","authserv_id":"mx"}"#)
                .unwrap();
        assert_eq!(
            s,
            SenderCheckSettings::AuthenticationResults {
                authserv_id: "mx".into()
            }
        );
        let s: SenderCheckSettings = serde_json::from_str(r#"{"mode":"none"}"#).unwrap();
        assert_eq!(s, SenderCheckSettings::None);
        assert!(
            serde_json::from_str::<SenderCheckSettings>(r#"{"mode":"dkim","typo":1}"#).is_err()
        );
        assert!(serde_json::from_str::<SenderCheckSettings>(r#"{"mode":"spf"}"#).is_err());
    }
}
