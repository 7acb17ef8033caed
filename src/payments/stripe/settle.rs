//! Settlement per the Stripe charge spec: one PaymentIntent created with `confirm=true` and
//! the SPT as `shared_payment_granted_token`, keyed by an idempotency key derived from the
//! challenge id and the SPT; only `succeeded` settles.

use std::collections::HashMap;

use ::stripe::{ApiErrors, ApiErrorsType};
use serde_json::Value;
use sha2::{Digest, Sha256};
use stripe_client_core::RequestBuilder;
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods,
    CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects,
};

use super::client::redact;
use super::messages::{refused, refused_because};
use crate::payments::method::{Charge, SettleError, Settlement};

/// Longest SPT we pass on (Stripe ids are far shorter).
const MAX_SPT_LEN: usize = 255;

/// The `spt` of a credential payload, checked to look like a Stripe id (`spt_` then letters,
/// digits, `_`) so it can go into a form body verbatim. The error never contains it.
pub(crate) fn parse_spt(payload: &Value) -> Result<&str, SettleError> {
    let spt = payload
        .get("spt")
        .and_then(Value::as_str)
        .ok_or_else(|| SettleError::MalformedPayload("payload has no string `spt`".into()))?;
    let well_formed = spt.len() > 4
        && spt.len() <= MAX_SPT_LEN
        && spt.starts_with("spt_")
        && spt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(spt)
    } else {
        Err(SettleError::MalformedPayload(
            "`spt` is not a shared payment token id (spt_…)".into(),
        ))
    }
}

/// The idempotency key of a settlement: hex SHA-256 of `"{challenge_id}_{spt}"`. The spec's
/// key is that string itself; hashing it keeps the SPT out of logs and headers we print.
pub(crate) fn idempotency_key(challenge_id: &str, spt: &str) -> String {
    hex::encode(Sha256::digest(format!("{challenge_id}_{spt}").as_bytes()))
}

/// The PaymentIntent creation request. async-stripe has no typed field for
/// `shared_payment_granted_token`, so it is appended to the form body it builds.
pub(crate) fn create_request(
    charge: &Charge,
    challenge_id: &str,
    spt: &str,
) -> Result<RequestBuilder, SettleError> {
    if charge.amount.minor <= 0 {
        return Err(SettleError::Unavailable(
            "charge amount must be positive".into(),
        ));
    }
    let currency = charge
        .amount
        .currency
        .code()
        .to_ascii_lowercase()
        .parse::<stripe_types::Currency>()
        .map_err(|_| SettleError::Unavailable("currency not accepted by stripe".into()))?;
    let mut metadata = HashMap::from([
        ("challenge_id".to_owned(), challenge_id.to_owned()),
        ("intent_id".to_owned(), charge.intent_id.clone()),
        ("conversation_id".to_owned(), charge.conversation_id.clone()),
    ]);
    if let Some(external_id) = &charge.external_id {
        metadata.insert("external_id".to_owned(), external_id.clone());
    }
    let automatic = CreatePaymentIntentAutomaticPaymentMethods {
        enabled: true,
        allow_redirects: Some(CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects::Never),
    };
    let mut create = CreatePaymentIntent::new(charge.amount.minor, currency)
        .confirm(true)
        .automatic_payment_methods(automatic)
        .metadata(metadata);
    if !charge.description.trim().is_empty() {
        create = create.description(charge.description.clone());
    }
    let mut request = ::stripe::StripeRequest::build(&create);
    let mut body = request.body.take().unwrap_or_default();
    if !body.is_empty() {
        body.push('&');
    }
    // `parse_spt` allowed only [A-Za-z0-9_]: nothing to percent-encode.
    body.push_str("shared_payment_granted_token=");
    body.push_str(spt);
    request.body = Some(body);
    Ok(request)
}

/// What settlement reads of the PaymentIntent Stripe answers with HTTP 200: only what it
/// needs, so a field Stripe adds or changes elsewhere never makes a charge unreadable.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CreatedIntent {
    /// `pi_…`.
    pub(crate) id: String,
    /// `succeeded`, `requires_payment_method`, `processing`, …
    pub(crate) status: String,
    /// Why the last attempt failed.
    #[serde(default)]
    pub(crate) last_payment_error: Option<LastPaymentError>,
}

