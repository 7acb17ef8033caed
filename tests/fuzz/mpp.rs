//! MPP headers as the bridge reads and writes them (`mpp` crate, used by
//! `src/payments/mpp/challenge.rs`): `Authorization: Payment` parsing on arbitrary input
//! and near-valid credentials, and the round trips challenge → `WWW-Authenticate` → parse →
//! the same challenge (still HMAC-valid) and credential → `Authorization` → parse → same.
//! Descriptions and realms are arbitrary text: a payment intent's description comes from the
//! business API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mpp::protocol::core::{
    Base64UrlJson, PaymentChallenge, PaymentCredential, format_authorization,
    format_www_authenticate, parse_authorization, parse_www_authenticate,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::strategies::{config, json, no_hang, text, text_of};

const SECRET: &str = "fuzz-challenge-secret-0123456789abcdef";

const KEYS: &[&str] = &[
    "challenge",
    "id",
    "realm",
    "method",
    "intent",
    "request",
    "expires",
    "description",
    "digest",
    "opaque",
    "payload",
    "source",
    "spt",
    "token",
    "type",
    "signature",
    "hash",
];

/// A challenge as `challenge::issue` builds one, with arbitrary realm and description.
fn challenge() -> impl Strategy<Value = PaymentChallenge> {
    (
        text(40),
        prop::sample::select(&["sandbox", "stripe"][..]),
        (
            1u64..u64::MAX,
            text(60),
            text_of("abcdefghijklmnopqrstuvwxyz", 3),
        ),
        prop::option::of(text(80)),
        prop::option::of(text(20)),
        (0i64..4_102_444_800),
    )
        .prop_map(
            |(realm, method, (amount, external, currency), description, nonce, expires)| {
                let request = Base64UrlJson::from_value(&json!({
                    "amount": amount.to_string(), "currency": currency,
                    "description": description, "externalId": external,
                    "methodDetails": {"networkId": "profile_x", "paymentMethodTypes": ["card"]},
                }))
                .unwrap();
                let opaque =
                    Base64UrlJson::from_value(&json!({"intent_id": "pi_1", "nonce": nonce}))
                        .unwrap();
                let expires = chrono::DateTime::from_timestamp(expires, 0)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                PaymentChallenge::with_secret_key_full(
                    SECRET,
                    realm,
                    method,
                    "charge",
                    request,
                    Some(&expires),
                    None,
                    description.as_deref(),
                    Some(opaque),
                    None,
                )
            },
        )
}

fn authorization() -> BoxedStrategy<String> {
    prop_oneof![
        text(200),
        text(200).prop_map(|t| format!("Payment {t}")),
        text_of("ABCabcxyz0189-_=+/ ", 200).prop_map(|t| format!("Payment {t}")),
        json(KEYS, 4).prop_map(|v| format!("Payment {}", URL_SAFE_NO_PAD.encode(v.to_string()))),
        (challenge(), json(KEYS, 2)).prop_map(|(c, mut v)| {
            if let Value::Object(map) = &mut v {
                map.insert(
                    "challenge".into(),
                    serde_json::to_value(c.to_echo()).unwrap(),
                );
            }
            format!("Payment {}", URL_SAFE_NO_PAD.encode(v.to_string()))
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_authorization_values_never_panic(header in authorization()) {
        no_hang("parse_authorization", header, |header| {
            if let Ok(credential) = parse_authorization(&header) {
                // What the bridge does next with a parsed credential.
                let _ = credential.payload.is_object();
                let _ = credential.challenge.realm.len();
            }
        });
    }

    #[test]
    fn arbitrary_www_authenticate_values_never_panic(header in authorization()) {
        let header = header.replacen("Payment ", "Payment id=", 1);
        no_hang("parse_www_authenticate", header, |header| {
            let _ = parse_www_authenticate(&header);
        });
    }

    #[test]
    fn a_challenge_survives_its_header(challenge in challenge()) {
        let original = serde_json::to_value(&challenge).unwrap();
        // Validation refuses control characters in descriptions (`payments::validate`); the
        // header syntax cannot carry them, and formatting says so with an error.
        let carriable = !challenge.realm.chars().any(char::is_control)
            && !challenge.description.as_deref().unwrap_or("").chars().any(char::is_control);
        let parsed = no_hang("challenge round trip", challenge, |challenge| {
            let header = format_www_authenticate(&challenge).map_err(|e| e.to_string())?;
            parse_www_authenticate(&header).map_err(|e| format!("{e}: {header}"))
        });
        match parsed {
            Err(error) => prop_assert!(!carriable, "{}", error),
            Ok(parsed) => {
                prop_assert!(parsed.verify(SECRET), "the HMAC binding survives");
                prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), original);
            }
        }
    }

    #[test]
    fn a_credential_survives_its_header(challenge in challenge(), payload in json(KEYS, 3)) {
        let credential = PaymentCredential::new(challenge.to_echo(), json!({"spt": payload}));
        let original = serde_json::to_value(&credential).unwrap();
        let header = format_authorization(&credential).unwrap();
        let parsed = parse_authorization(&header).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(serde_json::to_value(&parsed).unwrap(), original);
    }
}
