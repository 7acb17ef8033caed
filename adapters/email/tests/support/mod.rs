//! Test support shared by the integration tests of omnibridge-email.

pub(crate) mod smtp_server;
