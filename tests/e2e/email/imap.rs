//! IMAP resilience with the real binary and a real Dovecot: mail that arrived while the
//! bridge was down is backfilled, a SIGKILL mid-fetch loses and duplicates nothing after the
//! restart, a changed UIDVALIDITY re-scans without duplicates; a refused login is a clear
//! health error, not a crash loop.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::dovecot::{Dovecot, PASSWORD, USER};
use super::{customer_mail, spawn_mail};
use crate::process::{BridgeProcess, free_port, start_bridge_with_args};

const KEY: &str = "email-imap-test-key-0123456789";

/// Mail `n` of Anna's thread (all reference the first, so they share one conversation).
pub(super) fn mail(n: usize) -> Vec<u8> {
    let mail = customer_mail(
        &format!("m{n}@customer.test"),
        "Anna <anna@customer.test>",
        "support@acme.test",
        "Many questions",
        &format!("Question {n}"),
    );
    if n == 0 {
        return mail.into_bytes();
    }
    mail.replace(
        "MIME-Version",
        "References: <m0@customer.test>\r\nMIME-Version",
    )
    .into_bytes()
}

pub(super) async fn start(dir: &Path, port: u16, dovecot: &Dovecot) -> BridgeProcess {
    start_sharing(dir, port, dovecot, &[]).await
}

/// [`start`] with the env of what it shares with other instances
/// ([`crate::process::Shared::env`]).
pub(super) async fn start_sharing(
    dir: &Path,
    port: u16,
    dovecot: &Dovecot,
    shared: &[(&str, String)],
) -> BridgeProcess {
    let config = dir.join("email.toml");
    std::fs::write(
        &config,
        format!(
            "[[channels]]\nid = \"acme-mail\"\ntype = \"email\"\naddress = \"support@acme.test\"\n\
             imap_password_env = \"E2E_IMAP_PASSWORD\"\n\
             [channels.imap]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{USER}\"\n\
             idle_secs = 60\nbatch = 20\n\
             [channels.smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\n\
             [channels.sender_check]\nmode = \"none\"\n",
            dovecot.port()
        ),
    )
    .unwrap();
    let mut env = vec![
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("E2E_IMAP_PASSWORD", PASSWORD.to_owned()),
    ];
    env.extend(shared.iter().cloned());
    let config = config.to_string_lossy().into_owned();
    start_bridge_with_args(dir, port, "bridge", &env, &["--config", &config]).await
}

