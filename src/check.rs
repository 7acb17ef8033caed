//! `omnibridge check`: everything `serve` would refuse, found without starting anything.
//!
//! The config loads (unknown keys, bad values), every `[[channels]]` table is one its type
//! takes, every template compiles, the payment methods can be built, and every secret env
//! var the config names and `serve` needs is set. Unset variables are listed by name with
//! the key that names them; values are never printed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::channels::{ChannelFactories, MissingSecret};
use crate::config::{ConfigError, MIN_SECRET_BYTES, Settings};

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Problems, one line each (config, channels, templates, payments).
    pub problems: Vec<String>,
    /// Secret env vars the config needs and the environment does not set.
    pub missing: Vec<MissingSecret>,
    /// The templates directory that was checked (when the config loaded).
    pub templates_dir: Option<PathBuf>,
}

impl CheckReport {
    /// Nothing to fix: `serve` would start with this config and environment.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.missing.is_empty()
    }
}

/// Bound on the load-retry loop (one round per unset secret of `[[webhooks]]` and
/// `payments.previous_secret_envs`).
const MAX_ROUNDS: usize = 256;

/// Checks the config `file` (layered over the embedded defaults) with environment `env`,
/// knowing the built-in channel kinds.
pub fn check(file: Option<&Path>, env: &HashMap<String, String>) -> CheckReport {
    check_with(file, env, &ChannelFactories::builtin())
}

/// Like [`check`], with the channel kinds of `factories` (a business's own binary).
pub fn check_with(
    file: Option<&Path>,
    env: &HashMap<String, String>,
    factories: &ChannelFactories,
) -> CheckReport {
    let mut report = CheckReport::default();
    let Some(settings) = load(file, env, &mut report) else {
        return report;
    };
    let public_url = settings
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.server.bind));
    for entry in &settings.channels {
        match factories.check(entry, env, &public_url) {
            Ok(missing) => report.missing.extend(missing),
            Err(error) => report
                .problems
                .push(format!("channels.{}: {error}", entry.id)),
        }
    }
    check_payments(&settings, &mut report);
    report.problems.extend(
        crate::templates::check::check_merged(&settings.templates.dir)
            .iter()
            .map(ToString::to_string),
    );
    check_stored_templates(&settings, &mut report);
    report.templates_dir = Some(settings.templates.dir);
    report
}

/// Loads the settings; an unset secret the loader needs is recorded and stood in for, and
/// loading goes on, so one run names them all.
fn load(
    file: Option<&Path>,
    env: &HashMap<String, String>,
    report: &mut CheckReport,
) -> Option<Settings> {
    let mut env = env.clone();
    for _ in 0..MAX_ROUNDS {
        match Settings::load_from(file, env.clone()) {
            Ok(settings) => return Some(settings),
            Err(ConfigError::MissingSecret { key, var }) if !env.contains_key(&var) => {
                env.insert(var.clone(), "x".repeat(MIN_SECRET_BYTES));
                report.missing.push(MissingSecret { key, var });
            }
            Err(error) => {
                report.problems.push(format!("config: {error}"));
                return None;
            }
        }
    }
    report
        .problems
        .push("config: too many unset secrets".to_owned());
    None
}

/// The template versions published in the studio (in the store under `storage.data_dir`,
/// when it exists) load over the files as `serve` would load them. With the state in
/// PostgreSQL they are not read here (`serve` checks them as it loads them).
fn check_stored_templates(settings: &Settings, report: &mut CheckReport) {
    if settings.storage.state != crate::config::StateBackend::Sqlite {
        return;
    }
    let path = settings.storage.data_dir.join("omnibridge.sqlite");
    match crate::store::sqlite::templates::read_published(&path) {
        Ok(published) if published.is_empty() => {}
        Ok(published) => {
            if let Err(error) = crate::render::load_engine(&settings.templates.dir, &published) {
                report
                    .problems
                    .push(format!("templates (published in the studio): {error}"));
            }
        }
        Err(error) => report.problems.push(format!(
            "templates: cannot read the published versions: {error}"
        )),
    }
}

/// The payment secrets `serve` requires, then the methods built as `serve` builds them.
fn check_payments(settings: &Settings, report: &mut CheckReport) {
    let payments = &settings.payments;
    let mut missing = Vec::new();
    if payments.live && payments.secret.is_none() {
        missing.push(MissingSecret {
            key: "payments.secret_env".to_owned(),
            var: payments.secret_env.clone(),
        });
    }
    if payments.stripe.enabled && payments.stripe.secret_key.is_none() {
        missing.push(MissingSecret {
            key: "payments.stripe.secret_key_env".to_owned(),
            var: payments.stripe.secret_key_env.clone(),
        });
    }
    if missing.is_empty()
        && let Err(error) = crate::payments::setup::methods(payments)
    {
        report.problems.push(format!("payments: {error}"));
    }
    report.missing.extend(missing);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    fn templates() -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates")
            .display()
            .to_string()
    }

    const EVERYTHING: &str = r#"
