//! Inbound: webhook authentication, the subscription handshake and normalisation. All pure:
//! no I/O, no clock, no panics on any input.
//!
//! - [`verify_signature`]: `X-Hub-Signature-256: sha256=<hex>` is an HMAC-SHA256 of the raw
//!   body with the app secret, compared in constant time before anything parses the body.
//! - [`handshake`]: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.
//! - [`normalize`]: `entry[].changes[].value` → canonical events ([`messages`], [`statuses`]).
//!
//! Where errors go: **value-level** `errors[]` (nothing else to attach them to) become a
//! `delivery.updated` with status `failed`, the code and `title: details`, on the thread
//! [`SYSTEM_THREAD`] of the phone number, sender role `system`; **message-level** errors (type
//! `unsupported`) become `message.received` with `Content::Unsupported` whose `provider_type`
//! reads `unsupported (error 131051: Message type unknown)`; **status-level** errors are the
//! `failed` status's code and reason. Changes of other webhook fields (`account_update`,
//! template status…) become an `unsupported` event `field.<name>` on [`SYSTEM_THREAD`].

pub mod messages;
pub mod statuses;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use omnibridge_sdk::{
    ChannelError, ConversationRef, Delivery, InboundEvent, Participant, RawPayload, Role, Timestamp,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::wire::webhook::{ContactProfile, Metadata, WireError};

/// The signature header Meta sets on every webhook.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The conversation thread for events about the phone number itself rather than a customer.
pub const SYSTEM_THREAD: &str = "_system";

/// The thread used when a payload names no customer at all.
pub const UNKNOWN_THREAD: &str = "_unknown";

/// Checks `sha256=<hex>` against the HMAC-SHA256 of `body` under `app_secret`, in constant
/// time.
pub fn verify_signature(
    app_secret: &[u8],
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), ChannelError> {
    let signature = signature.ok_or(ChannelError::Unauthorized {
        reason: "missing_signature",
    })?;
    let bad = ChannelError::Unauthorized {
        reason: "bad_signature",
    };
    let hex_digest =
        signature
            .trim()
            .strip_prefix("sha256=")
            .ok_or(ChannelError::Unauthorized {
                reason: "bad_signature",
            })?;
    let expected = hex::decode(hex_digest).map_err(|_| ChannelError::Unauthorized {
        reason: "bad_signature",
    })?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| ChannelError::Unauthorized {
            reason: "bad_signature",
        })?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| bad)
}

/// Signs `body` the way Meta does: `sha256=<hex>`. For tests and the fake.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(app_secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Answers Meta's `GET` verification: the challenge as `text/plain` when `hub.mode` is
/// `subscribe` and `hub.verify_token` matches (constant time); `None` otherwise.
pub fn handshake(verify_token: &str, query: Option<&str>) -> Option<http::Response<Bytes>> {
    let query = query?;
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    let token_ok: bool = token?.as_bytes().ct_eq(verify_token.as_bytes()).into();
    let challenge = challenge.filter(|c| !c.is_empty() && c.len() <= 256)?;
    if mode.as_deref() != Some("subscribe") || !token_ok {
        return None;
    }
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Bytes::from(challenge))
        .ok()
}

/// Turns a verified webhook body into events. `default_account` is our phone-number id, used
/// when a change carries no `metadata.phone_number_id`. Only a body that is not JSON at all is
/// an error (`Malformed`, answered 400); anything else yields events, possibly none.
pub fn normalize(default_account: &str, body: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|error| ChannelError::Malformed(format!("not JSON: {error}")))?;
    let mut events = Vec::new();
    for entry in array(&root, "entry") {
        for change in array(entry, "changes") {
            let value = &change["value"];
            if !value.is_object() {
                continue;
            }
            let metadata: Metadata = read(&value["metadata"]);
            let account = metadata
                .phone_number_id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| default_account.to_owned());
            match change["field"].as_str() {
                Some("messages") | None => {}
                Some(other) => {
                    events.push(system_unsupported(
                        &account,
                        &format!("field.{other}"),
                        value,
                    ));
                    continue;
                }
            }
            let contacts: Vec<ContactProfile> = array(value, "contacts").map(read).collect();
            for message in array(value, "messages") {
                events.extend(messages::events(&account, &contacts, message));
            }
            for status in array(value, "statuses") {
                events.extend(statuses::events(&account, status));
            }
            for error in array(value, "errors") {
                events.push(value_error(&account, error));
            }
        }
    }
    Ok(events)
}

fn value_error(account: &str, raw: &Value) -> InboundEvent {
    let error: WireError = read(raw);
    InboundEvent::delivery(
        ConversationRef::new(account, SYSTEM_THREAD),
        Delivery::failed(error.code_text(), error.describe()),
    )
    .with_sender(Participant::with_role(Role::System))
    .with_dedup_key(format!("error:{}", digest(raw)))
    .with_raw(raw_copy(raw))
}

fn system_unsupported(account: &str, provider_type: &str, raw: &Value) -> InboundEvent {
    InboundEvent::message(
        ConversationRef::new(account, SYSTEM_THREAD),
        omnibridge_sdk::Content::unsupported(provider_type),
    )
    .with_sender(Participant::with_role(Role::System))
    .with_dedup_key(format!("{provider_type}:{}", digest(raw)))
    .with_raw(raw_copy(raw))
}

/// The elements of `value[key]` when it is an array; nothing otherwise.
pub(crate) fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Reads a lenient wire struct; a value that does not fit gives the default (all `None`).
pub(crate) fn read<T: serde::de::DeserializeOwned + Default>(value: &Value) -> T {
    T::deserialize(value).unwrap_or_default()
}

/// Unix seconds (string or number) → timestamp.
pub(crate) fn timestamp(value: Option<&Value>) -> Option<Timestamp> {
    let seconds = match value? {
        Value::String(text) => text.trim().parse::<i64>().ok()?,
        Value::Number(number) => number.as_i64()?,
        _ => return None,
    };
    chrono::DateTime::from_timestamp(seconds, 0)
}

/// A stable short hash of a JSON value, for de-duplicating things without ids.
pub(crate) fn digest(value: &Value) -> String {
    let hash = Sha256::digest(value.to_string().as_bytes());
    hex::encode(&hash[..12])
}

/// A capped copy of one message/status/error object (Meta's payloads carry no secrets).
pub(crate) fn raw_copy(value: &Value) -> RawPayload {
    RawPayload::capped("application/json", &value.to_string())
}
