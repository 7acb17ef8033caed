//! Tests of layering, error messages, secrets and API keys.

use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn file(body: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(f.path(), body).unwrap();
    f
}

#[test]
fn embedded_defaults_load() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(s.storage.bus, Bus::Sqlite);
    assert_eq!(s.storage.durability, Durability::Full);
    assert_eq!(s.templates.default_locale, "en");
    assert!(s.webchat.enabled);
    assert!(s.webhooks.is_empty() && s.channels.is_empty() && s.api.keys.is_empty());
}

#[test]
fn file_overrides_embedded_and_env_overrides_file() {
    let f = file(
        "[server]\nbind = \"0.0.0.0:8081\"\nmax_body_bytes = 2048\n\
         [storage]\nbus = \"redis://localhost:6379\"\ndurability = \"normal\"\n",
    );
    let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
    assert_eq!(s.server.bind.to_string(), "0.0.0.0:8081");
    assert_eq!(s.server.max_body_bytes, 2048);
    assert_eq!(s.server.shutdown_grace_secs, 10, "embedded default kept");
    assert_eq!(s.storage.bus, Bus::Redis("redis://localhost:6379".into()));
    assert_eq!(s.storage.durability, Durability::Normal);

    let vars = env(&[
        ("OMNIBRIDGE__SERVER__BIND", "0.0.0.0:9000"),
        ("OMNIBRIDGE__OUTBOX__MAX_ATTEMPTS", "3"),
        (
            "OMNIBRIDGE__WEBCHAT__ALLOWED_ORIGINS",
            "[\"https://a.example\"]",
        ),
        ("OMNIBRIDGE_UNRELATED", "x"),
    ]);
    let s = Settings::load_from(Some(f.path()), vars).unwrap();
    assert_eq!(s.server.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(s.server.max_body_bytes, 2048, "file value kept");
    assert_eq!(s.outbox.max_attempts, 3);
    assert_eq!(s.webchat.allowed_origins, ["https://a.example"]);
}

#[test]
fn missing_config_file_is_an_error() {
    let err = Settings::load_from(Some(Path::new("/nonexistent/omni.toml")), env(&[]));
    assert!(matches!(err.unwrap_err(), ConfigError::File { .. }));
}

#[test]
fn unknown_fields_are_named() {
    let f = file("[server]\nbnd = \"0.0.0.0:1\"\n");
    let err = Settings::load_from(Some(f.path()), env(&[])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("unknown key `bnd` in [server]"), "{msg}");
    assert_eq!(
        msg.matches("bnd").count(),
        1,
        "the key is named once: {msg}"
    );
    assert!(msg.contains("valid keys: bind, public_url"), "{msg}");
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");

    let err = Settings::load_from(None, env(&[("OMNIBRIDGE__OUTBOX__RETRIES", "1")]));
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.starts_with("unknown key `retries` in [outbox]"),
        "{msg}"
    );
    assert!(msg.contains("OMNIBRIDGE__OUTBOX__RETRIES"), "{msg}");

    let f = file("[metrics]\nenabled = true\n");
    let msg = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("unknown key `metrics` in the top level"),
        "{msg}"
    );
    assert!(msg.contains("server, storage, api"), "{msg}");
}

#[test]
fn invalid_values_are_named() {
    let vars = env(&[("OMNIBRIDGE__SERVER__BIND", "not-an-address")]);
    let err = Settings::load_from(None, vars).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("invalid value for server.bind: "), "{msg}");
    assert!(msg.contains("OMNIBRIDGE__SERVER__BIND"), "{msg}");

    let f = file("[storage]\nbus = \"kafka\"\n");
    let msg = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("invalid value for storage.bus: "), "{msg}");

    let f = file("[api]\nkeys = [{ name = \"ops\", sha256 = \"abc\" }]\n");
    let msg = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("invalid value for api.keys.0.sha256: "),
        "{msg}"
    );
}

