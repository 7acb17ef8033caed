//! `mpp-baseline`: the smallest pay server built on the `mpp` crate's own Stripe support, the
//! baseline of the payments benchmark. It does the work of omnibridge's `GET|POST
//! /pay/{intent_id}` for one fixed price (the crate's axum extractor takes a fixed price
//! string), with nothing of its own:
//!
//! - no credential → `402` with one `stripe`/`charge` challenge (HMAC-bound id, expiry in
//!   5 minutes, `methodDetails.networkId` and `paymentMethodTypes`), from `MppCharge`;
//! - a credential → the crate verifies the HMAC, the expiry and the amount, creates a confirmed
//!   PaymentIntent with the SPT at `--stripe-api-base` (its own `reqwest` client, HTTP Basic
//!   secret key, idempotency key from challenge id + SPT) and answers `200` with a
//!   `Payment-Receipt`.
//!
//! Single use, as issue 15 asks of the reference: every challenge carries a random nonce (in
//! `methodDetails.metadata`, so it is inside the HMAC-bound request; the crate's own ids have
//! no random part, so two challenges issued in the same second would otherwise be one), and a
//! credential's challenge id is consumed in an in-memory set before the crate verifies and
//! settles it: a replayed or concurrent second submission of one challenge gets `402
//! invalid-challenge`. The set is memory only (lost on restart, never trimmed): the bridge
//! keeps the same guard durably in SQLite. Otherwise it keeps no state: it records no intent,
//! appends no events and sends no messages. Prints its base URL as the first line of stdout.
//!
//! `--durable <file>` makes it a minimal *correct* pay server instead: the guard is a SQLite
//! table (WAL, `synchronous = FULL`), the challenge id is consumed in a commit before the
//! charge and the settlement recorded in a second commit before the `200` (see
//! [`durable`]): the two commits any payment server that survives a crash needs, and nothing
//! else the bridge does (no intents, events or messages).

use std::collections::{HashMap, HashSet};
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use axum::serve::ListenerExt;
use clap::Parser;
use mpp::MppError;
use mpp::protocol::core::{PaymentChallenge, Receipt, parse_authorization};
use mpp::server::axum::{ChallengeOptions, ChargeChallenger, ChargeConfig, MppCharge, WithReceipt};
use mpp::server::{Mpp, StripeChargeMethod, StripeChargeOptions, StripeConfig, stripe};
use serde_json::{Value, json};

#[path = "mpp_baseline/durable.rs"]
mod durable;

use durable::DurableGuard;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "mpp-baseline",
    about = "A pay server on the mpp crate's own Stripe support (the benchmark's baseline)"
)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Stripe API base URL (the fake's, without `/v1`).
    #[arg(long)]
    stripe_api_base: String,
    /// Stripe secret key.
    #[arg(
        long,
        env = "BASELINE_STRIPE_SECRET_KEY",
        default_value = "sk_test_fake"
    )]
    stripe_secret_key: String,
    /// `methodDetails.networkId`.
    #[arg(long, default_value = "profile_bench")]
    network_id: String,
    /// The challenges' realm.
    #[arg(long, default_value = "omnibridge.local")]
    realm: String,
    /// Challenge-binding HMAC secret (at least 32 bytes).
    #[arg(
        long,
        env = "MPP_SECRET_KEY",
        default_value = "bench-only-hmac-secret-not-for-production-use"
    )]
    hmac_secret: String,
    /// Keep the single-use guard and the settlements in this SQLite file (fsync per group
    /// commit) instead of in memory.
    #[arg(long, value_name = "SQLITE_FILE")]
    durable: Option<String>,
}

/// The one price, as omnibridge's benchmark intents: €12.50 (`amount` "1250", `eur`).
struct Price;

impl ChargeConfig for Price {
    fn amount() -> &'static str {
        "12.50"
    }

    fn description() -> Option<&'static str> {
        Some("Order 42")
    }
}

/// The crate's Stripe server with a single-use guard: nonce-carrying challenges, and each
/// challenge id accepted once (consumed before verification and settlement).
struct SingleUse {
    mpp: Mpp<StripeChargeMethod>,
    guard: Guard,
}

/// Where consumed challenge ids are kept.
enum Guard {
    /// An in-memory set (the reference of issue 15).
    Memory(Mutex<HashSet<String>>),
    /// SQLite, with the settlements (`--durable`).
    Durable(DurableGuard),
}

/// A boxed verification result, as the crate's trait returns it.
type Verified<E> = Pin<Box<dyn Future<Output = Result<Receipt, E>> + Send>>;

