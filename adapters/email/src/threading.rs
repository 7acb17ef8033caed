//! Which conversation a mail belongs to, and the addresses and ids that keep it there.
//!
//! A conversation's thread is a short token (`k3x9q2m4p1ab`). Inbound mail joins one by, in
//! order: `In-Reply-To`, then `References` (newest first), each looked up in the Message-IDs
//! we have seen or sent on the thread; then a plus-address in To/Cc
//! (`support+<token>@domain`, our Reply-To); then a subject token (`[#<token>]`). Otherwise it
//! starts a new thread whose token derives from its Message-ID (so processing the same mail
//! twice lands in the same thread).
//!
//! Our Message-IDs embed the token too (`<ob.<outbound id>.<token>@domain>`), so a reply to
//! our mail finds its thread even if the id map was lost.

use std::sync::Arc;

use omnibridge_sdk::{ChannelState, StateError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Length of a thread token.
const TOKEN_LEN: usize = 12;
/// References kept per thread (the root and the newest).
const MAX_REFERENCES: usize = 20;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// What we remember about one thread.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// The customer's address (lowercased): our replies go there, and only mail from it may
    /// confirm payments.
    pub customer: String,
    /// The customer's display name, when known.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// The subject of the customer's first mail, without `Re:`/`Fwd:` prefixes.
    #[serde(default)]
    pub subject: String,
    /// Message-IDs of the thread, root first, capped (for our `References`).
    #[serde(default)]
    pub references: Vec<String>,
    /// The Message-ID of the customer's newest mail (our `In-Reply-To`).
    #[serde(default)]
    pub last_inbound: Option<String>,
}

impl ThreadInfo {
    /// Adds a Message-ID to the thread's references (keeps the root and the newest).
    pub fn remember(&mut self, message_id: &str) {
        if self.references.iter().any(|id| id == message_id) {
            return;
        }
        self.references.push(message_id.to_owned());
        if self.references.len() > MAX_REFERENCES {
            self.references.remove(1);
        }
    }
}

/// How a mail found its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// By `In-Reply-To`.
    InReplyTo,
    /// By `References`.
    References,
    /// By a plus-address in To/Cc.
    PlusAddress,
    /// By a subject token.
    SubjectToken,
    /// A new thread.
    New,
}

/// A plus-address's tag: the thread token and, on payment requests, the intent id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlusTag {
    /// The thread token.
    pub token: String,
    /// The payment intent the address belongs to (`support+<token>.<intent>@`).
    pub intent_id: Option<String>,
}

/// The thread map of one mailbox, in the channel's state.
#[derive(Clone)]
pub struct ThreadIndex {
    state: Arc<dyn ChannelState>,
    local: String,
    domain: String,
}

impl ThreadIndex {
    /// The index of the mailbox `local@domain`.
    pub fn new(state: Arc<dyn ChannelState>, local: &str, domain: &str) -> Self {
        Self {
            state,
            local: local.to_ascii_lowercase(),
            domain: domain.to_ascii_lowercase(),
        }
    }

    /// The same mailbox's index over another state (a [`BufferedState`](crate::state_buffer::BufferedState)).
    pub fn with_state(&self, state: Arc<dyn ChannelState>) -> Self {
        Self {
            state,
            local: self.local.clone(),
            domain: self.domain.clone(),
        }
    }

    /// The mailbox's domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The thread's information, if known.
    pub async fn thread(&self, token: &str) -> Result<Option<ThreadInfo>, StateError> {
        match self.state.get(&format!("thread:{token}")).await? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    }

    /// Saves the thread's information.
    pub async fn save_thread(&self, token: &str, info: &ThreadInfo) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(info).map_err(|e| StateError(e.to_string()))?;
        self.state.put(&format!("thread:{token}"), &bytes).await
    }

    /// Records that `message_id` belongs to the thread `token`.
    pub async fn link(&self, message_id: &str, token: &str) -> Result<(), StateError> {
        self.state
            .put(
                &format!("msg:{}", message_id.to_ascii_lowercase()),
                token.as_bytes(),
            )
            .await
    }

    /// The thread of a Message-ID we have seen or sent.
    pub async fn thread_of(&self, message_id: &str) -> Result<Option<String>, StateError> {
        if let Some(token) = token_in_our_message_id(message_id, &self.domain) {
            return Ok(Some(token));
        }
        Ok(self
            .state
            .get(&format!("msg:{}", message_id.to_ascii_lowercase()))
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok()))
    }

    /// Finds the thread of a mail, in the documented order.
    pub async fn resolve(
        &self,
        message_id: &str,
        in_reply_to: &[String],
        references: &[String],
        recipients: &[&str],
        subject: &str,
    ) -> Result<(String, Joined), StateError> {
        for id in in_reply_to {
            if let Some(token) = self.thread_of(id).await? {
                return Ok((token, Joined::InReplyTo));
            }
        }
        for id in references.iter().rev() {
            if let Some(token) = self.thread_of(id).await? {
                return Ok((token, Joined::References));
            }
        }
        for recipient in recipients {
            if let Some(tag) = self.plus_tag(recipient)
                && self.thread(&tag.token).await?.is_some()
            {
                return Ok((tag.token, Joined::PlusAddress));
            }
        }
        if let Some(token) = subject_token(subject)
            && self.thread(&token).await?.is_some()
        {
            return Ok((token, Joined::SubjectToken));
        }
        Ok((new_token(message_id), Joined::New))
    }

    /// Our plus-address for a thread (and intent).
    pub fn plus_address(&self, token: &str, intent_id: Option<&str>) -> String {
        match intent_id {
            Some(intent) => format!("{}+{token}.{intent}@{}", self.local, self.domain),
            None => format!("{}+{token}@{}", self.local, self.domain),
        }
    }

    /// The tag of one of our plus-addresses, if `address` is one.
    pub fn plus_tag(&self, address: &str) -> Option<PlusTag> {
        let address = address.trim().to_ascii_lowercase();
        let (local, domain) = address.rsplit_once('@')?;
        if domain != self.domain {
            return None;
        }
        let (base, tag) = local.split_once('+')?;
        if base != self.local {
            return None;
        }
        let (token, intent) = match tag.split_once('.') {
            Some((token, intent)) if !intent.is_empty() => (token, Some(intent.to_owned())),
            _ => (tag, None),
        };
        is_token(token).then(|| PlusTag {
            token: token.to_owned(),
            intent_id: intent,
        })
    }

    /// A new Message-ID of ours for outbound message `outbound_id` on thread `token`.
    pub fn our_message_id(&self, outbound_id: &str, token: &str) -> String {
        let safe: String = outbound_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        format!("ob.{safe}.{token}@{}", self.domain)
    }
}