[[webhooks]]
name = "crm"
url = "https://crm.example/hooks"
secret_env = "T_CRM"

[[webhooks]]
name = "erp"
url = "https://erp.example/hooks"
secret_env = "T_ERP"

[payments]
live = true
sandbox = false
secret_env = "T_PAY"

[payments.stripe]
enabled = true
secret_key_env = "T_STRIPE"
network_id = "profile_test"

[[channels]]
id = "wa"
type = "whatsapp"
phone_number_id = "1"
access_token_env = "T_WA_TOKEN"
app_secret_env = "T_WA_APP"
verify_token_env = "T_WA_VERIFY"
"#;

    #[test]
    fn every_unset_secret_is_listed_with_the_key_naming_it() {
        let f = file(EVERYTHING);
        let mut env: HashMap<String, String> =
            [("OMNIBRIDGE__TEMPLATES__DIR".to_owned(), templates())].into();
        env.insert("T_WA_APP".into(), "set".into());
        let report = check(Some(f.path()), &env);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let listed: Vec<(&str, &str)> = report
            .missing
            .iter()
            .map(|m| (m.key.as_str(), m.var.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("webhooks.crm.secret_env", "T_CRM"),
                ("webhooks.erp.secret_env", "T_ERP"),
                ("channels.wa.access_token_env", "T_WA_TOKEN"),
                ("channels.wa.verify_token_env", "T_WA_VERIFY"),
                ("payments.secret_env", "T_PAY"),
                ("payments.stripe.secret_key_env", "T_STRIPE"),
            ]
        );
        assert!(!report.is_ok());
        for var in ["T_CRM", "T_ERP", "T_WA_TOKEN", "T_WA_VERIFY", "T_STRIPE"] {
            env.insert(var.into(), "set".into());
        }
        env.insert("T_PAY".into(), "p".repeat(MIN_SECRET_BYTES));
        let report = check(Some(f.path()), &env);
        assert!(report.is_ok(), "{report:?}");
    }

    #[test]
    fn a_refused_method_combination_is_a_problem() {
        let f = file("[payments]\nlive = true\nsandbox = true\nsecret_env = \"T_PAY\"\n");
        let env: HashMap<String, String> = [
            ("OMNIBRIDGE__TEMPLATES__DIR".to_owned(), templates()),
            ("T_PAY".to_owned(), "p".repeat(MIN_SECRET_BYTES)),
        ]
        .into();
        let report = check(Some(f.path()), &env);
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(report.problems[0].starts_with("payments: "), "{report:?}");
    }

    #[tokio::test]
    async fn a_published_studio_version_that_does_not_load_is_a_problem() {
        use crate::templates::versions::{TemplateKey, TemplateStore};
        let data = tempfile::tempdir().unwrap();
        let db = crate::sqlite::Database::open(
            data.path().join("omnibridge.sqlite"),
            crate::sqlite::Durability::Normal,
        )
        .unwrap();
        let store = crate::store::sqlite::SqliteStore::new(db);
        let key = TemplateKey::parse("default", "en", "greeting").unwrap();
        let env: HashMap<String, String> = [
            ("OMNIBRIDGE__TEMPLATES__DIR".to_owned(), templates()),
            (
                "OMNIBRIDGE__STORAGE__DATA_DIR".to_owned(),
                data.path().display().to_string(),
            ),
        ]
        .into();
        let good = [(String::new(), "Hi {{name}}".to_owned())].into();
        store
            .add_template_version(&key, &good, "t", "ok")
            .await
            .unwrap();
        store.publish_template(&key, 1, "t").await.unwrap();
        assert!(
            check(None, &env).is_ok(),
            "{:?}",
            check(None, &env).problems
        );
        // The store takes what it is given; the API lints first, check finds it anyway.
        let broken = [(String::new(), "Hi {{#if name}}".to_owned())].into();
        store
            .add_template_version(&key, &broken, "t", "bad")
            .await
            .unwrap();
        store.publish_template(&key, 2, "t").await.unwrap();
        let report = check(None, &env);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("published in the studio")),
            "{:?}",
            report.problems
        );
    }
}
