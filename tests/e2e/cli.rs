//! The `omnibridge` binary's command line: `check`, config errors, `--help`, and a clean
//! shutdown on SIGTERM.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::process::{free_port, start_bridge};

fn omnibridge(args: &[&str], templates: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .args(args)
        .env("OMNIBRIDGE__TEMPLATES__DIR", templates)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn repo_templates() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

fn tree_with(file: &str, contents: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    dir
}

#[test]
fn check_passes_on_the_shipped_templates() {
    let output = omnibridge(&["check"], &repo_templates());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn check_names_file_and_line_of_a_syntax_error() {
    let tree = tree_with(
        "default/en/broken.hbs",
        "Hello\nthere\n{{#if name}}oops{{/each}}\n",
    );
    let output = omnibridge(&["check"], tree.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("default/en/broken.hbs:3"), "{stderr}");
}

#[test]
fn check_names_file_and_line_of_an_unknown_helper() {
    let tree = tree_with("webchat/de/greeting.hbs", "Hallo\n{{shout name}}!\n");
    let output = omnibridge(&["check"], tree.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("webchat/de/greeting.hbs:2"), "{stderr}");
    assert!(stderr.contains("shout"), "{stderr}");
}

#[test]
fn check_names_a_channel_table_s_unknown_key_without_needing_its_secrets() {
    let config = tree_with(
        "mail.toml",
        "[[channels]]\nid = \"acme-mail\"\ntype = \"email\"\naddres = \"s@acme.test\"\n\
         imap_password_env = \"NOT_SET_ANYWHERE\"\n[channels.smtp]\nhost = \"smtp.acme.test\"\n\
         [channels.imap]\nhost = \"imap.acme.test\"\nusername = \"s\"\n",
    );
    let path = config.path().join("mail.toml");
    let output = omnibridge(
        &["--config", path.to_str().unwrap(), "check"],
        &repo_templates(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("channels.acme-mail") && stderr.contains("addres"),
        "{stderr}"
    );
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("addres ", "address ");
    std::fs::write(&path, fixed).unwrap();
    // Keys fixed, the secret it names is still unset: listed by name, not "OK".
    let output = omnibridge(
        &["--config", path.to_str().unwrap(), "check"],
        &repo_templates(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("channels.acme-mail.imap_password_env: env var NOT_SET_ANYWHERE is not set"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("OK"));
    let output = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .args(["--config", path.to_str().unwrap(), "check"])
        .env("OMNIBRIDGE__TEMPLATES__DIR", repo_templates())
        .env("NOT_SET_ANYWHERE", "the-imap-password-value")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let all = [output.stdout, output.stderr].concat();
    assert!(!String::from_utf8_lossy(&all).contains("the-imap-password-value"));
}

#[test]
fn check_lists_every_unset_secret_and_an_unknown_key_s_valid_keys() {
    let config = tree_with(
        "wa.toml",
        "[[webhooks]]\nname = \"crm\"\nurl = \"https://crm.test/h\"\nsecret_env = \"UNSET_CRM\"\n\
         [payments.stripe]\nenabled = true\nnetwork_id = \"p\"\nsecret_key_env = \"UNSET_SK\"\n\
         [[channels]]\nid = \"acme-wa\"\ntype = \"whatsapp\"\nphone_number_id = \"1\"\n\
         access_token_env = \"UNSET_TOKEN\"\napp_secret_env = \"UNSET_APP\"\n\
         verify_token_env = \"UNSET_VERIFY\"\n",
    );
    let path = config.path().join("wa.toml");
    let output = omnibridge(
        &["--config", path.to_str().unwrap(), "check"],
        &repo_templates(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for (key, var) in [
        ("webhooks.crm.secret_env", "UNSET_CRM"),
        ("payments.stripe.secret_key_env", "UNSET_SK"),
        ("channels.acme-wa.access_token_env", "UNSET_TOKEN"),
        ("channels.acme-wa.app_secret_env", "UNSET_APP"),
        ("channels.acme-wa.verify_token_env", "UNSET_VERIFY"),
    ] {
        assert!(
            stderr.contains(&format!("{key}: env var {var} is not set")),
            "{stderr}"
        );
    }
    let typo = std::fs::read_to_string(&path)
        .unwrap()
        .replace("phone_number_id", "phone_numbr_id");
    std::fs::write(&path, typo).unwrap();
    let output = omnibridge(
        &["--config", path.to_str().unwrap(), "check"],
        &repo_templates(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("phone_numbr_id"))
        .expect("the typo is named");
    assert_eq!(line.matches("phone_numbr_id").count(), 1, "{line}");
    assert!(
        line.contains("valid keys: id, type, max_media_bytes, phone_number_id"),
        "{line}"
    );
}

#[test]
fn an_unknown_config_key_stops_the_start_naming_it() {
    let config = tree_with("bad.toml", "[server]\nbnd = \"127.0.0.1:1\"\n");
    let output = omnibridge(
        &[
            "--config",
            config.path().join("bad.toml").to_str().unwrap(),
            "check",
        ],
        &repo_templates(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("bnd") && stderr.contains("server"),
        "{stderr}"
    );
    let bad_env = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .args(["serve"])
        .env("OMNIBRIDGE__SERVER__BIND", "not-an-address")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad_env.stderr);
    assert!(!bad_env.status.success());
    assert!(stderr.contains("server.bind"), "{stderr}");
}

#[test]
fn help_lists_the_commands_and_flags() {
    let output = omnibridge(&["--help"], &repo_templates());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("serve") && stdout.contains("check") && stdout.contains("--config"),
        "{stdout}"
    );
    let serve = omnibridge(&["serve", "--help"], &repo_templates());
    let stdout = String::from_utf8_lossy(&serve.stdout);
    assert!(
        stdout.contains("--bind") && stdout.contains("--data-dir"),
        "{stdout}"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut bridge = start_bridge(
        dir.path(),
        free_port(),
        "sigterm",
        &[("OMNIBRIDGE_API_KEYS", "k".to_owned())],
    )
    .await;
    let (client, url) = (reqwest::Client::new(), bridge.base.clone());
    // An open SSE stream must not hold the shutdown up.
    let stream = client
        .get(format!("{url}/v1/events"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let status = Command::new("kill")
        .args(["-TERM", &bridge.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = bridge.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    drop(stream);
}

/// `omnibridge migrate` with `env` set; answers (success, stdout, stderr).
fn migrate(env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .arg("migrate")
        .env("OMNIBRIDGE__TEMPLATES__DIR", repo_templates())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn migrate_brings_a_fresh_postgres_database_up_to_date_once_and_then_the_bridge_serves_on_it() {
    let database = crate::support::postgres::PgDatabase::create();
    let url = database.url();
    let env = [
        ("OMNIBRIDGE_POSTGRES_URL", url.as_str()),
        ("OMNIBRIDGE__STORAGE__STATE", "postgres"),
    ];
    let (ok, first, stderr) = migrate(&env);
    assert!(ok, "{stderr}");
    assert!(
        first.contains("PostgreSQL state") && first.contains("1 migration(s) applied now"),
        "{first}"
    );
    let (ok, again, stderr) = migrate(&env);
    assert!(ok, "{stderr}");
    assert!(again.contains("0 migration(s) applied now"), "{again}");

    // A bridge serves on it (its data dir holds the SQLite event log only).
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OMNIBRIDGE__STORAGE__STATE", url.clone()),
        ("OMNIBRIDGE_API_KEYS", "cli-pg-key-0123456789".to_owned()),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let bridge = start_bridge(dir.path(), free_port(), "pg", &env).await;
        let answer = reqwest::Client::new()
            .get(format!("{}/v1/conversations", bridge.base))
            .bearer_auth("cli-pg-key-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    });
}

#[test]
fn migrate_without_the_postgres_url_names_the_variable_and_a_bad_server_fails_clearly() {
    let (ok, _, stderr) = migrate(&[("OMNIBRIDGE__STORAGE__STATE", "postgres")]);
    assert!(!ok);
    assert!(stderr.contains("OMNIBRIDGE_POSTGRES_URL"), "{stderr}");
    let closed = free_port();
    let url = format!("postgres://bridge:pw-not-in-logs@127.0.0.1:{closed}/x");
    let (ok, _, stderr) = migrate(&[
        ("OMNIBRIDGE__STORAGE__STATE", url.as_str()),
        ("OMNIBRIDGE__STORAGE__POSTGRES__CONNECT_TIMEOUT_SECS", "2"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("storage.state"), "{stderr}");
    assert!(!stderr.contains("pw-not-in-logs"), "{stderr}");
}

#[test]
fn migrate_on_the_embedded_state_opens_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let (ok, out, stderr) = migrate(&[("OMNIBRIDGE__STORAGE__DATA_DIR", data.as_str())]);
    assert!(ok, "{stderr}");
    assert!(out.contains("SQLite state"), "{out}");
    assert!(dir.path().join("omnibridge.sqlite").exists());
}
