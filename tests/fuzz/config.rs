//! Config loading: arbitrary text and generated TOML (known tables and keys, values of any
//! type, `[[channels]]` of every type with nested tables) into `Settings::load_from`, then
//! `omnibridge check`'s per-channel check on what loaded. Never a panic, always an answer.

use std::collections::HashMap;

use omnibridge::channels::ChannelFactories;
use omnibridge::config::Settings;
use proptest::prelude::*;

use super::strategies::{config, no_hang, text, text_of, word};

const TABLES: &[&str] = &[
    "server",
    "storage",
    "storage.redis",
    "storage.s3",
    "api",
    "outbox",
    "templates",
    "webchat",
    "payments",
    "payments.stripe",
    "payments.wallet",
    "channels.imap",
    "channels.smtp",
    "channels.sender_check",
    "channels.template_mappings.payment_request",
    "metrics",
];
const ARRAYS: &[&str] = &[
    "channels",
    "webhooks",
    "payments.linked_sources",
    "api.keys",
];
const KEYS: &[&str] = &[
    "bind",
    "public_url",
    "max_body_bytes",
    "shutdown_grace_secs",
    "data_dir",
    "bus",
    "durability",
    "media",
    "endpoint",
    "region",
    "allow_http",
    "access_key_id_env",
    "secret_access_key_env",
    "url",
    "keys",
    "name",
    "sha256",
    "scopes",
    "max_attempts",
    "initial_backoff_ms",
    "max_backoff_ms",
    "dir",
    "default_locale",
    "enabled",
    "allowed_origins",
    "session_ttl_secs",
    "realm",
    "challenge_ttl_secs",
    "live",
    "sandbox",
    "secret_env",
    "previous_secret_envs",
    "api_base",
    "secret_key_env",
    "network_id",
    "payment_method_types",
    "webhook_secret_env",
    "default_source",
    "sandbox_token",
    "base_url",
    "confirm_keywords",
    "id",
    "type",
    "max_media_bytes",
    "phone_number_id",
    "access_token_env",
    "app_secret_env",
    "verify_token_env",
    "api_version",
    "address",
    "display_name",
    "imap_password_env",
    "smtp_password_env",
    "host",
    "port",
    "tls",
    "username",
    "mailbox",
    "idle_secs",
    "poll_secs",
    "mode",
    "authserv_id",
    "dns_server",
    "language",
    "body_params",
    "button_params",
    "always",
    "channel",
    "user_id",
    "source",
    "token",
    "events",
];

/// A TOML value of any type, sometimes a plausible one for the bridge.
fn value() -> BoxedStrategy<String> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        text(24).prop_map(|s| format!("{s:?}")),
        word(&[
            "\"whatsapp\"",
            "\"email\"",
            "\"webchat\"",
            "\"sqlite\"",
            "\"local\"",
            "\"s3://omni-media/p\"",
            "\"redis\"",
            "\"127.0.0.1:0\"",
            "\"sandbox\"",
            "\"none\"",
            "\"implicit\"",
            "\"starttls\"",
            "\"dkim\"",
            "\"a@b.c\"",
            "\"X_ENV\"",
            "\"http://127.0.0.1:1\"",
            "1e999",
            "99999999999999999999",
            "-0",
            "nan",
            "inf",
            "1979-05-27T07:32:00Z",
            "''",
            "\"\"",
        ]),
    ];
    scalar
        .prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((word(KEYS), inner), 0..3).prop_map(|pairs| {
                    let body: Vec<String> = pairs
                        .into_iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect();
                    format!("{{ {} }}", body.join(", "))
                }),
            ]
        })
        .boxed()
}

fn line() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (word(KEYS), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => word(TABLES).prop_map(|t| format!("[{t}]")),
        1 => word(ARRAYS).prop_map(|t| format!("[[{t}]]")),
        1 => text(30),
        1 => text_of("[]=\"'{},.#\\ \nabc", 20),
    ]
    .boxed()
}

fn load(toml: String, env: Vec<(String, String)>) -> String {
    no_hang("config load", (toml, env), |(toml, env)| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.toml");
        std::fs::write(&path, &toml).unwrap();
        let lookup: HashMap<String, String> = env.iter().cloned().collect();
        match Settings::load_from(Some(&path), env) {
            Ok(settings) => {
                let factories = ChannelFactories::builtin();
                for entry in &settings.channels {
                    let _ = factories.check(entry, &lookup, "http://127.0.0.1");
                }
                "loaded".to_owned()
            }
            Err(error) => error.to_string(),
        }
    })
}

fn env() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            word(&[
                "OMNIBRIDGE__SERVER__BIND",
                "OMNIBRIDGE__OUTBOX__MAX_ATTEMPTS",
                "OMNIBRIDGE__PAYMENTS__LIVE",
                "OMNIBRIDGE__CHANNELS",
                "OMNIBRIDGE____",
                "OMNIBRIDGE_API_KEYS",
                "OMNIBRIDGE_PAYMENTS_SECRET",
                "X_ENV",
            ]),
            text(20),
        ),
        0..3,
    )
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn arbitrary_text_never_panics(toml in text(300), env in env()) {
        let _ = load(toml, env);
    }

    #[test]
    fn generated_toml_never_panics(lines in prop::collection::vec(line(), 0..16), env in env()) {
        let _ = load(lines.join("\n"), env);
    }
}
