//! The factory check: a [`ChannelFactory`] builds from a sample `[[channels]]` table and
//! names every secret it needs when that secret is unset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::MemoryState;
use crate::channel::{Channel, ChannelContext, ChannelFactory, SecretSource};
use crate::error::ChannelError;
use crate::ids::ChannelKind;

/// The keys of a `[[channels]]` table the bridge reads itself; the rest go to the factory.
const BRIDGE_KEYS: &[&str] = &["id", "type", "max_media_bytes"];

/// A key no channel takes, to see that the config refuses unknown keys.
const UNKNOWN_KEY: &str = "conformance_kit_unknown_key";

/// Secret values shorter than this are not searched for in error messages (a short value
/// like `x` appears in any text by chance).
const MIN_SEARCHED_SECRET_CHARS: usize = 6;

/// Checks a factory the way the bridge uses it, and lists every breach (empty: it conforms).
///
/// `table` is a sample `[[channels]]` table as JSON (for TOML, parse it into a
/// `serde_json::Value` first); its `id`, `type` and `max_media_bytes` keys, which the bridge
/// reads itself, are optional and set aside. `secrets` are the env vars the bridge would
/// pass, `(name, value)`. The checks:
///
/// - `F::KIND` is a valid [`ChannelKind`], and the table's `type`, if given, is `F::KIND`;
/// - the table deserializes into `F::Config`, and the same table with an unknown key does
///   not (`#[serde(deny_unknown_fields)]`: `omnibridge check` reports typos);
/// - `build` succeeds with every secret set, given a context with a [`MemoryState`];
/// - for each env var `build` asked for (through [`ChannelContext::secret`] or
///   [`secret_opt`](ChannelContext::secret_opt)), building with only that one unset fails
///   with [`ChannelError::Config`] whose message names the variable (`omnibridge check`
///   reports every variable a build asks for as needed, so ask only for the ones you need);
/// - no error shows a secret's value (values of 6 characters or more are searched for).
pub fn check_factory<F: ChannelFactory>(
    factory: &F,
    table: serde_json::Value,
    secrets: &[(&str, &str)],
) -> Vec<String> {
    run(factory, table, secrets).1
}

/// Panics with every breach [`check_factory`] finds; returns the channel built with every
/// secret set, for [`assert_conforms`](super::assert_conforms) and the adapter's own tests.
pub fn assert_factory_builds<F: ChannelFactory>(
    factory: &F,
    table: serde_json::Value,
    secrets: &[(&str, &str)],
) -> Arc<dyn Channel> {
    let (channel, breaches) = run(factory, table, secrets);
    assert!(
        breaches.is_empty(),
        "factory {:?} breaches the SDK contract:\n- {}",
        F::KIND,
        breaches.join("\n- ")
    );
    #[allow(clippy::expect_used)]
    channel.expect("built when there are no breaches")
}

