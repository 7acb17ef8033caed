//! The URL links point at (pay and confirmation links, media URLs, channel webhooks):
//! `server.public_url` when set, else the address the listener is actually bound to.

use std::net::{IpAddr, SocketAddr};

/// `configured` (trailing `/` removed) when set, else `http://<bound address>`. An unspecified
/// bind address (`0.0.0.0`, `::`) becomes the loopback address with a warning, since only the
/// operator knows the name the outside world uses.
pub(crate) fn resolve(configured: Option<&str>, bound: SocketAddr) -> String {
    if let Some(url) = configured.map(str::trim).filter(|url| !url.is_empty()) {
        let url = url.trim_end_matches('/').to_owned();
        tracing::info!(public_url = %url, "Links point at the configured server.public_url.");
        return url;
    }
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}", SocketAddr::new(ip, bound.port()));
    if bound.ip().is_unspecified() {
        tracing::warn!(public_url = %url, bind = %bound,
            "Listening on all interfaces without server.public_url: links point at the loopback address; set server.public_url to the address customers reach.");
    } else {
        tracing::info!(public_url = %url,
            "Links point at the bound address (server.public_url is not set).");
    }
    url
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::resolve;

    #[test]
    fn configured_url_wins_and_the_bound_address_is_the_fallback() {
        let bound = "127.0.0.1:4321".parse().unwrap();
        assert_eq!(
            resolve(Some("https://chat.example.com/"), bound),
            "https://chat.example.com"
        );
        assert_eq!(resolve(None, bound), "http://127.0.0.1:4321");
        assert_eq!(resolve(Some("  "), bound), "http://127.0.0.1:4321");
        let any4 = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(resolve(None, any4), "http://127.0.0.1:9000");
        let any6 = "[::]:9000".parse().unwrap();
        assert_eq!(resolve(None, any6), "http://[::1]:9000");
        let v6 = "[::1]:9001".parse().unwrap();
        assert_eq!(resolve(None, v6), "http://[::1]:9001");
    }
}
