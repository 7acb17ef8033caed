//! The `Origin` allow-list for the WebSocket upgrade, against cross-site WebSocket hijacking.
//!
//! Origins are compared as normalised `scheme://host[:port]`: scheme and host lowercased, a
//! trailing `/` dropped, default ports (80 for http, 443 for https) removed. A request without
//! `Origin` is refused (browsers always send it on WebSocket upgrades); `*` lets any origin in,
//! and only when configured explicitly.

use omnibridge_sdk::ChannelError;

/// An allow-list entry that is not `*` nor a `scheme://host[:port]` origin.
#[derive(Debug, thiserror::Error)]
#[error("invalid allowed origin {0:?}: use scheme://host[:port] or *")]
pub struct InvalidOrigin(pub String);

/// Which page origins may open a web-chat WebSocket.
/// The default allows no other origin (only the bridge's own, which the bridge checks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Normalised allowed origins.
    allowed: Vec<String>,
    /// Whether `*` was configured.
    any: bool,
}

impl OriginPolicy {
    /// A policy allowing exactly these origins (`https://shop.example`, `http://localhost:8080`,
    /// or `*`). Entries are normalised; an entry that is not an origin is an error, so a typo
    /// fails at startup rather than locking visitors out.
    pub fn new(allowed: Vec<String>) -> Result<Self, InvalidOrigin> {
        let mut policy = Self {
            allowed: Vec::new(),
            any: false,
        };
        for entry in allowed {
            if entry.trim() == "*" {
                policy.any = true;
                continue;
            }
            let normalised = normalize(&entry).ok_or_else(|| InvalidOrigin(entry.clone()))?;
            if !policy.allowed.contains(&normalised) {
                policy.allowed.push(normalised);
            }
        }
        Ok(policy)
    }

    /// Accepts or refuses a request's `Origin` header value. Refusals are
    /// [`ChannelError::Unauthorized`] with reason `missing_origin` or `origin_not_allowed`.
    pub fn check(&self, origin: Option<&str>) -> Result<(), ChannelError> {
        let Some(origin) = origin else {
            return Err(ChannelError::Unauthorized {
                reason: "missing_origin",
            });
        };
        if self.any {
            return Ok(());
        }
        match normalize(origin) {
            Some(origin) if self.allowed.contains(&origin) => Ok(()),
            _ => Err(ChannelError::Unauthorized {
                reason: "origin_not_allowed",
            }),
        }
    }

    /// The normalised allowed origins (without `*`).
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }
}

/// `scheme://host[:port]` in canonical form, or `None` if `origin` is not one.
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim();
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    let host = host.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    match port {
        Some(port) if Some(port) != default_port => Some(format!("{scheme}://{host}:{port}")),
        _ => Some(format!("{scheme}://{host}")),
    }
}

/// Splits `host[:port]` (host may be a bracketed IPv6 literal); refuses paths, user info,
/// queries and empty hosts.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        let valid = host[1..end]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid || end == 1 {
            return None;
        }
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let valid = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if host.is_empty() || !valid {
            return None;
        }
        (host, port)
    };
    let port = match port {
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Some(port.parse::<u16>().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    Some((host, port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_slash_and_default_ports() {
        assert_eq!(
            normalize("HTTPS://Shop.Example:443/").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            normalize("http://localhost:80").as_deref(),
            Some("http://localhost")
        );
        assert_eq!(
            normalize("http://localhost:8080").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            normalize("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(normalize("https://[::1]").as_deref(), Some("https://[::1]"));
    }

    #[test]
    fn refuses_things_that_are_not_origins() {
        for bad in [
            "",
            "null",
            "shop.example",
            "https://",
            "https://shop.example/path",
            "https://user@shop.example",
            "https://shop.example:99999",
            "https://shop.example:",
            "https://shop.example?x=1",
            "https://[]",
            "https://[::1",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    fn policy(allowed: &[&str]) -> OriginPolicy {
        OriginPolicy::new(allowed.iter().map(|s| (*s).to_owned()).collect()).unwrap()
    }

    fn refused(policy: &OriginPolicy, origin: Option<&str>) -> &'static str {
        match policy.check(origin) {
            Err(ChannelError::Unauthorized { reason }) => reason,
            other => panic!("expected a refusal for {origin:?}, got {other:?}"),
        }
    }

    #[test]
    fn allows_exact_origins_after_normalisation() {
        let policy = policy(&["https://Shop.Example/", "http://localhost:8080"]);
        assert_eq!(
            policy.allowed(),
            ["https://shop.example", "http://localhost:8080"]
        );
        assert!(policy.check(Some("https://shop.example")).is_ok());
        assert!(policy.check(Some("https://SHOP.example:443")).is_ok());
        assert!(policy.check(Some("http://localhost:8080")).is_ok());
        assert_eq!(
            refused(&policy, Some("http://shop.example")),
            "origin_not_allowed"
        );
        assert_eq!(
            refused(&policy, Some("https://shop.example:8443")),
            "origin_not_allowed"
        );
        assert_eq!(
            refused(&policy, Some("https://evil.shop.example")),
            "origin_not_allowed"
        );
        assert_eq!(
            refused(&policy, Some("https://shop.example.evil")),
            "origin_not_allowed"
        );
        assert_eq!(
            refused(&policy, Some("http://localhost")),
            "origin_not_allowed"
        );
        assert_eq!(refused(&policy, Some("null")), "origin_not_allowed");
        assert_eq!(refused(&policy, None), "missing_origin");
    }

    #[test]
    fn star_allows_any_origin_only_when_configured() {
        let any = policy(&["*"]);
        assert!(any.check(Some("https://anything.example")).is_ok());
        assert!(any.check(Some("null")).is_ok());
        assert_eq!(refused(&any, None), "missing_origin");
        let none = policy(&[]);
        assert_eq!(
            refused(&none, Some("https://shop.example")),
            "origin_not_allowed"
        );
    }

    #[test]
    fn invalid_entries_fail_at_construction() {
        let error = OriginPolicy::new(vec!["shop.example".into()]).unwrap_err();
        assert!(error.to_string().contains("shop.example"));
        assert!(OriginPolicy::new(vec!["https://shop.example/chat".into()]).is_err());
    }
}