/// Every received Message-ID on the bus, in order (duplicates kept, to be counted).
pub(super) async fn received(base: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let list: Value = client
        .get(format!("{base}/v1/conversations"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for conversation in list["data"].as_array().cloned().unwrap_or_default() {
        let id = conversation["id"].as_str().unwrap().to_owned();
        let mut after = 0u64;
        loop {
            let page: Value = client
                .get(format!(
                    "{base}/v1/conversations/{id}/events?after={after}&limit=500"
                ))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for event in page["data"].as_array().unwrap() {
                if event["type"] == "message.received" {
                    ids.push(event["provider_message_id"].as_str().unwrap().to_owned());
                }
            }
            match page["next_after"].as_u64() {
                Some(next) => after = next,
                None => break,
            }
        }
    }
    ids
}

pub(super) async fn wait_received(base: &str, at_least: usize) -> Vec<String> {
    wait_received_within(base, at_least, Duration::from_secs(60)).await
}

/// Waits until `base` has at least `at_least` mails on the bus, failing after `limit`.
pub(super) async fn wait_received_within(
    base: &str,
    at_least: usize,
    limit: Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let ids = received(base).await;
        if ids.len() >= at_least {
            return ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {at_least} mails on the bus within {limit:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) fn assert_exactly(ids: &[String], expected: impl IntoIterator<Item = usize>) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates on the bus");
    let expected: HashSet<String> = expected
        .into_iter()
        .map(|n| format!("m{n}@customer.test"))
        .collect();
    let got: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn backfill_sigkill_mid_fetch_and_uidvalidity_change_lose_and_duplicate_nothing() {
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();

    // 100 mails arrive while the bridge is down.
    dovecot
        .deliver_many(&(0..100).map(mail).collect::<Vec<_>>())
        .await;
    let mut bridge = start(dir.path(), port, &dovecot).await;
    let ids = wait_received(&bridge.base, 100).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly(&received(&bridge.base).await, 0..100);
    drop(ids);

    // 200 more; SIGKILL once some of them are on the bus, restart: all of them, once.
    dovecot
        .deliver_many(&(100..300).map(mail).collect::<Vec<_>>())
        .await;
    wait_received(&bridge.base, 120).await;
    bridge.child.kill().unwrap();
    bridge.child.wait().unwrap();
    let bridge = start(dir.path(), port, &dovecot).await;
    wait_received(&bridge.base, 300).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly(&received(&bridge.base).await, 0..300);

    // The mailbox is rebuilt with a new UIDVALIDITY: the bridge re-scans all of it and the
    // bus keeps one event per Message-ID.
    drop(bridge);
    let before = dovecot.uid_validity().await;
    dovecot.set_uid_validity(before + 1000);
    let bridge = start(dir.path(), port, &dovecot).await;
    dovecot.deliver(&mail(300)).await;
    wait_received(&bridge.base, 301).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exactly(&received(&bridge.base).await, 0..301);
    let metrics = reqwest::get(format!("{}/metrics", bridge.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let duplicates: f64 = metrics
        .lines()
        .find(|line| line.starts_with("omnibridge_duplicates_total{") && line.contains("email"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    assert!(
        duplicates >= 300.0,
        "the re-scan re-read every mail: {duplicates}\n{metrics}"
    );
}

#[tokio::test]
async fn a_refused_login_is_a_health_error_and_the_bridge_keeps_serving() {
    let dovecot = Dovecot::start();
    let app = spawn_mail(
        json!({
            "imap": {"host": "127.0.0.1", "port": dovecot.port(), "tls": "none", "username": USER},
            "imap_password_env": "E2E_IMAP_PASSWORD",
        }),
        &[("E2E_IMAP_PASSWORD", "wrong-password")],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let ready = loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 200, "the bridge keeps serving");
        let ready: Value = response.json().await.unwrap();
        if ready["channels"]["acme-mail"] != "ok" {
            break ready;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no health error: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["status"], "degraded");
    let channel = &ready["channels"]["acme-mail"];
    assert_eq!(channel["error"], "imap_auth_failed", "{ready}");
    assert!(
        !channel["detail"]
            .as_str()
            .unwrap()
            .contains("wrong-password"),
        "no secret"
    );
    // Slow retries, no crash loop: a handful of login attempts at most in Dovecot's log.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = dovecot.log().matches("auth failed").count()
        + dovecot.log().matches("Authentication failed").count();
    assert!(
        attempts <= 4,
        "{attempts} login attempts in a few seconds:\n{}",
        dovecot.log()
    );
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn tls_logins_trust_the_platform_roots_implicit_and_starttls() {
    let dovecot = Dovecot::start_with(super::dovecot::Options {
        tls: true,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let channel = |id: &str, port: u16, tls: &str| {
        format!(
            "[[channels]]\nid = \"{id}\"\ntype = \"email\"\naddress = \"support@acme.test\"\n\
             imap_password_env = \"E2E_IMAP_PASSWORD\"\n\
             [channels.imap]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\n\
             username = \"{USER}\"\nidle_secs = 60\n\
             [channels.smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\n\
             [channels.sender_check]\nmode = \"none\"\n"
        )
    };
    let config = dir.path().join("tls.toml");
    std::fs::write(
        &config,
        channel("implicit", dovecot.tls_port(), "implicit")
            + &channel("starttls", dovecot.port(), "starttls"),
    )
    .unwrap();
    dovecot.deliver(&mail(0)).await;
    // The platform's roots, as an operator extends them: SSL_CERT_FILE names the test CA.
    let env = [
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("E2E_IMAP_PASSWORD", PASSWORD.to_owned()),
        (
            "SSL_CERT_FILE",
            dovecot.cert_pem().to_string_lossy().into_owned(),
        ),
    ];
    let config = config.to_string_lossy().into_owned();
    let bridge = start_bridge_with_args(
        dir.path(),
        free_port(),
        "bridge",
        &env,
        &["--config", &config],
    )
    .await;
    // Both channels logged in over TLS and read the mail (one conversation each).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list: Value = reqwest::Client::new()
            .get(format!("{}/v1/conversations", bridge.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let channels: HashSet<String> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["channel_id"].as_str().unwrap().to_owned())
            .collect();
        if channels.len() == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not both channels read the mail over TLS: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready: Value = reqwest::get(format!("{}/readyz", bridge.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["channels"]["implicit"], "ok", "{ready}");
    assert_eq!(ready["channels"]["starttls"], "ok", "{ready}");
}
