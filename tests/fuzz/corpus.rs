//! Replays `tests/fuzz_corpus/<target>/*`: inputs kept because they were interesting (edge
//! shapes, and any input that once broke a parser). Each must be answered without a panic
//! within the deadline. A new finding goes into its target's folder.

use std::path::{Path, PathBuf};

use super::strategies::no_hang;

fn files(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus files", dir.display());
    files
}

fn replay(target: &str, run: fn(Vec<u8>)) {
    for (path, bytes) in files(target) {
        no_hang(&path.display().to_string(), bytes, run);
    }
}

#[test]
fn whatsapp_webhook() {
    replay("whatsapp_webhook", |body| {
        let _ = omnibridge_whatsapp::inbound::normalize("106540352242922", &body);
    });
}

#[test]
fn email_mime() {
    replay("email_mime", |raw| {
        let _ = omnibridge_email::parse::parse_mail(&raw);
        for index in 0..4 {
            let _ = omnibridge_email::parse::attachment_bytes(&raw, index);
        }
    });
}

#[test]
fn mpp_authorization() {
    replay("mpp_authorization", |header| {
        let header = String::from_utf8_lossy(&header);
        let _ = mpp::protocol::core::parse_authorization(header.trim_end());
        let _ = mpp::protocol::core::parse_www_authenticate(header.trim_end());
    });
}

#[test]
fn webchat_frame() {
    replay("webchat_frame", |frame| {
        let _ = omnibridge_webchat::frames::parse_client_frame(&String::from_utf8_lossy(&frame));
    });
}

#[test]
fn webhook_signature() {
    replay("webhook_signature", |header| {
        let header = String::from_utf8_lossy(&header);
        let header = header.trim_end();
        let body = b"{}";
        let _ = omnibridge_whatsapp::inbound::verify_signature(b"s", Some(header), body);
        let _ =
            omnibridge_email::webhook::verify(Some(b"s"), Some(header), Some(header), body, 0, 300);
        let _ = omnibridge::payments::stripe::webhook::verify_stripe_signature(
            body, header, b"s", 0, 300,
        );
    });
}

#[test]
fn last_event_id() {
    replay("last_event_id", |value| {
        let _ = omnibridge::http::stream::parse_last_event_id(&value);
    });
}

#[test]
fn config_toml() {
    replay("config_toml", |toml| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.toml");
        std::fs::write(&path, toml).unwrap();
        if let Ok(settings) = omnibridge::config::Settings::load_from(Some(&path), Vec::new()) {
            for entry in &settings.channels {
                let _ = omnibridge::channels::ChannelFactories::builtin().check(
                    entry,
                    &std::collections::HashMap::new(),
                    "http://127.0.0.1",
                );
            }
        }
    });
}
