//! Headers: webhook signatures through their public functions (WhatsApp
//! `X-Hub-Signature-256`, the email webhook's `X-Omnibridge-Signature` + timestamp,
//! `Stripe-Signature`) and `Last-Event-ID`. Arbitrary headers never panic and are refused; a
//! correct signature is accepted; a changed body is refused.

use hmac::{Hmac, Mac};
use omnibridge::payments::stripe::webhook::verify_stripe_signature;
use proptest::prelude::*;
use sha2::Sha256;

use super::strategies::{config, no_hang, text, text_of};

const NOW: i64 = 1_760_000_000;

fn header() -> BoxedStrategy<String> {
    prop_oneof![
        text(120),
        text_of("sha256=0123456789abcdefABCDEF ,", 90),
        text_of("tv01=,0123456789abcdef -", 160),
        (any::<i64>(), text_of("0123456789abcdef", 70))
            .prop_map(|(t, h)| format!("t={t},v1={h},v0={h}")),
    ]
    .boxed()
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

fn stripe_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_headers_never_panic_and_are_refused(
        header in header(),
        body in body(),
        secret in prop::collection::vec(any::<u8>(), 0..64),
        timestamp in prop_oneof![text(20), any::<i64>().prop_map(|t| t.to_string())],
        now in any::<i64>(),
    ) {
        let results = no_hang("signature checks", (header, body, secret, timestamp, now),
            |(header, body, secret, timestamp, now)| {
                // A random header carrying the right HMAC-SHA256 is a 2^-256 event.
                let whatsapp = omnibridge_whatsapp::inbound::verify_signature(&secret, Some(&header), &body).is_ok();
                let email = omnibridge_email::webhook::verify(
                    Some(&secret), Some(&timestamp), Some(&header), &body, now, 300,
                ).is_ok();
                let stripe = verify_stripe_signature(&body, &header, &secret, now, 300).is_ok();
                (whatsapp, email, stripe)
            });
        prop_assert_eq!(results, (false, false, false), "an arbitrary header was accepted");
    }

    #[test]
    fn correct_signatures_pass_and_changed_bodies_fail(
        body in body(),
        secret in prop::collection::vec(any::<u8>(), 1..64),
        flip in any::<prop::sample::Index>(),
        skew in -300i64..=300,
    ) {
        let whatsapp = omnibridge_whatsapp::inbound::sign(&secret, &body);
        prop_assert!(omnibridge_whatsapp::inbound::verify_signature(&secret, Some(&whatsapp), &body).is_ok());
        let sent = NOW + skew;
        let email = omnibridge_email::webhook::sign(&secret, sent, &body);
        let stamp = sent.to_string();
        prop_assert!(omnibridge_email::webhook::verify(Some(&secret), Some(&stamp), Some(&email), &body, NOW, 300).is_ok());
        let stripe = stripe_header(&secret, sent, &body);
        prop_assert!(verify_stripe_signature(&body, &stripe, &secret, NOW, 300).is_ok());
        prop_assert!(verify_stripe_signature(&body, &stripe, &secret, NOW + 301 + skew.abs(), 300).is_err());
        let mut changed = body.clone();
        if changed.is_empty() {
            changed.push(0);
        } else {
            let i = flip.index(changed.len());
            changed[i] ^= 1;
        }
        prop_assert!(omnibridge_whatsapp::inbound::verify_signature(&secret, Some(&whatsapp), &changed).is_err());
        prop_assert!(omnibridge_email::webhook::verify(Some(&secret), Some(&stamp), Some(&email), &changed, NOW, 300).is_err());
        prop_assert!(verify_stripe_signature(&changed, &stripe, &secret, NOW, 300).is_err());
    }

    #[test]
    fn last_event_id_parses_only_seq_numbers(value in prop::collection::vec(any::<u8>(), 0..40), seq in any::<u64>()) {
        let parsed = omnibridge::http::stream::parse_last_event_id(&value);
        if parsed.is_some() {
            let text = std::str::from_utf8(&value).unwrap();
            let number = text.trim_matches(|c: char| c.is_ascii_whitespace());
            prop_assert!(number.strip_prefix('+').unwrap_or(number).bytes().all(|b| b.is_ascii_digit()), "{:?}", text);
        }
        prop_assert_eq!(omnibridge::http::stream::parse_last_event_id(format!(" {seq}\t").as_bytes()), Some(seq));
    }
}
