//! Checks on a new intent before it is stored.

use omnibridge_sdk::Timestamp;

use super::engine::NewIntent;
use super::error::PaymentError;
use super::intent::{IntentState, PaymentIntent};
use crate::money::Money;

/// Largest amount accepted, in minor units (the largest Stripe accepts is 99,999,999).
pub const MAX_AMOUNT_MINOR: i64 = 99_999_999_999;
/// Longest an intent may stay payable: 30 days.
pub const MAX_EXPIRES_IN_SECS: u64 = 30 * 24 * 3600;
/// Largest `metadata`, serialized.
const MAX_METADATA_BYTES: usize = 8 * 1024;

fn invalid(field: &'static str, reason: impl Into<String>) -> PaymentError {
    PaymentError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Validates `new` and builds the intent to store.
pub(super) fn intent(
    new: NewIntent,
    now: Timestamp,
    default_locale: &str,
) -> Result<PaymentIntent, PaymentError> {
    if new.amount <= 0 || new.amount > MAX_AMOUNT_MINOR {
        return Err(invalid(
            "amount",
            format!("must be an integer of minor units between 1 and {MAX_AMOUNT_MINOR}"),
        ));
    }
    let money = Money::new(new.amount, &new.currency)
        .map_err(|error| invalid("currency", error.to_string()))?;
    let description = new.description.trim().to_owned();
    if description.is_empty() || description.chars().count() > 500 {
        return Err(invalid("description", "must be 1–500 characters"));
    }
    if description.chars().any(char::is_control) {
        return Err(invalid(
            "description",
            "must not contain control characters",
        ));
    }
    if let Some(external) = &new.external_id
        && (external.is_empty() || external.len() > 255 || external.chars().any(char::is_control))
    {
        return Err(invalid("external_id", "must be 1–255 printable characters"));
    }
    if new.expires_in_secs == 0 || new.expires_in_secs > MAX_EXPIRES_IN_SECS {
        return Err(invalid(
            "expires_in",
            format!("must be between 1 and {MAX_EXPIRES_IN_SECS} seconds"),
        ));
    }
    if let Some(metadata) = &new.metadata {
        if !metadata.is_object() {
            return Err(invalid("metadata", "must be a JSON object"));
        }
        if metadata.to_string().len() > MAX_METADATA_BYTES {
            return Err(invalid("metadata", "must be at most 8 KiB"));
        }
    }
    let locale = new.locale.unwrap_or_else(|| default_locale.to_owned());
    if locale.is_empty()
        || locale.len() > 35
        || !locale
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "locale",
            "must be a BCP 47 tag such as en or es-MX",
        ));
    }
    let expires_in = i64::try_from(new.expires_in_secs).unwrap_or(i64::MAX);
    Ok(PaymentIntent {
        id: new.id,
        conversation_id: new.conversation_id,
        amount: new.amount,
        currency: money.currency.code().to_owned(),
        description,
        external_id: new.external_id,
        locale,
        expires_at: now + chrono::Duration::seconds(expires_in),
        metadata: new.metadata,
        state: IntentState::RequiresConfirmation,
        refunded_minor: 0,
        method: None,
        reference: None,
        settled_at: None,
        created_at: now,
        updated_at: now,
    })
}