const WEBHOOK: &str = "[[webhooks]]\nname = \"crm\"\nurl = \"https://crm.example/hooks\"\n\
                       secret_env = \"OMNIBRIDGE_WEBHOOK_CRM_SECRET\"\n";

#[test]
fn secrets_come_from_the_named_env_var_and_never_print() {
    let f = file(WEBHOOK);
    let vars = env(&[("OMNIBRIDGE_WEBHOOK_CRM_SECRET", "s3cr3t-value")]);
    let s = Settings::load_from(Some(f.path()), vars).unwrap();
    let hook = &s.webhooks[0];
    assert_eq!(hook.secret.expose(), "s3cr3t-value");
    assert_eq!((hook.max_attempts, hook.max_backoff_ms), (10, 300_000));
    assert!(!format!("{s:?}").contains("s3cr3t-value"));
    assert!(format!("{s:?}").contains("[redacted]"));

    let err = Settings::load_from(Some(f.path()), env(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "webhooks.crm.secret_env names env var OMNIBRIDGE_WEBHOOK_CRM_SECRET, which is not set"
    );

    let f = file(&format!("{WEBHOOK}secret = \"literal\"\n"));
    let vars = env(&[("OMNIBRIDGE_WEBHOOK_CRM_SECRET", "x")]);
    let msg = Settings::load_from(Some(f.path()), vars)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("unknown key `secret` in [webhooks"),
        "{msg}"
    );
    assert!(msg.contains("secret_env"), "{msg}");
}

#[test]
fn api_keys_from_config_and_env() {
    let hash = hex::encode(Sha256Hex::of(b"ops-key").0);
    let f = file(&format!(
        "[api]\nkeys = [{{ name = \"ops\", sha256 = \"{hash}\" }}]\n"
    ));
    let vars = env(&[("OMNIBRIDGE_API_KEYS", "dev1,dev2")]);
    let s = Settings::load_from(Some(f.path()), vars).unwrap();
    let keys = s.api_keys();
    assert_eq!(keys.verify("ops-key").map(|k| k.name.as_str()), Some("ops"));
    assert_eq!(keys.verify("dev2").map(|k| k.name.as_str()), Some("env-2"));
    assert!(keys.verify("nope").is_none());
    assert!(!format!("{s:?}").contains("dev1"));
    // No `scopes` in config: all of them, as before scopes existed; env keys: all of them.
    assert_eq!(keys.verify("ops-key").unwrap().scopes, Scopes::all());
    assert_eq!(keys.verify("dev1").unwrap().scopes, Scopes::all());
}

fn key_with_scopes(scopes: &str) -> String {
    let hash = hex::encode(Sha256Hex::of(b"k").0);
    format!("[[api.keys]]\nname = \"ops\"\nsha256 = \"{hash}\"\nscopes = {scopes}\n")
}

/// The load error of a key with `scopes` (TOML text).
fn scopes_error(scopes: &str) -> String {
    let f = file(&key_with_scopes(scopes));
    Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string()
}

#[test]
fn api_key_scopes_are_listed_or_all() {
    let f = file(&key_with_scopes("[\"messages\", \"agent\", \"messages\"]"));
    let s = Settings::load_from(Some(f.path()), env(&[("OMNIBRIDGE_API_KEYS", "dev")])).unwrap();
    let scopes = s.api.keys[0].scopes;
    assert_eq!(
        scopes.iter().collect::<Vec<_>>(),
        [Scope::Messages, Scope::Agent]
    );
    let keys = s.api_keys();
    assert!(!keys.verify("k").unwrap().scopes.contains(Scope::Payments));
    assert_eq!(
        keys.verify("dev").unwrap().scopes,
        Scopes::all(),
        "env keys keep all scopes"
    );

    for scope in ["messages", "payments", "templates", "admin", "agent"] {
        let f = file(&key_with_scopes(&format!("[\"{scope}\"]")));
        let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
        let only: Vec<&str> = s.api.keys[0].scopes.iter().map(Scope::as_str).collect();
        assert_eq!(only, [scope]);
    }
}

