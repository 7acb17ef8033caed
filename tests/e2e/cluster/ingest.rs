//! Signed WhatsApp webhooks through HAProxy at a steady rate while one instance is SIGKILLed
//! and restarted three times. A webhook not answered 2xx (in flight on the killed instance) is
//! redelivered with the same body until it is, as Meta does. Then every acked message is on the
//! bus exactly once, and each of two business webhook endpoints (two consumer groups, served
//! by every instance) receives every one of those events.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnibridge_whatsapp::inbound::sign;
use serde_json::Value;
use tokio::sync::watch;

use super::{Cluster, KEY, Options};
use crate::crash::history;
use crate::webhooks_out::{self, start_receiver};
use crate::whatsapp::{PN, envelope, text_message};

const APP_SECRET: &str = "cluster-wa-app-secret";
/// Concurrent senders, each one webhook per [`PACE`]: 200 webhooks/s in all.
const SENDERS: usize = 4;
const PACE: Duration = Duration::from_millis(20);
/// Customers (conversations) the messages are spread over.
const CUSTOMERS: usize = 8;
/// Acked webhooks between two kills, kills, and acked webhooks in all.
const KILL_EVERY: usize = 300;
const KILLS: usize = 3;
const TOTAL: usize = 1_500;
/// The business webhook endpoints: a consumer group each.
const ENDPOINTS: [&str; 2] = ["crm", "analytics"];

/// One WhatsApp channel and the two business webhooks (message events only).
fn config(hooks: &str) -> String {
    let mut config = format!(
        "[[channels]]\nid = \"wa\"\ntype = \"whatsapp\"\nphone_number_id = \"{PN}\"\n\
         access_token_env = \"CLUSTER_WA_TOKEN\"\napp_secret_env = \"CLUSTER_WA_SECRET\"\n\
         verify_token_env = \"CLUSTER_WA_VERIFY\"\napi_base = \"http://127.0.0.1:9\"\n"
    );
    for name in ENDPOINTS {
        config.push_str(&format!(
            "\n[[webhooks]]\nname = \"{name}\"\nurl = \"{hooks}/{name}\"\n\
             secret_env = \"CLUSTER_HOOK_SECRET\"\nevent_types = [\"message.received\"]\n"
        ));
    }
    config
}

/// What the senders share.
struct Load {
    /// The wamids answered 2xx.
    acked: Mutex<Vec<String>>,
    /// How many are acked, for the test to wait on.
    count: watch::Sender<usize>,
    /// Deliveries answered with something else (or not at all) and sent again.
    redelivered: AtomicUsize,
    stop: AtomicBool,
}

/// Sends webhook `first`, `first + SENDERS`, ... one per [`PACE`] until stopped.
async fn sender(load: Arc<Load>, url: String, first: usize) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut tick = tokio::time::interval(PACE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = first;
    while !load.stop.load(Ordering::SeqCst) {
        tick.tick().await;
        let wamid = format!("wamid.CLUSTER{n}");
        let customer = format!("1555010{:04}", n % CUSTOMERS);
        let message = text_message(&customer, &wamid, Duration::ZERO);
        let body = envelope(&customer, vec![message], vec![]);
        deliver(&client, &url, body, &load).await;
        load.acked.lock().unwrap().push(wamid);
        load.count.send_modify(|count| *count += 1);
        n += SENDERS;
    }
}

