//! SQLite store (placeholder until implemented).