/// `last_payment_error` of a PaymentIntent.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LastPaymentError {
    /// `card_declined`, …
    #[serde(default)]
    pub(crate) code: Option<String>,
    /// `insufficient_funds`, …
    #[serde(default)]
    pub(crate) decline_code: Option<String>,
}

/// Reads the answer of `call` as a [`CreatedIntent`]. An unreadable answer is an unknown
/// outcome (the charge may have been taken); the error and the log name the call and the
/// field, never the body.
pub(crate) fn read_intent(
    call: &'static str,
    answer: &miniserde::json::Value,
    intent_id: &str,
) -> Result<CreatedIntent, SettleError> {
    let text = miniserde::json::to_string(answer);
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let message = error.inner().to_string();
        let field = match error.path().to_string() {
            // serde names a missing field in its message ("missing field `status`"), and
            // only then: other messages may quote values.
            path if path == "." => match message.strip_prefix("missing field ") {
                Some(rest) => rest.split(' ').next().unwrap_or("a field").to_owned(),
                None => "the answer itself".to_owned(),
            },
            path => format!("`{path}`"),
        };
        let problem = match error.inner().classify() {
            serde_json::error::Category::Data => "missing or of the wrong type",
            _ => "not JSON",
        };
        tracing::error!(intent_id, call, field = %field, problem,
            "stripe's answer could not be read; the payment's outcome is unknown");
        SettleError::Unknown(format!(
            "unreadable answer to {call}: {field} is {problem}"
        ))
    })
}

/// What a PaymentIntent returned with HTTP 200 means for the charge.
pub(crate) fn outcome(intent: &CreatedIntent) -> Result<Settlement, SettleError> {
    match intent.status.as_str() {
        "succeeded" => Ok(Settlement {
            reference: intent.id.clone(),
        }),
        "requires_action" => Err(refused("requires_action")),
        "requires_payment_method" => {
            let error = intent.last_payment_error.as_ref();
            let code = error
                .and_then(|e| e.code.clone())
                .unwrap_or_else(|| "requires_payment_method".to_owned());
            let reason = error.and_then(|e| e.decline_code.clone());
            Err(refused_because(&code, reason.as_deref().unwrap_or(&code)))
        }
        "canceled" => Err(refused("payment_intent_canceled")),
        // `processing` (async methods) may still succeed: the outcome is not known yet.
        other => Err(SettleError::Unknown(format!(
            "stripe left the payment in status {}",
            redact(other)
        ))),
    }
}

/// What a Stripe error answer means for the charge. Declines and token problems are
/// refusals the customer can act on; anything else is ours or Stripe's to fix.
pub(crate) fn from_api_error(status: u16, error: &ApiErrors, intent_id: &str) -> SettleError {
    let code = error_code(error);
    match (&error.type_, status) {
        (ApiErrorsType::CardError, _) | (_, 402) => {
            let code = code.unwrap_or_else(|| "card_declined".to_owned());
            refused_because(&code, error.decline_code.as_deref().unwrap_or(&code))
        }
        (ApiErrorsType::IdempotencyError, _) => {
            tracing::error!(
                intent_id,
                status,
                "stripe refused the idempotency key: the same challenge and token were sent \
                 before with different parameters; the first request's outcome is looked up"
            );
            SettleError::Unknown("stripe idempotency conflict".into())
        }
        (ApiErrorsType::InvalidRequestError, 400 | 404) if is_token_problem(error) => {
            refused(code.as_deref().unwrap_or("token_invalid"))
        }
        _ => {
            tracing::error!(intent_id, status, error_type = error.type_.as_str(),
                code = code.as_deref().unwrap_or("-"),
                message = %redact(error.message.as_deref().unwrap_or_default()),
                "stripe rejected the PaymentIntent request");
            SettleError::Unavailable(format!(
                "stripe rejected the request ({status} {})",
                code.as_deref().unwrap_or(error.type_.as_str())
            ))
        }
    }
}

/// The error's `code`, as a string.
fn error_code(error: &ApiErrors) -> Option<String> {
    error.code.as_ref().map(|c| c.as_str().to_owned())
}

