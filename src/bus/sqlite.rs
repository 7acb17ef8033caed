//! SQLite event log (placeholder until implemented).
