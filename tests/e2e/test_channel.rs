//! A channel double for end-to-end tests: webhooks authenticated by a shared secret header,
//! a tiny JSON payload, and a `send` whose failures the test scripts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnibridge_sdk::prelude::*;
use omnibridge_sdk::{Capabilities, ChannelError, Content};
use serde::Deserialize;

pub const SECRET: &str = "test-webhook-secret";
pub const KIND: &str = "testchan";

/// What the next `send` calls do, in order; when empty, sends succeed.
#[derive(Clone, Copy, Debug)]
pub enum Scripted {
    RateLimited,
    Transient,
    Rejected,
}

pub struct TestChannel {
    script: Mutex<VecDeque<Scripted>>,
    sent: Mutex<Vec<OutboundMessage>>,
    caps: Capabilities,
}

#[derive(Deserialize)]
struct Payload {
    thread: String,
    id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

impl TestChannel {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::default(),
            sent: Mutex::default(),
            caps: Capabilities::text_only(1000),
        })
    }

    pub fn script(&self, steps: &[Scripted]) {
        self.script.lock().unwrap().extend(steps.iter().copied());
    }

    pub fn sent(&self) -> Vec<OutboundMessage> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Channel for TestChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::new(KIND).unwrap()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        match req.header("x-test-secret") {
            Some(SECRET) => Ok(()),
            Some(_) => Err(ChannelError::Unauthorized {
                reason: "bad_secret",
            }),
            None => Err(ChannelError::Unauthorized {
                reason: "missing_secret",
            }),
        }
    }

    fn normalize(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        let payload: Payload =
            serde_json::from_slice(req.body).map_err(|e| ChannelError::Malformed(e.to_string()))?;
        let conversation = ConversationRef::new("acct", payload.thread.clone());
        let event = match (payload.text, payload.action) {
            (_, Some(action)) => {
                InboundEvent::action(conversation, omnibridge_sdk::Action::new(action))
            }
            (Some(text), None) => InboundEvent::message(conversation, Content::text(text)),
            (None, None) => return Err(ChannelError::Malformed("text or action required".into())),
        };
        Ok(vec![
            event
                .with_sender(Participant::customer(payload.thread))
                .with_provider_message_id(payload.id),
        ])
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let step = self.script.lock().unwrap().pop_front();
        match step {
            Some(Scripted::RateLimited) => Err(ChannelError::RateLimited {
                retry_after: Some(Duration::from_millis(20)),
            }),
            Some(Scripted::Transient) => Err(ChannelError::transient("connection reset")),
            Some(Scripted::Rejected) => Err(ChannelError::rejected(
                "bad_recipient",
                "the recipient does not exist",
            )),
            None => {
                self.sent.lock().unwrap().push(msg.clone());
                Ok(SendReceipt::sent(Some(format!("tc-{}", msg.id).into())))
            }
        }
    }
}