/// Posts `body` signed until it is answered 2xx (10 s at most).
async fn deliver(client: &reqwest::Client, url: &str, body: Vec<u8>, load: &Load) {
    let signature = sign(APP_SECRET.as_bytes(), &body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", &signature)
            .body(body.clone())
            .send()
            .await;
        let failure = match answer {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => answer.status().to_string(),
            Err(error) => error.to_string(),
        };
        load.redelivered.fetch_add(1, Ordering::SeqCst);
        assert!(
            tokio::time::Instant::now() < deadline,
            "a webhook was not acked within 10 s: {failure}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// wamid → ids of the `message.received` events carrying it, over the customers'
/// conversations (read through the balancer).
async fn events_on_the_bus(cluster: &Cluster) -> HashMap<String, Vec<String>> {
    let list: Value = reqwest::Client::new()
        .get(format!("{}/v1/conversations?limit=100", cluster.base()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut events: HashMap<String, Vec<String>> = HashMap::new();
    for conversation in list["data"].as_array().unwrap() {
        if conversation["conversation"]["account"] != PN {
            continue;
        }
        let id = conversation["id"].as_str().unwrap();
        for event in history(&cluster.base(), KEY, id).await {
            if event["type"] == "message.received" {
                let wamid = event["provider_message_id"].as_str().unwrap().to_owned();
                let event_id = event["id"].as_str().unwrap().to_owned();
                events.entry(wamid).or_default().push(event_id);
            }
        }
    }
    events
}

/// `(wamid, event id)` of each delivery endpoint `name` answered, checking its signature.
fn deliveries(receiver: &webhooks_out::Receiver, name: &str) -> Vec<(String, String)> {
    receiver
        .received_at(name)
        .iter()
        .map(|(signature, body)| {
            assert!(webhooks_out::verify(signature, body), "a bad signature");
            let event: Value = serde_json::from_slice(body).unwrap();
            let wamid = event["provider_message_id"].as_str().unwrap().to_owned();
            (wamid, event["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_through_the_balancer_survive_sigkills_once_on_the_bus_and_per_group() {
    let (receiver, hooks) = start_receiver().await;
    let mut cluster = Cluster::start(Options {
        config: Some(config(&hooks)),
        env: vec![
            ("CLUSTER_WA_TOKEN", "unused".to_owned()),
            ("CLUSTER_WA_SECRET", APP_SECRET.to_owned()),
            ("CLUSTER_WA_VERIFY", "unused".to_owned()),
            ("CLUSTER_HOOK_SECRET", webhooks_out::SECRET.to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let (count, mut acked_count) = watch::channel(0);
    let load = Arc::new(Load {
        acked: Mutex::new(Vec::new()),
        count,
        redelivered: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let url = format!("{}/webhooks/wa", cluster.base());
    let senders: Vec<_> = (0..SENDERS)
        .map(|first| tokio::spawn(sender(load.clone(), url.clone(), first)))
        .collect();
    for round in 1..=KILLS {
        acked_count
            .wait_for(|n| *n >= round * KILL_EVERY)
            .await
            .unwrap();
        cluster.kill(1);
        // Down for a while: HAProxy notices and sends everything to the others.
        cluster.proxy.wait_status("b", "DOWN").await;
        cluster.restart(1).await;
    }
    acked_count.wait_for(|n| *n >= TOTAL).await.unwrap();
    load.stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    let acked: Vec<String> = load.acked.lock().unwrap().clone();
    let redelivered = load.redelivered.load(Ordering::SeqCst);
    eprintln!(
        "{} webhooks acked, {redelivered} deliveries sent again",
        acked.len()
    );

    let on_bus = events_on_the_bus(&cluster).await;
    let doubled: Vec<_> = on_bus.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(doubled.is_empty(), "on the bus twice: {doubled:?}");
    let lost: Vec<_> = acked.iter().filter(|w| !on_bus.contains_key(*w)).collect();
    assert!(
        lost.is_empty(),
        "{} acked webhooks not on the bus: {lost:?}",
        lost.len()
    );
    assert_eq!(
        on_bus.len(),
        acked.len(),
        "nothing on the bus but the acked"
    );

    let wanted: HashSet<&String> = acked.iter().collect();
    for name in ENDPOINTS {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let delivered = loop {
            let delivered = deliveries(&receiver, name);
            let got: HashSet<&String> = delivered.iter().map(|(wamid, _)| wamid).collect();
            if wanted.is_subset(&got) {
                break delivered;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "endpoint {name}: {} of {} events after 20 s\n{}",
                    wanted.intersection(&got).count(),
                    wanted.len(),
                    cluster.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for (wamid, event_id) in &delivered {
            assert_eq!(
                on_bus.get(wamid).map(|ids| &ids[0]),
                Some(event_id),
                "endpoint {name} got an event that is not the bus's"
            );
        }
        // A dispatcher posts one event at a time and acks it after the answer: a kill can
        // leave at most one answered but unacked event of each group, redelivered once.
        let again = delivered.len() - wanted.len();
        assert!(
            again <= KILLS,
            "endpoint {name}: {again} events delivered twice (at most one per kill)"
        );
    }
}