/// The token of a new thread started by `message_id`.
pub fn new_token(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.trim().to_ascii_lowercase().as_bytes());
    digest
        .iter()
        .take(TOKEN_LEN)
        .map(|byte| char::from(ALPHABET[usize::from(byte % 32)]))
        .collect()
}

fn is_token(candidate: &str) -> bool {
    candidate.len() == TOKEN_LEN && candidate.bytes().all(|b| ALPHABET.contains(&b))
}

/// The token in one of our Message-IDs (`ob.<outbound>.<token>@<our domain>`).
fn token_in_our_message_id(message_id: &str, domain: &str) -> Option<String> {
    let id = message_id.trim().to_ascii_lowercase();
    let (local, id_domain) = id.rsplit_once('@')?;
    if id_domain != domain {
        return None;
    }
    let rest = local.strip_prefix("ob.")?;
    let (_, token) = rest.rsplit_once('.')?;
    is_token(token).then(|| token.to_owned())
}

/// The `[#token]` in a subject, if any.
pub fn subject_token(subject: &str) -> Option<String> {
    let lower = subject.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(start) = rest.find("[#") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find(']')
            && is_token(&after[..end])
        {
            return Some(after[..end].to_owned());
        }
        rest = after;
    }
    None
}

/// A subject without `Re:` / `Fwd:` / `AW:` / `SV:` … prefixes and without our token.
pub fn base_subject(subject: &str) -> String {
    let mut subject = subject.trim();
    loop {
        let lower = subject.to_ascii_lowercase();
        let prefix = [
            "re:", "fw:", "fwd:", "aw:", "wg:", "sv:", "vs:", "tr:", "rv:", "antw:",
        ]
        .iter()
        .find(|p| lower.starts_with(*p));
        match prefix {
            Some(prefix) => subject = subject[prefix.len()..].trim_start(),
            None => break,
        }
    }
    let mut out = subject.to_owned();
    if let Some(token) = subject_token(&out) {
        let lower = out.to_ascii_lowercase();
        if let Some(pos) = lower.find(&format!("[#{token}]")) {
            out.replace_range(pos..pos + token.len() + 3, "");
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The subject of our reply: the customer's subject with a single `Re:`, plus the token when
/// configured.
pub fn reply_subject(customer_subject: &str, token: Option<&str>) -> String {
    let base = base_subject(customer_subject);
    let mut subject = if base.is_empty() {
        "Re: your message".to_owned()
    } else {
        format!("Re: {base}")
    };
    if let Some(token) = token {
        subject.push_str(&format!(" [#{token}]"));
    }
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_keep_one_re_and_one_token() {
        assert_eq!(reply_subject("Order 7", None), "Re: Order 7");
        assert_eq!(reply_subject("RE: Re: AW: Order 7", None), "Re: Order 7");
        let token = new_token("abc@x");
        let ours = reply_subject("Order 7", Some(&token));
        assert_eq!(ours, format!("Re: Order 7 [#{token}]"));
        assert_eq!(reply_subject(&format!("Re: {ours}"), Some(&token)), ours);
        assert_eq!(subject_token(&ours), Some(token));
        assert_eq!(subject_token("Re: [#nope] hi"), None);
    }

    #[test]
    fn tokens_are_stable_and_found_in_our_ids() {
        let token = new_token("<CAF=x@mail.gmail.com>");
        assert_eq!(token, new_token("<caf=x@mail.gmail.com>"));
        assert!(is_token(&token));
        let id = format!("ob.01jabc.{token}@acme.test");
        assert_eq!(
            token_in_our_message_id(&id, "acme.test"),
            Some(token.clone())
        );
        assert_eq!(token_in_our_message_id(&id, "evil.test"), None);
    }
}
