//! One confirmation, as an outside agent would make it: `GET` the intent's pay URL (402 with
//! challenges), pick the challenge of the method the customer's source pays with, get the
//! credential payload from the source, and `POST` it as `Authorization: Payment …` (the
//! `mpp` crate's format) to the same URL. The endpoint settles, and the engine tells the
//! conversation (receipt or failure). Nothing here logs a credential or a token.

use ::mpp::protocol::core::{PaymentCredential, format_authorization, parse_www_authenticate};
use reqwest::StatusCode;

use super::Wallet;
use super::source::{CustomerRef, ParsedChallenge};
use crate::payments::intent::PaymentIntent;

/// How one confirmation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 200 with a receipt.
    Paid,
    /// 402: refused (the engine told the customer why).
    Refused,
    /// No source, or no challenge it can pay: the customer got the payment link.
    LinkSent,
    /// The pay URL answered something else (already paid, canceled …).
    NotPayable(u16),
}

/// Why a confirmation could not be attempted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PayError {
    /// The pay URL could not be reached.
    #[error("pay URL unreachable: {0}")]
    Http(String),
    /// The source failed.
    #[error("{0}")]
    Source(#[from] super::source::SourceError),
    /// The credential could not be formatted.
    #[error("credential could not be formatted: {0}")]
    Format(String),
}

impl Wallet {
    /// Pays `intent` for `customer` through the MPP endpoint.
    pub(crate) async fn confirm(
        &self,
        intent: &PaymentIntent,
        customer: Option<&CustomerRef>,
    ) -> Result<Outcome, PayError> {
        let source = customer.and_then(|c| self.sources.source_for(c).map(|s| (c, s)));
        let Some((customer, source)) = source else {
            self.engine.notifier().payment_link(intent).await;
            return Ok(Outcome::LinkSent);
        };
        let url = format!("{}/pay/{}", self.base_url, intent.id);
        let probe = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| PayError::Http(e.without_url().to_string()))?;
        if probe.status() != StatusCode::PAYMENT_REQUIRED {
            return Ok(Outcome::NotPayable(probe.status().as_u16()));
        }
        let challenge = probe
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| parse_www_authenticate(value).ok())
            .filter_map(ParsedChallenge::parse)
            .find(|challenge| challenge.method() == source.method());
        let Some(challenge) = challenge else {
            tracing::info!(payment_intent_id = %intent.id, method = source.method(),
                "no challenge for the customer's payment source; sending the payment link");
            self.engine.notifier().payment_link(intent).await;
            return Ok(Outcome::LinkSent);
        };
        let Some(payload) = source.credential(customer, &challenge).await? else {
            self.engine.notifier().payment_link(intent).await;
            return Ok(Outcome::LinkSent);
        };
        let credential = PaymentCredential::new(challenge.challenge.to_echo(), payload);
        let authorization =
            format_authorization(&credential).map_err(|e| PayError::Format(e.to_string()))?;
        let answer = self
            .client
            .post(&url)
            .header("authorization", authorization)
            .send()
            .await
            .map_err(|e| PayError::Http(e.without_url().to_string()))?;
        Ok(match answer.status() {
            StatusCode::OK => Outcome::Paid,
            StatusCode::PAYMENT_REQUIRED => Outcome::Refused,
            other => Outcome::NotPayable(other.as_u16()),
        })
    }
}
