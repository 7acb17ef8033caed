//! Settlements whose outcome is unknown. A method that cannot tell whether it took the money
//! ([`SettleError::Unknown`]: a timeout, a lost or unreadable answer, a 5xx after retries)
//! leaves the intent `processing`: it is never re-opened on a guess, since a fresh challenge
//! would carry a fresh idempotency key and could charge the customer a second time.
//!
//! [`PaymentEngine::resolve`] finds the outcome: it retries the settlement with the **same**
//! challenge and credential (so the same idempotency key: the processor replays its first
//! answer), then asks every method what it holds for the intent ([`PaymentMethod::lookup`]).
//! Paid settles; only a definite refusal re-opens; a processor that holds nothing re-opens
//! only after `not_found_grace_secs` (its search can lag). The credential of a settlement in
//! doubt is kept in this process's memory only (never in the store): after a crash the
//! lookup alone decides.
//!
//! [`PaymentMethod::lookup`]: super::method::PaymentMethod::lookup

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use omnibridge_sdk::Timestamp;
use serde_json::Value;

use super::engine::PaymentEngine;
use super::error::PaymentError;
use super::intent::{IntentState, PaymentIntent};
use super::method::{Lookup, SettleError};

/// What the payer is told when the processor is unavailable.
pub const TRY_AGAIN: &str = "The payment could not be processed right now. Please try again.";
/// What the payer is told when a lookup found only failed charges.
const DECLINED: &str = "The payment was declined. Please try again or use another payment method.";
/// How long a credential in doubt is retried: Stripe replays an idempotent answer for 24 h.
const KEEP_CREDENTIAL_HOURS: i64 = 24;

/// A settlement in doubt, as this process submitted it.
#[derive(Clone, Debug)]
struct Pending {
    method: String,
    challenge_id: String,
    payload: Value,
    since: Timestamp,
}

/// Settlements in doubt and the intents a settlement of this process is working on.
#[derive(Debug, Default)]
pub(super) struct PendingSettlements {
    pending: Mutex<HashMap<String, Pending>>,
    busy: Arc<Mutex<HashSet<String>>>,
}

/// Marks an intent as being settled by this process until dropped.
#[derive(Debug)]
pub struct Busy {
    intent_id: String,
    set: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.intent_id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What [`PaymentEngine::resolve`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Paid (now, or before: the intent is `succeeded` or later).
    Paid(Box<PaymentIntent>),
    /// The charge was definitely not taken: the intent is `requires_confirmation` again.
    Reopened(Box<PaymentIntent>),
    /// Still unknown: the intent stays `processing`.
    Pending,
    /// Another settlement of this process is working on the intent right now.
    Busy,
    /// The intent is in another state (canceled, expired, re-opened by someone else).
    Moved(IntentState),
}

/// What the customer is told about a definite failure (`None`: nothing to announce).
pub fn failure_reason(error: &SettleError) -> Option<String> {
    match error {
        SettleError::MalformedPayload(_) => None,
        SettleError::Refused {
            customer_message, ..
        } => Some(customer_message.clone()),
        _ => Some(TRY_AGAIN.to_owned()),
    }
}

impl PaymentEngine {
    /// Marks `intent_id` as being settled by this process; `None` if it already is.
    pub fn claim(&self, intent_id: &str) -> Option<Busy> {
        let set = self.inner.pending.busy.clone();
        if !lock(&set).insert(intent_id.to_owned()) {
            return None;
        }
        Some(Busy {
            intent_id: intent_id.to_owned(),
            set,
        })
    }

    /// Remembers the credential of a settlement whose outcome is unknown, to retry it with
    /// the same idempotency key.
    pub fn remember_unknown(
        &self,
        intent_id: &str,
        method: &str,
        challenge_id: &str,
        payload: &Value,
    ) {
        let pending = Pending {
            method: method.to_owned(),
            challenge_id: challenge_id.to_owned(),
            payload: payload.clone(),
            since: chrono::Utc::now(),
        };
        lock(&self.inner.pending.pending).insert(intent_id.to_owned(), pending);
    }

    /// Whether `challenge_id` is the settlement in doubt of `intent_id` in this process (a
    /// payer retrying the very credential whose answer was lost).
    pub fn is_in_doubt(&self, intent_id: &str, challenge_id: &str) -> bool {
        lock(&self.inner.pending.pending)
            .get(intent_id)
            .is_some_and(|pending| pending.challenge_id == challenge_id)
    }

    /// Ids of the intents whose settlement is in doubt in this process.
    pub(super) fn in_doubt(&self) -> Vec<String> {
        lock(&self.inner.pending.pending).keys().cloned().collect()
    }

    fn forget(&self, intent_id: &str) {
        lock(&self.inner.pending.pending).remove(intent_id);
    }