#[test]
fn unknown_or_no_api_key_scopes_are_refused() {
    let f = file(&key_with_scopes("[\"messages\", \"payment\"]"));
    let msg = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("invalid value for api.keys.0.scopes"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "unknown scope `payment`; valid scopes: messages, payments, templates, admin, agent"
        ),
        "{msg}"
    );
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");

    let msg = scopes_error("[\"Messages\"]");
    assert!(msg.contains("unknown scope `Messages`"), "{msg}");

    let msg = scopes_error("[]");
    assert!(
        msg.starts_with("invalid value for api.keys.0.scopes: "),
        "{msg}"
    );
    assert!(msg.contains("an empty list grants nothing"), "{msg}");

    let msg = scopes_error("\"messages\"");
    assert!(
        msg.starts_with("invalid value for api.keys.0.scopes: "),
        "{msg}"
    );
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeChannelConfig {
    phone_number_id: String,
}

#[test]
fn channels_keep_their_own_keys() {
    let f =
        file("[[channels]]\nid = \"acme-wa\"\ntype = \"whatsapp\"\nphone_number_id = \"123\"\n");
    let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
    let ch = &s.channels[0];
    assert_eq!((ch.id.as_str(), ch.kind.as_str()), ("acme-wa", "whatsapp"));
    let cfg: FakeChannelConfig = ch.config().unwrap();
    assert_eq!(cfg.phone_number_id, "123");
}

#[test]
fn production_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/production.example.toml");
    let vars = env(&[
        ("OMNIBRIDGE_WEBHOOK_CRM_SECRET", "x"),
        ("OMNIBRIDGE_MEDIA_S3_ACCESS_KEY_ID", "id"),
        ("OMNIBRIDGE_MEDIA_S3_SECRET_ACCESS_KEY", "secret"),
        (
            "OMNIBRIDGE_POSTGRES_URL",
            "postgres://bridge:pw@db.internal/omnibridge",
        ),
    ]);
    let s = Settings::load_from(Some(&path), vars).unwrap();
    assert_eq!(s.webhooks.len(), 1);
    assert_eq!(s.storage.state, StateBackend::PostgresFromEnv);
    assert_eq!(s.channels.len(), 1);
    assert!(matches!(s.storage.bus, Bus::Redis(_)));
    assert!(matches!(s.storage.media, MediaBackend::S3 { .. }));
    let scopes: Vec<(&str, Scopes)> = s
        .api
        .keys
        .iter()
        .map(|k| (k.name.as_str(), k.scopes))
        .collect();
    assert_eq!(
        scopes,
        [
            ("ops", Scopes::all()),
            ("crm", Scope::Messages.into()),
            ("billing", Scope::Payments.into())
        ]
    );
}

#[test]
fn payment_secrets_come_from_env_and_are_long_enough() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert!(s.payments.sandbox && !s.payments.live);
    assert!(s.payments.secret.is_none(), "generated at start when unset");
    assert_eq!(s.payments.stripe.payment_method_types, ["card"]);

    let long = "0123456789abcdef0123456789abcdef";
    let vars = env(&[("OMNIBRIDGE_PAYMENTS_SECRET", long)]);
    let s = Settings::load_from(None, vars).unwrap();
    assert_eq!(s.payments.secret.as_ref().unwrap().expose(), long);
    assert!(!format!("{s:?}").contains(long));

    let vars = env(&[("OMNIBRIDGE_PAYMENTS_SECRET", "short")]);
    let msg = Settings::load_from(None, vars).unwrap_err().to_string();
    assert!(
        msg.contains("payments.secret_env") && msg.contains("32 bytes"),
        "{msg}"
    );

    let f = file("[payments]\nprevious_secret_envs = [\"OLD_PAY_SECRET\"]\n");
    let msg = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("OLD_PAY_SECRET"), "{msg}");
    let vars = env(&[("OLD_PAY_SECRET", long)]);
    let s = Settings::load_from(Some(f.path()), vars).unwrap();
    assert_eq!(s.payments.previous_secrets.len(), 1);
}

