//! Payments through HAProxy across three instances, with the Stripe method at the fake: one
//! MPP credential submitted 100 times at once, and 50 payers racing with their own
//! challenges and tokens on one intent. Either way: one 200 with a receipt, one PaymentIntent
//! at Stripe, one settlement over all instances' metrics, and one receipt message in the chat.

use serde_json::Value;

use super::{Cluster, KEY, Options, instance_metric};
use crate::payments::challenges;
use crate::payments::processes::{SETTLED, SUCCEEDED, assert_one_paid, race, stripe_env};
use crate::payments::stripe::spt_credential;
use crate::support::stripe_fake::StripeFake;
use crate::visitor::{Visitor, create_intent};

const SUBMISSIONS: usize = 100;
const PAYERS: usize = 50;

/// A three-instance cluster paying with Stripe at a fresh fake.
async fn start() -> (Cluster, StripeFake) {
    let fake = StripeFake::start().await;
    let cluster = Cluster::start(Options {
        env: stripe_env(&fake),
        ..Options::default()
    })
    .await;
    (cluster, fake)
}

/// A visitor (through the balancer) who said hello, and an intent on their conversation.
async fn visitor_with_intent(cluster: &Cluster) -> (Visitor, String) {
    let mut visitor = Visitor::open(&cluster.base()).await;
    visitor.say("hello").await;
    let intent = create_intent(&cluster.base(), KEY, &visitor.conversation).await;
    (visitor, intent["id"].as_str().unwrap().to_owned())
}

/// A fresh challenge for `intent`, from whichever instance the balancer picks.
async fn challenge(cluster: &Cluster, intent: &str) -> mpp::protocol::core::PaymentChallenge {
    let probe = reqwest::get(format!("{}/pay/{intent}", cluster.base()))
        .await
        .unwrap();
    assert_eq!(probe.status(), 402);
    challenges(&probe).remove(0)
}

/// One settlement in all: one PaymentIntent at Stripe, one counted over the instances, the
/// intent `succeeded`, and one receipt message on the visitor's socket (counted up to a
/// message posted after it).
async fn assert_settled_once(
    cluster: &Cluster,
    fake: &StripeFake,
    visitor: &mut Visitor,
    intent: &str,
) {
    assert_eq!(fake.payment_intents_created(), 1);
    assert_eq!(cluster.metric_sum(SETTLED, &[SUCCEEDED]).await, 1);
    let client = reqwest::Client::new();
    let state: Value = client
        .get(format!("{}/v1/payment-intents/{intent}", cluster.base()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["state"], "succeeded");
    let mut receipts = 0;
    let mut marker_sent = false;
    loop {
        let frame = visitor.next("message").await;
        let text = frame["text"].as_str().unwrap_or_default();
        if text.starts_with("Payment received") {
            receipts += 1;
            if !marker_sent {
                let posted = client
                    .post(format!(
                        "{}/v1/conversations/{}/messages",
                        cluster.base(),
                        visitor.conversation
                    ))
                    .bearer_auth(KEY)
                    .json(&serde_json::json!({ "text": "after the receipt" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(posted.status(), 202);
                marker_sent = true;
            }
        }
        if text == "after the receipt" {
            break;
        }
    }
    assert_eq!(receipts, 1, "receipt messages in the chat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_credential_submitted_100_times_across_three_instances_settles_once() {
    let (cluster, fake) = start().await;
    let (mut visitor, intent) = visitor_with_intent(&cluster).await;
    let auth = spt_credential(&challenge(&cluster, &intent).await, "spt_success_cluster");
    let answers = race(&[cluster.base()], &intent, &vec![auth; SUBMISSIONS]).await;
    assert_one_paid(&answers);
    // The balancer spread the submissions: every instance answered some of them.
    for instance in &cluster.instances {
        let submitted = instance_metric(
            &instance.base,
            "omnibridge_http_request_duration_seconds_count",
            &["route=\"/pay/{intent_id}\"", "method=\"POST\""],
        )
        .await;
        assert!(
            submitted > 0,
            "instance {} got no submission",
            instance.name
        );
    }
    assert_settled_once(&cluster, &fake, &mut visitor, &intent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_racing_payers_on_one_intent_across_three_instances_settle_once() {
    let (cluster, fake) = start().await;
    let (mut visitor, intent) = visitor_with_intent(&cluster).await;
    let mut auths = Vec::new();
    for payer in 0..PAYERS {
        let challenge = challenge(&cluster, &intent).await;
        auths.push(spt_credential(
            &challenge,
            &format!("spt_success_payer_{payer}"),
        ));
    }
    assert_one_paid(&race(&[cluster.base()], &intent, &auths).await);
    assert_settled_once(&cluster, &fake, &mut visitor, &intent).await;
}
