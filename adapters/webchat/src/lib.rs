//! The web-chat channel (placeholder until implemented).
