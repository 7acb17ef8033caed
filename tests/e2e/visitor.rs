//! A web-chat visitor on a bridge reached by its base URL (a child process or in-process):
//! opens the socket with the bridge's own origin, says something, reads frames by type.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open web-chat session.
pub struct Visitor {
    socket: Socket,
    /// The conversation the welcome frame named.
    pub conversation: String,
    sent: usize,
}

impl Visitor {
    /// Opens `<base>/webchat/ws` (origin: `base`) and reads the welcome frame.
    pub async fn open(base: &str) -> Visitor {
        let mut request = (base.replace("http://", "ws://") + "/webchat/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", base.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut visitor = Visitor {
            socket,
            conversation: String::new(),
            sent: 0,
        };
        let welcome = visitor.next("welcome").await;
        visitor.conversation = welcome["conversation_id"].as_str().unwrap().to_owned();
        visitor
    }

    /// Sends `text` and waits for its `ack` (the message is stored then).
    pub async fn say(&mut self, text: &str) {
        self.sent += 1;
        let id = format!("c-{}", self.sent);
        let frame = json!({ "type": "message", "text": text, "client_msg_id": id });
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
        let ack = self.next("ack").await;
        assert_eq!(ack["client_msg_id"], id.as_str());
    }

    /// Presses a button: sends an `action` frame with `payload` (as the widget does) and waits
    /// for its `ack`.
    pub async fn press(&mut self, payload: &str, label: &str) {
        self.sent += 1;
        let id = format!("c-{}", self.sent);
        let frame =
            json!({ "type": "action", "payload": payload, "label": label, "client_msg_id": id });
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
        let ack = self.next("ack").await;
        assert_eq!(ack["client_msg_id"], id.as_str());
    }

    /// The next frame of type `kind` (others are skipped), within 10 s.
    pub async fn next(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no {kind} frame in time"))
                .expect("socket open")
                .unwrap();
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == kind {
                    return frame;
                }
            }
        }
    }
}

/// `POST <base>/v1/payment-intents` for `conversation` with `key`; the answer's body.
pub async fn create_intent(base: &str, key: &str, conversation: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/payment-intents"))
        .bearer_auth(key)
        .json(
            &json!({"conversation_id": conversation, "amount": 1250, "currency": "EUR",
            "description": "Dinner for two"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}