    /// Finds the outcome of a `processing` intent: the settlement in doubt retried with the
    /// same key, then every method's lookup. Settles, re-opens (only on a definite refusal,
    /// or when nothing was found after the grace period), or leaves it `processing`.
    pub async fn resolve(
        &self,
        intent_id: &str,
        now: Timestamp,
    ) -> Result<Resolution, PaymentError> {
        let Some(_busy) = self.claim(intent_id) else {
            return Ok(Resolution::Busy);
        };
        let intent = self
            .store()
            .intent(intent_id)
            .await?
            .ok_or_else(|| PaymentError::UnknownIntent(intent_id.to_owned()))?;
        if intent.state != IntentState::Processing {
            self.forget(intent_id);
            return Ok(if intent.state.is_paid() {
                Resolution::Paid(Box::new(intent))
            } else {
                Resolution::Moved(intent.state)
            });
        }
        let charge = Self::charge(&intent)?;
        let pending = lock(&self.inner.pending.pending).get(intent_id).cloned();
        let pending = pending.filter(|p| {
            let fresh = now - p.since < chrono::Duration::hours(KEEP_CREDENTIAL_HOURS);
            if !fresh {
                self.forget(intent_id);
            }
            fresh
        });
        if let Some(pending) = &pending
            && let Some(method) = self.method(&pending.method).cloned()
        {
            match method
                .settle(&charge, &pending.challenge_id, &pending.payload)
                .await
            {
                Ok(settlement) => {
                    self.forget(intent_id);
                    self.metrics()
                        .count_settlement(method.name(), "reconciled_succeeded");
                    let paid = self.succeeded(&intent, method.name(), &settlement).await?;
                    tracing::info!(payment_intent_id = %intent_id, method = method.name(),
                        "settlement in doubt resolved: paid");
                    return Ok(Resolution::Paid(Box::new(paid)));
                }
                Err(error) if error.is_definite() => {
                    self.forget(intent_id);
                    self.metrics()
                        .count_settlement(method.name(), "reconciled_refused");
                    tracing::info!(payment_intent_id = %intent_id, method = method.name(),
                        %error, "settlement in doubt resolved: not taken, re-opened");
                    let back = self
                        .retryable_failure(&intent, failure_reason(&error).as_deref())
                        .await?;
                    return Ok(Resolution::Reopened(Box::new(back)));
                }
                Err(error) => {
                    tracing::debug!(payment_intent_id = %intent_id, %error,
                        "settlement still in doubt; looking the charge up");
                }
            }
        }
        self.resolve_by_lookup(&intent, pending.is_some(), now)
            .await
    }

    async fn resolve_by_lookup(
        &self,
        intent: &PaymentIntent,
        credential_kept: bool,
        now: Timestamp,
    ) -> Result<Resolution, PaymentError> {
        let charge = Self::charge(intent)?;
        let (mut refused, mut unknown) = (None, None);
        for method in self.methods().to_vec() {
            match method.lookup(&charge).await {
                Lookup::Paid(settlement) => {
                    self.forget(&intent.id);
                    self.metrics()
                        .count_settlement(method.name(), "reconciled_succeeded");
                    tracing::info!(payment_intent_id = %intent.id, method = method.name(),
                        reference = %settlement.reference, "the processor holds a paid charge");
                    let paid = self.succeeded(intent, method.name(), &settlement).await?;
                    return Ok(Resolution::Paid(Box::new(paid)));
                }
                Lookup::Refused { code } => refused = Some((method.name(), code)),
                Lookup::Unknown(why) => unknown = Some((method.name(), why)),
                Lookup::NotFound => {}
            }
        }
        if let Some((method, why)) = unknown {
            tracing::info!(payment_intent_id = %intent.id, method, reason = %why,
                "payment outcome still unknown; the intent stays processing");
            return Ok(Resolution::Pending);
        }
        let reason = if let Some((method, code)) = refused {
            self.metrics()
                .count_settlement(method, "reconciled_refused");
            tracing::info!(payment_intent_id = %intent.id, method, code = %code,
                "the processor's charges for the intent all failed; re-opened");
            DECLINED
        } else {
            let waited = now - intent.updated_at;
            let grace = chrono::Duration::seconds(
                i64::try_from(self.inner.reconcile.not_found_grace_secs).unwrap_or(i64::MAX),
            );
            if credential_kept || waited < grace {
                return Ok(Resolution::Pending);
            }
            tracing::warn!(payment_intent_id = %intent.id, waited_secs = waited.num_seconds(),
                "no processor holds a charge for the intent after the grace period; re-opened");
            TRY_AGAIN
        };
        self.forget(&intent.id);
        match self.retryable_failure(intent, Some(reason)).await {
            Ok(back) => Ok(Resolution::Reopened(Box::new(back))),
            Err(PaymentError::WrongState(_)) => {
                let now = self.store().intent(&intent.id).await?;
                Ok(now.map_or(Resolution::Pending, |i| Resolution::Moved(i.state)))
            }
            Err(error) => Err(error),
        }
    }
}