#[test]
fn retention_has_defaults_and_takes_env_overrides() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    let r = &s.storage.retention;
    assert!(r.enabled);
    assert_eq!(r.max_age_secs, 30 * 24 * 3600);
    assert_eq!(r.max_log_bytes, 1 << 30);
    assert!(r.unacked_max_age_secs >= r.max_age_secs);
    assert_eq!(r.dedup_min_age_secs, 7 * 24 * 3600);
    let s = Settings::load_from(
        None,
        env(&[("OMNIBRIDGE__STORAGE__RETENTION__MAX_AGE_SECS", "30")]),
    )
    .unwrap();
    assert_eq!(s.storage.retention.max_age_secs, 30);
    let f = file("[storage.retention]\nmax_age = 5\n");
    let err = Settings::load_from(Some(f.path()), env(&[])).unwrap_err();
    assert!(err.to_string().contains("max_age"), "{err}");
}

/// Loads a key with scopes `["agent"]` and the guardrails table `rails` (TOML lines).
fn guarded(rails: &str) -> Result<Settings, ConfigError> {
    let f = file(&format!(
        "{}[api.keys.guardrails]\n{rails}\n",
        key_with_scopes("[\"agent\"]")
    ));
    Settings::load_from(Some(f.path()), env(&[("OMNIBRIDGE_API_KEYS", "dev")]))
}

#[test]
fn api_key_guardrails_load_and_errors_name_the_key_path() {
    let s = guarded(
        "currencies = [\"EUR\"]\nmax_amount = { EUR = 50000 }\n\
         [api.keys.guardrails.daily_limit]\nper_key = { EUR = 500000 }",
    )
    .unwrap();
    let rails = s.api.keys[0].guardrails.as_ref().unwrap();
    assert_eq!(rails.max_amount("EUR"), Some(50000));
    assert_eq!(rails.daily_per_key("EUR"), Some(500000));
    assert_eq!(
        rails.refunds(),
        &RefundRights::None,
        "a guarded key refunds nothing by default"
    );
    let keys = s.api_keys();
    assert!(
        keys.verify("dev").unwrap().guardrails.is_none(),
        "env keys are unguarded"
    );
    assert!(guarded("").unwrap().api.keys[0].guardrails.is_some());
    let unguarded = file(&key_with_scopes("[\"agent\"]"));
    let s = Settings::load_from(Some(unguarded.path()), env(&[])).unwrap();
    assert!(s.api.keys[0].guardrails.is_none());

    for (rails, key, reason) in [
        (
            "max_amount = { EUX = 5 }",
            "api.keys.0.guardrails.max_amount",
            "EUX",
        ),
        (
            "approval_above = { EUR = 0 }",
            "api.keys.0.guardrails.approval_above",
            "greater than 0",
        ),
        (
            "refunds = \"some\"",
            "api.keys.0.guardrails.refunds",
            "\"none\", \"all\"",
        ),
        (
            "[api.keys.guardrails.daily_limit]\nper_key = { EUR = -1 }",
            "api.keys.0.guardrails.daily_limit.per_key",
            "greater than 0",
        ),
    ] {
        let msg = guarded(rails).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("invalid value for {key}: ")),
            "{rails}: {msg}"
        );
        assert!(msg.contains(reason), "{rails}: {msg}");
    }
    let msg = guarded("max_per_intent = { EUR = 5 }")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("unknown key `max_per_intent` in [api.keys.0.guardrails]"),
        "{msg}"
    );
}