fn run<F: ChannelFactory>(
    factory: &F,
    table: serde_json::Value,
    secrets: &[(&str, &str)],
) -> (Option<Arc<dyn Channel>>, Vec<String>) {
    let mut breaches = Vec::new();
    if let Err(error) = ChannelKind::new(F::KIND) {
        breaches.push(format!("KIND: {error}"));
    }
    let serde_json::Value::Object(mut table) = table else {
        breaches.push("the sample table is not a JSON object".to_owned());
        return (None, breaches);
    };
    match table.get("type").and_then(serde_json::Value::as_str) {
        Some(kind) if kind != F::KIND => breaches.push(format!(
            "the sample table's type is {kind:?}, but this factory's KIND is {:?}",
            F::KIND
        )),
        _ => {}
    }
    let id = table
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("conformance")
        .to_owned();
    for key in BRIDGE_KEYS {
        table.remove(*key);
    }
    let mut with_unknown = table.clone();
    with_unknown.insert(UNKNOWN_KEY.to_owned(), serde_json::Value::Bool(true));
    if serde_json::from_value::<F::Config>(serde_json::Value::Object(with_unknown)).is_ok() {
        breaches.push(format!(
            "Config accepts the unknown key {UNKNOWN_KEY:?}; add #[serde(deny_unknown_fields)] \
             so a mistyped key is reported"
        ));
    }
    let config = |table: &serde_json::Map<String, serde_json::Value>| {
        serde_json::from_value::<F::Config>(serde_json::Value::Object(table.clone()))
    };
    if let Err(error) = config(&table) {
        breaches.push(format!(
            "the sample table does not deserialize into Config: {error}"
        ));
        return (None, breaches);
    }
    let all: HashMap<String, String> = secrets
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let shows_secret = |error: &ChannelError| {
        let text = format!("{error} {error:?}");
        all.iter()
            .filter(|(_, value)| value.chars().count() >= MIN_SEARCHED_SECRET_CHARS)
            .find(|(_, value)| text.contains(value.as_str()))
            .map(|(name, _)| name.clone())
    };

    let (source, asked) = recording(all.clone(), None);
    let built = config(&table)
        .map_err(|e| ChannelError::config("", e.to_string()))
        .and_then(|config| factory.build(config, &context(&id, source)));
    let channel = match built {
        Ok(channel) => channel,
        Err(error) => {
            if let Some(name) = shows_secret(&error) {
                breaches.push(format!("a build error shows the value of {name}"));
            }
            breaches.push(format!("build failed with every secret set: {error}"));
            return (None, breaches);
        }
    };
    for var in asked_vars(&asked) {
        let (source, _) = recording(all.clone(), Some(var.clone()));
        let built = config(&table)
            .map_err(|e| ChannelError::config("", e.to_string()))
            .and_then(|config| factory.build(config, &context(&id, source)));
        match built {
            Ok(_) => breaches.push(format!(
                "built with {var} unset, although it asked for it: fail with \
                 ChannelError::Config naming {var} (omnibridge check reports every variable \
                 a build asks for as needed)"
            )),
            Err(error) => {
                if let Some(name) = shows_secret(&error) {
                    breaches.push(format!("a build error shows the value of {name}"));
                }
                if !matches!(error, ChannelError::Config { .. }) {
                    breaches.push(format!(
                        "with {var} unset, build failed with {:?} instead of \
                         ChannelError::Config: {error}",
                        error.code()
                    ));
                } else if !error.to_string().contains(var.as_str()) {
                    breaches.push(format!(
                        "with {var} unset, the build error does not name it: {error}"
                    ));
                }
            }
        }
    }
    (Some(channel), breaches)
}

/// A context like the bridge's: the channel's id, a public URL, a fresh state, `source`.
fn context(id: &str, source: SecretSource) -> ChannelContext {
    ChannelContext::new(id, "https://bridge.example")
        .with_state(Arc::new(MemoryState::new()))
        .with_secrets(source)
}

/// A secret source reading `secrets` (except `unset`) that records every name asked for.
fn recording(
    secrets: HashMap<String, String>,
    unset: Option<String>,
) -> (SecretSource, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = asked.clone();
    let source: SecretSource = Arc::new(move |var: &str| {
        if let Ok(mut asked) = record.lock() {
            asked.push(var.to_owned());
        }
        if unset.as_deref() == Some(var) {
            return None;
        }
        secrets.get(var).cloned()
    });
    (source, asked)
}

