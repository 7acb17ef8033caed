//! The web-chat socket without a browser: origin allow-list, ack after append, and a
//! reconnecting visitor who keeps the conversation and gets what was sent while away.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, spawn_app, types};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(
    app: &TestApp,
    origin: &str,
    query: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/webchat/ws{query}", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn next_frame(socket: &mut Socket, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == kind {
                return frame;
            }
        }
    }
}

#[tokio::test]
async fn a_disallowed_origin_gets_403_problem_and_nothing_is_stored() {
    let app = spawn_app().await;
    let refused = open(&app, "https://evil.example", "").await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
        panic!("the socket opened for a foreign origin");
    };
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["code"], "origin_not_allowed");
    assert_eq!(
        app.conversation_list().await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // A configured origin is allowed.
    assert!(open(&app, "http://localhost:8080", "").await.is_ok());
    app.stop().await;
}

#[tokio::test]
async fn reconnecting_visitor_keeps_the_conversation_and_gets_what_they_missed() {
    let app = spawn_app().await;
    let origin = app.base.clone();
    let mut socket = open(&app, &origin, "").await.unwrap();
    let welcome = next_frame(&mut socket, "welcome").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let conversation = welcome["conversation_id"].as_str().unwrap().to_owned();
    let hello = json!({ "type": "message", "text": "hello", "client_msg_id": "c-1" });
    socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut socket, "ack").await["client_msg_id"], "c-1");
    let history = app.history(&conversation).await;
    assert_eq!(types(&history), ["message.received"]);
    socket.close(None).await.unwrap();

    // Sent while the visitor is away.
    let accepted = app
        .send_message(
            &conversation,
            json!({ "text": "We replied while you were away" }),
        )
        .await;
    assert_eq!(accepted.status(), 202);
    app.wait_for_history(&conversation, |e| {
        types(e).contains(&"message.sent".to_owned())
    })
    .await;

    let mut again = open(&app, &origin, &format!("?token={token}&after=0"))
        .await
        .unwrap();
    let welcome = next_frame(&mut again, "welcome").await;
    assert_eq!(welcome["conversation_id"], conversation.as_str());
    let missed = next_frame(&mut again, "message").await;
    assert_eq!(missed["text"], "We replied while you were away");
    let seq = missed["seq"].as_u64().unwrap();
    let history = app
        .wait_for_history(&conversation, |e| {
            e.iter().any(|event| {
                event["type"] == "delivery.updated" && event["data"]["status"] == "delivered"
            })
        })
        .await;
    assert!(history.iter().any(|e| e["seq"].as_u64() == Some(seq)));
    // Resuming after that seq replays nothing.
    let mut resumed = open(&app, &origin, &format!("?token={token}&after={seq}"))
        .await
        .unwrap();
    next_frame(&mut resumed, "welcome").await;
    let nothing = tokio::time::timeout(Duration::from_millis(400), resumed.next()).await;
    assert!(
        nothing.is_err(),
        "replayed a message the widget had seen: {nothing:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_resent_frame_after_reconnect_is_stored_once() {
    let app = spawn_app().await;
    let origin = app.base.clone();
    let mut socket = open(&app, &origin, "").await.unwrap();
    let welcome = next_frame(&mut socket, "welcome").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let conversation = welcome["conversation_id"].as_str().unwrap().to_owned();
    let frame = json!({ "type": "message", "text": "once", "client_msg_id": "c-9" }).to_string();
    socket
        .send(Message::Text(frame.clone().into()))
        .await
        .unwrap();
    next_frame(&mut socket, "ack").await;
    drop(socket);
    let mut again = open(&app, &origin, &format!("?token={token}"))
        .await
        .unwrap();
    next_frame(&mut again, "welcome").await;
    again.send(Message::Text(frame.into())).await.unwrap();
    next_frame(&mut again, "ack").await;
    assert_eq!(
        types(&app.history(&conversation).await),
        ["message.received"]
    );
    let garbage = json!({ "type": "message" }).to_string();
    again.send(Message::Text(garbage.into())).await.unwrap();
    assert_eq!(
        next_frame(&mut again, "error").await["code"],
        "malformed_payload"
    );
    app.stop().await;
}
