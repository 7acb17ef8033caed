//! `stripe-fake`: the test suite's Stripe fake (`tests/support/stripe_fake.rs`, the same
//! source, compiled in) as a standalone process for the payments benchmark. Zero latency,
//! secret key `sk_test_fake`, on `127.0.0.1` and a free port.
//!
//! Prints its base URL (`http://127.0.0.1:<port>`, no `/v1`) as the first line of stdout,
//! then serves until SIGINT or SIGTERM, when it prints its counters to stderr.

use anyhow::Result;

/// The test suite's support modules, by path, so the bench runs the fake the tests run.
#[path = "../../../tests/support"]
#[allow(
    dead_code,
    unreachable_pub,
    clippy::expect_used,
    reason = "test support code: helpers the bench does not call, test-style expects"
)]
mod support {
    pub(crate) mod stripe_fake;
}

use support::stripe_fake::StripeFake;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> Result<()> {
    let fake = StripeFake::start().await;
    println!("{}", fake.url());
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let (intents, requests) = {
        let state = fake.state();
        (state.payment_intents_created, state.recorded.len())
    };
    eprintln!("stripe-fake: {intents} PaymentIntents created, {requests} requests answered");
    Ok(())
}