#[test]
fn media_is_local_by_default_and_s3_reads_its_credentials_from_env() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.storage.media, MediaBackend::Local);
    assert_eq!(s.storage.s3.region, "us-east-1");
    assert!(!s.storage.s3.allow_http && s.storage.s3.endpoint.is_none());

    let f = file(
        "[storage]\nmedia = \"s3://omni-media/prod/eu/\"\n\
         [storage.s3]\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\n\
         access_key_id_env = \"MEDIA_KEY_ID\"\nsecret_access_key_env = \"MEDIA_SECRET\"\n",
    );
    let vars = env(&[
        ("MEDIA_KEY_ID", "AKIDEXAMPLE"),
        ("MEDIA_SECRET", "wJalrXUtnFEMI-secret"),
    ]);
    let s = Settings::load_from(Some(f.path()), vars).unwrap();
    assert_eq!(
        s.storage.media,
        MediaBackend::S3 {
            bucket: "omni-media".into(),
            prefix: "prod/eu".into()
        }
    );
    assert_eq!(s.storage.s3.access_key_id.expose(), "AKIDEXAMPLE");
    assert_eq!(
        s.storage.s3.secret_access_key.expose(),
        "wJalrXUtnFEMI-secret"
    );
    assert!(!format!("{:?}", s.storage).contains("wJalrXUtnFEMI-secret"));

    // The embedded default names AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    let vars = env(&[
        ("OMNIBRIDGE__STORAGE__MEDIA", "s3://omni-media"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ]);
    let err = Settings::load_from(None, vars).unwrap_err();
    assert!(
        matches!(&err, ConfigError::MissingSecret { key, var }
            if key == "storage.s3.secret_access_key_env" && var == "AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(!err.to_string().contains("AKIDEXAMPLE"), "{err}");
}

#[test]
fn bad_media_urls_are_named() {
    for bad in [
        "s3:/omni",
        "gs://omni-media",
        "s3://",
        "s3://Upper_Case",
        "s3://omni-media/../x",
        "s3://omni-media/a b",
    ] {
        let vars = env(&[("OMNIBRIDGE__STORAGE__MEDIA", bad)]);
        let msg = Settings::load_from(None, vars).unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid value for storage.media: "),
            "{bad}: {msg}"
        );
    }
    let f = file("[storage.s3]\nsecret_access_key = \"inline\"\n");
    let msg = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown key `secret_access_key`"), "{msg}");
}

#[test]
fn state_is_sqlite_by_default_and_postgres_from_a_url_or_the_named_env_var() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.storage.state, StateBackend::Sqlite);
    assert_eq!(s.storage.postgres.url_env, "OMNIBRIDGE_POSTGRES_URL");
    assert_eq!(s.storage.postgres.max_connections, 16);

    let url = "postgres://bridge:s3cr3t-pw@db.internal:5432/omnibridge";
    let s = Settings::load_from(None, env(&[("OMNIBRIDGE__STORAGE__STATE", url)])).unwrap();
    assert_eq!(s.storage.postgres.url.expose(), url);
    let shown = format!("{:?}", s.storage);
    assert!(
        !shown.contains("s3cr3t-pw") && !shown.contains("bridge:"),
        "{shown}"
    );
    assert!(shown.contains("db.internal:5432/omnibridge"), "{shown}");

    let f = file("[storage]\nstate = \"postgres\"\n[storage.postgres]\nurl_env = \"PG_URL\"\n");
    let s = Settings::load_from(Some(f.path()), env(&[("PG_URL", url)])).unwrap();
    assert_eq!(s.storage.state, StateBackend::PostgresFromEnv);
    assert_eq!(s.storage.postgres.url.expose(), url);
    let missing = Settings::load_from(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("storage.postgres.url_env") && missing.contains("PG_URL"),
        "{missing}"
    );

    let bad = Settings::load_from(
        None,
        env(&[("OMNIBRIDGE__STORAGE__STATE", "mysql://x:pw@h/db")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("expected \"sqlite\", \"postgres\" or a postgres:// URL"),
        "{bad}"
    );
    assert!(!bad.contains("pw@"), "{bad}");
}
