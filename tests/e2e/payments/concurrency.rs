//! Single use under concurrency: 100 identical submissions of one credential settle once.

use super::{SUCCESS, challenge, credential, get_intent, intent, of_type};
use crate::helpers::spawn_app;

#[tokio::test]
async fn one_credential_submitted_100_times_at_once_settles_once() {
    let app = spawn_app().await;
    let (conversation, id) = intent(&app, "conc-100").await;
    let auth = credential(&challenge(&app, &id).await, SUCCESS);
    let url = app.url(&format!("/pay/{id}"));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (client, url, auth, barrier) = (
                app.client.clone(),
                url.clone(),
                auth.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client
                    .post(url)
                    .header("authorization", auth)
                    .send()
                    .await
                    .unwrap();
                (
                    response.status().as_u16(),
                    response.headers().contains_key("payment-receipt"),
                )
            })
        })
        .collect();
    let mut ok = 0;
    let mut rejected = 0;
    for task in tasks {
        let (status, receipt) = task.await.unwrap();
        match status {
            200 => {
                assert!(receipt);
                ok += 1;
            }
            402 | 409 => {
                assert!(!receipt);
                rejected += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, rejected), (1, 99));
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);
    assert_eq!(get_intent(&app, &id).await["state"], "succeeded");
    let events = app.history(&conversation).await;
    assert_eq!(of_type(&events, "payment.succeeded").len(), 1);
    assert_eq!(of_type(&events, "payment.confirmation_submitted").len(), 1);
    app.stop().await;
}