impl SingleUse {
    /// Consumes the challenge id of `credential_str` in memory; `false` if it was consumed
    /// before (a credential that does not parse passes: the crate rejects it then).
    fn consume(used: &Mutex<HashSet<String>>, credential_str: &str) -> bool {
        let Some(id) = challenge_id(credential_str) else {
            return true;
        };
        used.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id)
    }
}

/// The challenge id a credential names, if it parses.
fn challenge_id(credential_str: &str) -> Option<String> {
    parse_authorization(credential_str)
        .ok()
        .map(|credential| credential.challenge.id)
}

/// `verify` (the crate's verification and settlement) between the durable guard's two
/// commits: the challenge consumed before, the settlement recorded after; `refuse` makes the
/// error of a used challenge (or of the guard itself).
fn durably<E: Send + 'static>(
    guard: &DurableGuard,
    credential_str: &str,
    verify: Verified<E>,
    refuse: fn(String) -> E,
) -> Verified<E> {
    let Some(id) = challenge_id(credential_str) else {
        return verify;
    };
    let guard = guard.clone();
    Box::pin(async move {
        match guard.consume(id.clone()).await {
            Ok(true) => {}
            Ok(false) => return Err(refuse("challenge already used".to_owned())),
            Err(error) => return Err(refuse(format!("single-use guard unavailable: {error}"))),
        }
        let receipt = verify.await?;
        guard
            .settled(id, receipt.reference.clone())
            .await
            .map_err(|error| refuse(format!("settlement not recorded: {error}")))?;
        Ok(receipt)
    })
}

impl ChargeChallenger for SingleUse {
    fn challenge(
        &self,
        amount: &str,
        options: ChallengeOptions,
    ) -> Result<PaymentChallenge, String> {
        let nonce = HashMap::from([("nonce".to_owned(), ulid::Ulid::new().to_string())]);
        self.mpp
            .stripe_charge_with_options(
                amount,
                StripeChargeOptions {
                    description: options.description,
                    metadata: Some(&nonce),
                    mppx_scope: options.mppx_scope.as_ref(),
                    ..Default::default()
                },
            )
            .map_err(|error| error.to_string())
    }

    fn verify_payment(&self, credential_str: &str) -> Verified<String> {
        match &self.guard {
            Guard::Memory(used) => {
                if !Self::consume(used, credential_str) {
                    return Box::pin(ready(Err("challenge already used".to_owned())));
                }
                self.mpp.verify_payment(credential_str)
            }
            Guard::Durable(guard) => durably(
                guard,
                credential_str,
                self.mpp.verify_payment(credential_str),
                |reason| reason,
            ),
        }
    }

    fn verify_payment_for_route_with_realm(
        &self,
        credential_str: &str,
        amount: &str,
        mppx_scope: Option<Value>,
        body: Option<&[u8]>,
        request_realm: Option<&str>,
    ) -> Verified<MppError> {
        let verify = |mpp: &Mpp<StripeChargeMethod>| {
            mpp.verify_payment_for_route_with_realm(
                credential_str,
                amount,
                mppx_scope,
                body,
                request_realm,
            )
        };
        match &self.guard {
            Guard::Memory(used) => {
                if !Self::consume(used, credential_str) {
                    return Box::pin(ready(Err(MppError::invalid_challenge_reason(
                        "challenge already used",
                    ))));
                }
                verify(&self.mpp)
            }
            Guard::Durable(guard) => durably(
                guard,
                credential_str,
                verify(&self.mpp),
                MppError::invalid_challenge_reason,
            ),
        }
    }
}

/// Reached only with a verified, settled credential.
async fn pay(Path(id): Path<String>, charge: MppCharge<Price>) -> WithReceipt<axum::Json<Value>> {
    let body = json!({"id": id, "state": "succeeded", "reference": charge.receipt.reference});
    WithReceipt {
        receipt: charge.receipt,
        body: axum::Json(body),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mpp = Mpp::create_stripe(
        stripe(StripeConfig {
            secret_key: &args.stripe_secret_key,
            network_id: &args.network_id,
            payment_method_types: &["card"],
            currency: "eur",
            decimals: 2,
        })
        .realm(&args.realm)
        .secret_key(&args.hmac_secret)
        .stripe_api_base(args.stripe_api_base.trim_end_matches('/')),
    )
    .map_err(|error| anyhow!("configuring the mpp crate's Stripe method: {error}"))?;
    let guard = match &args.durable {
        Some(path) => Guard::Durable(DurableGuard::open(path)?),
        None => Guard::Memory(Mutex::new(HashSet::new())),
    };
    let app = Router::new()
        .route("/pay/{id}", get(pay).post(pay))
        .with_state(Arc::new(SingleUse { mpp, guard }) as Arc<dyn ChargeChallenger>);
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    println!("http://{}", listener.local_addr()?);
    // As omnibridge does: no Nagle delay on accepted sockets.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
