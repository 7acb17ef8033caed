//! Redis Streams event log (placeholder until implemented).
