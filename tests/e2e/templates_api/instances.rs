//! Two bridge processes on one store: a version published through one is rendered by the
//! other within two seconds, without a restart. Once on one SQLite file, once on PostgreSQL +
//! Redis with a data dir each.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{Shared, free_port, start_bridge};
use crate::visitor::Visitor;

#[tokio::test]
async fn a_version_published_on_one_instance_is_rendered_by_the_other_within_two_seconds() {
    published_on_one_rendered_by_the_other(Shared::one_file()).await;
}

#[tokio::test]
async fn on_postgres_a_version_published_on_one_instance_is_rendered_by_the_other() {
    published_on_one_rendered_by_the_other(Shared::distributed()).await;
}

async fn published_on_one_rendered_by_the_other(shared: Shared) {
    let mut env = shared.env();
    env.push(("OMNIBRIDGE_API_KEYS", "studio-key".to_owned()));
    let a = start_bridge(shared.data_dir(0), free_port(), "a", &env).await;
    let b = start_bridge(shared.data_dir(1), free_port(), "b", &env).await;
    let mut visitor = Visitor::open(&a.base).await;
    visitor.say("hi").await;
    let client = reqwest::Client::new();
    let send_on_b = || {
        client
            .post(format!(
                "{}/v1/conversations/{}/messages",
                b.base, visitor.conversation
            ))
            .bearer_auth("studio-key")
            .json(&json!({"template": "flash_sale", "locale": "en", "data": {}}))
            .send()
    };
    assert_eq!(
        send_on_b().await.unwrap().status(),
        422,
        "not published yet"
    );
    let saved = client
        .post(format!(
            "{}/v1/templates/default/en/flash_sale/versions",
            a.base
        ))
        .bearer_auth("studio-key")
        .json(&json!({"parts": {"": "Flash sale: 20% off today"}, "message": "sale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201);
    let published = client
        .post(format!(
            "{}/v1/templates/default/en/flash_sale/publish",
            a.base
        ))
        .bearer_auth("studio-key")
        .json(&json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    let at = Instant::now();
    loop {
        let status = send_on_b().await.unwrap().status();
        if status == 202 {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(2),
            "instance b still does not render it ({status})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frame = visitor.next("message").await;
    assert_eq!(frame["text"], "Flash sale: 20% off today");
}