/// The names asked for, once each, in order.
fn asked_vars(asked: &Mutex<Vec<String>>) -> Vec<String> {
    let asked = asked.lock().map(|a| a.clone()).unwrap_or_default();
    let mut vars: Vec<String> = Vec::new();
    for var in asked {
        if !vars.contains(&var) {
            vars.push(var);
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::capabilities::Capabilities;
    use crate::outbound::{OutboundMessage, SendReceipt};

    struct Dummy(Capabilities);

    #[async_trait::async_trait]
    impl Channel for Dummy {
        fn kind(&self) -> ChannelKind {
            ChannelKind::new("dummy").unwrap()
        }
        fn capabilities(&self) -> &Capabilities {
            &self.0
        }
        async fn send(&self, _msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
            Ok(SendReceipt::sent(None))
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        token_env: String,
        #[serde(default)]
        optional_env: Option<String>,
    }

    #[derive(Deserialize)]
    struct Lax {
        token_env: String,
    }

    /// How the factory mishandles its secret.
    #[derive(Clone, Copy)]
    enum Mode {
        Right,
        /// Reads it with `secret_opt` and carries on without it.
        Ignores,
        /// Fails with a `Rejected` error.
        WrongVariant,
        /// Fails without naming the variable.
        Nameless,
        /// Puts the value in its error.
        Leaks,
    }

    struct StrictFactory(Mode);

    impl ChannelFactory for StrictFactory {
        const KIND: &'static str = "dummy";
        type Config = Strict;

        fn build(
            &self,
            config: Strict,
            cx: &ChannelContext,
        ) -> Result<Arc<dyn Channel>, ChannelError> {
            let token = cx.secret_opt(&config.token_env);
            match (self.0, token) {
                (Mode::Right, None) => {
                    cx.secret(&config.token_env)?;
                }
                (Mode::WrongVariant, None) => {
                    return Err(ChannelError::rejected("x", "no token"));
                }
                (Mode::Nameless, None) => return Err(ChannelError::config("", "no token")),
                (Mode::Leaks, _) => {
                    let other = cx.secret_opt("OTHER").unwrap_or_default();
                    return Err(ChannelError::config("", format!("bad: {other}")));
                }
                _ => {}
            }
            if let Some(var) = &config.optional_env {
                cx.secret(var)?;
            }
            Ok(Arc::new(Dummy(Capabilities::text_only(10))))
        }
    }

    struct LaxFactory;

    impl ChannelFactory for LaxFactory {
        const KIND: &'static str = "lax";
        type Config = Lax;

        fn build(
            &self,
            config: Lax,
            cx: &ChannelContext,
        ) -> Result<Arc<dyn Channel>, ChannelError> {
            cx.secret(&config.token_env)?;
            Ok(Arc::new(Dummy(Capabilities::text_only(10))))
        }
    }

    const SECRETS: &[(&str, &str)] = &[("TOKEN", "t0ken-value"), ("OTHER", "other-value")];

    #[test]
    fn a_right_factory_builds_and_names_each_secret() {
        let table = json!({"id": "d1", "type": "dummy", "max_media_bytes": 5,
                           "token_env": "TOKEN", "optional_env": "OTHER"});
        assert_eq!(
            check_factory(&StrictFactory(Mode::Right), table.clone(), SECRETS),
            Vec::<String>::new()
        );
        let channel = assert_factory_builds(&StrictFactory(Mode::Right), table, SECRETS);
        assert_eq!(channel.kind().as_str(), "dummy");
    }

    #[test]
    fn each_breach_is_named() {
        let table = json!({"token_env": "TOKEN"});
        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                check_factory(&StrictFactory(Mode::Ignores), table.clone(), SECRETS),
                "built with TOKEN unset, although it asked for it",
            ),
            (
                check_factory(&StrictFactory(Mode::WrongVariant), table.clone(), SECRETS),
                "with TOKEN unset, build failed with \"x\" instead of ChannelError::Config",
            ),
            (
                check_factory(&StrictFactory(Mode::Nameless), table.clone(), SECRETS),
                "with TOKEN unset, the build error does not name it",
            ),
            (
                check_factory(&StrictFactory(Mode::Leaks), table.clone(), SECRETS),
                "a build error shows the value of OTHER",
            ),
            (
                check_factory(&StrictFactory(Mode::Right), table.clone(), &[]),
                "build failed with every secret set: env var TOKEN is not set",
            ),
            (
                check_factory(&StrictFactory(Mode::Right), json!({"token": 1}), SECRETS),
                "does not deserialize into Config",
            ),
            (
                check_factory(
                    &StrictFactory(Mode::Right),
                    json!({"type": "other", "token_env": "TOKEN"}),
                    SECRETS,
                ),
                "type is \"other\", but this factory's KIND is \"dummy\"",
            ),
            (
                check_factory(&LaxFactory, table, SECRETS),
                "Config accepts the unknown key",
            ),
        ];
        for (breaches, expected) in cases {
            assert!(
                breaches.iter().any(|b| b.contains(expected)),
                "expected {expected:?} in {breaches:#?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "factory \"lax\" breaches the SDK contract")]
    fn assert_factory_builds_panics_with_the_breaches() {
        assert_factory_builds(&LaxFactory, json!({"token_env": "TOKEN"}), SECRETS);
    }
}
