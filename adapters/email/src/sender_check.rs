//! Placeholder until the sender check lands (same API).

/// The `sender_check` setting of an email channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum SenderCheckSettings {
    /// DKIM.
    #[default]
    Dkim,
    /// No check.
    None,
}

/// The verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderVerdict {
    /// Authenticated.
    Pass,
    /// Not authenticated.
    Fail {
        /// Why.
        reason: String,
    },
}

/// Checks senders.
pub struct SenderChecker(SenderCheckSettings);

/// Could not build.
#[derive(Debug, thiserror::Error)]
#[error("sender check: {0}")]
pub struct SenderCheckError(String);

impl SenderChecker {
    /// A checker.
    pub fn new(settings: &SenderCheckSettings) -> Result<Self, SenderCheckError> {
        Ok(Self(settings.clone()))
    }

    /// Checks.
    pub async fn check(&self, _raw: &[u8], _from: &str) -> SenderVerdict {
        match self.0 {
            SenderCheckSettings::None => SenderVerdict::Pass,
            SenderCheckSettings::Dkim => SenderVerdict::Fail {
                reason: "not implemented".into(),
            },
        }
    }
}
