//! `omnibridge mcp --url <bridge>`: the bridge's MCP interface for desktop agents that launch
//! a command. Relays MCP messages between this process's stdin/stdout (the agent) and the
//! bridge's Streamable HTTP endpoint `/mcp`, authenticated with the API key from
//! `OMNIBRIDGE_API_KEY`. Both ends are the MCP SDK's own transports; nothing here speaks the
//! protocol by hand, so every tool, resource and notification behaves as over HTTP.
//!
//! Logs go to stderr (stdout carries only protocol messages).

use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport, Transport};
use rmcp::{RoleClient, RoleServer};

/// The env var holding the API key the stdio proxy presents to the bridge.
pub const API_KEY_ENV: &str = "OMNIBRIDGE_API_KEY";

/// Why the stdio proxy stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpProxyError {
    /// `--url` is not an http(s) URL.
    #[error("--url must be the bridge's http:// or https:// address, got {0:?}")]
    InvalidUrl(String),
    /// No API key in the environment.
    #[error("set {API_KEY_ENV} to an API key with the `agent` scope")]
    MissingApiKey,
    /// The bridge could not be reached or refused a message.
    #[error("the bridge at {url} failed: {reason}")]
    Upstream {
        /// The MCP endpoint.
        url: String,
        /// What went wrong (never the key).
        reason: String,
    },
    /// Writing to the agent failed (it went away).
    #[error("writing to the agent failed: {0}")]
    Downstream(String),
}

/// The MCP endpoint for a bridge address: `<url>/mcp` unless `url` already names it.
pub fn endpoint(url: &str) -> Result<String, McpProxyError> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        || trimmed.len() <= "https://".len()
    {
        return Err(McpProxyError::InvalidUrl(url.to_owned()));
    }
    if trimmed.ends_with(crate::http::mcp::PATH) {
        Ok(trimmed.to_owned())
    } else {
        Ok(format!("{trimmed}{}", crate::http::mcp::PATH))
    }
}

/// Relays between stdin/stdout and the bridge at `url` until either side closes.
pub async fn run(url: &str, api_key: Option<String>) -> Result<(), McpProxyError> {
    let endpoint = endpoint(url)?;
    let api_key = api_key
        .filter(|key| !key.trim().is_empty())
        .ok_or(McpProxyError::MissingApiKey)?;
    // TLS for https:// bridges: rustls with the ring provider (the one the rest of the
    // bridge uses); a second install attempt is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = StreamableHttpClientTransportConfig::with_uri(endpoint.clone())
        .auth_header(api_key.trim().to_owned());
    let mut upstream = StreamableHttpClientTransport::from_config(config);
    let mut downstream =
        IntoTransport::<RoleServer, _, _>::into_transport(rmcp::transport::stdio());
    tracing::info!(%endpoint, "Relaying MCP between stdio and the bridge.");
    let upstream_error = |error: &dyn std::fmt::Display| McpProxyError::Upstream {
        url: endpoint.clone(),
        reason: error.to_string(),
    };
    let result = loop {
        tokio::select! {
            from_agent = Transport::<RoleServer>::receive(&mut downstream) => {
                let Some(message) = from_agent else { break Ok(()) };
                if let Err(error) = Transport::<RoleClient>::send(&mut upstream, message).await {
                    break Err(upstream_error(&error));
                }
            }
            from_bridge = Transport::<RoleClient>::receive(&mut upstream) => {
                let Some(message) = from_bridge else {
                    break Err(upstream_error(&"the connection to the bridge closed"));
                };
                if let Err(error) = Transport::<RoleServer>::send(&mut downstream, message).await {
                    break Err(McpProxyError::Downstream(error.to_string()));
                }
            }
        }
    };
    let _ = Transport::<RoleClient>::close(&mut upstream).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_appends_the_mcp_path_once_and_refuses_non_http() {
        assert_eq!(
            endpoint("http://127.0.0.1:8080").ok().as_deref(),
            Some("http://127.0.0.1:8080/mcp")
        );
        assert_eq!(
            endpoint("https://bridge.example/mcp/").ok().as_deref(),
            Some("https://bridge.example/mcp")
        );
        assert!(matches!(
            endpoint("bridge:8080"),
            Err(McpProxyError::InvalidUrl(_))
        ));
        assert!(matches!(
            endpoint("http://"),
            Err(McpProxyError::InvalidUrl(_))
        ));
    }
}