/// Whether an invalid-request error is about the token the customer gave (used, expired,
/// unknown, over its limits), so a new token would help.
fn is_token_problem(error: &ApiErrors) -> bool {
    let param = error.param.as_deref().unwrap_or_default();
    let code = error.code.as_ref().map(|c| c.as_str()).unwrap_or_default();
    param.starts_with("shared_payment_granted_token")
        || matches!(
            code,
            "token_already_used" | "resource_missing" | "expired_card" | "amount_too_large"
        )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::money::Money;

    fn charge() -> Charge {
        Charge {
            intent_id: "payint_1".into(),
            conversation_id: "conv_1".into(),
            amount: Money::new(1250, "EUR").unwrap(),
            description: "Order 42".into(),
            external_id: Some("order_42".into()),
        }
    }

    #[test]
    fn spt_is_required_and_checked_without_echoing_it() {
        assert_eq!(
            parse_spt(&json!({"spt": "spt_abc_1"})).unwrap(),
            "spt_abc_1"
        );
        for bad in [
            json!({}),
            json!({"spt": 3}),
            json!({"spt": "tok_1"}),
            json!({"spt": "spt_a&b=c"}),
        ] {
            let err = parse_spt(&bad).unwrap_err();
            assert!(matches!(err, SettleError::MalformedPayload(_)));
            assert!(!err.to_string().contains("a&b"));
        }
    }

    #[test]
    fn key_is_a_stable_hash_that_hides_the_token() {
        let key = idempotency_key("ch_1", "spt_secret");
        assert_eq!(key, idempotency_key("ch_1", "spt_secret"));
        assert_ne!(key, idempotency_key("ch_2", "spt_secret"));
        assert_eq!(key.len(), 64);
        assert!(!key.contains("spt_secret"));
    }

    #[test]
    fn request_carries_the_spec_parameters() {
        let request = create_request(&charge(), "ch_1", "spt_success_1").unwrap();
        assert_eq!(request.path, "/payment_intents");
        let body = request.body.unwrap();
        for part in [
            "amount=1250",
            "currency=eur",
            "confirm=true",
            "automatic_payment_methods[enabled]=true",
            "automatic_payment_methods[allow_redirects]=never",
            "metadata[challenge_id]=ch_1",
            "metadata[intent_id]=payint_1",
            "metadata[conversation_id]=conv_1",
            "shared_payment_granted_token=spt_success_1",
        ] {
            let decoded = body.replace("%5B", "[").replace("%5D", "]");
            assert!(
                decoded.split('&').any(|p| p == part),
                "{part} missing in {decoded}"
            );
        }
    }

    #[test]
    fn answers_are_read_field_by_field_and_unreadable_ones_name_the_field() {
        let read = |json: &str| {
            let value: miniserde::json::Value = miniserde::json::from_str(json).unwrap();
            read_intent("create PaymentIntent", &value, "payint_1")
        };
        let paid = read(r#"{"id":"pi_1","status":"succeeded","amount":5,"new_field":[1]}"#)
            .unwrap();
        assert_eq!(outcome(&paid).unwrap().reference, "pi_1");
        let declined = read(
            r#"{"id":"pi_2","status":"requires_payment_method",
                "last_payment_error":{"code":"card_declined","decline_code":"insufficient_funds"}}"#,
        )
        .unwrap();
        assert!(matches!(outcome(&declined), Err(SettleError::Refused { .. })));
        let pending = read(r#"{"id":"pi_3","status":"processing"}"#).unwrap();
        assert!(matches!(outcome(&pending), Err(SettleError::Unknown(_))));

        let Err(SettleError::Unknown(why)) = read(r#"{"id":17,"status":"succeeded"}"#) else {
            panic!("an unreadable id is an unknown outcome");
        };
        assert!(why.contains("create PaymentIntent") && why.contains("`id`"), "{why}");
        let Err(SettleError::Unknown(why)) = read(r#"{"id":"pi_4"}"#) else {
            panic!("a missing status is an unknown outcome");
        };
        assert!(why.contains("`status`"), "{why}");
        assert!(!why.contains("pi_4"), "the body is never quoted: {why}");
    }

    #[test]
    fn refusals_have_customer_messages() {
        let SettleError::Refused {
            code,
            customer_message,
        } = refused("insufficient_funds")
        else {
            panic!("not a refusal");
        };
        assert_eq!(code, "insufficient_funds");
        assert!(customer_message.contains("another card"));
        assert!(crate::payments::stripe::customer_message("x").contains("declined"));
    }
}
