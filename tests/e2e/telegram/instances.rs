//! Two instances on one store poll one bot: the lease lets one of them poll at a time (the
//! fake answers 409 to a long poll a second poller cuts short, as Telegram does), and when
//! the polling instance is SIGKILLed the other takes over within 10 s, nothing lost or doubled.
//! Once on one SQLite file (one host), once on PostgreSQL + Redis with a data dir each (two
//! machines' shape).

use std::collections::HashMap;
use std::time::Duration;

use omnibridge_telegram::fake::FakeBotApi;

use super::crash::{polling_config, received, start};
use super::{CUSTOMER, text_update};
use crate::process::{Shared, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_polls_and_another_takes_over_when_it_dies() {
    polls_once_and_fails_over(Shared::one_file()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_and_redis_one_instance_polls_and_another_takes_over_when_it_dies() {
    polls_once_and_fails_over(Shared::distributed()).await;
}

async fn polls_once_and_fails_over(shared: Shared) {
    let fake = std::sync::Arc::new(FakeBotApi::start().await.unwrap());
    let config = polling_config(shared.data_dir(0), &fake);
    let (port_a, port_b) = (free_port(), free_port());
    let env = shared.env();
    let mut a = start(shared.data_dir(0), port_a, &config, &env).await;
    let mut b = start(shared.data_dir(1), port_b, &config, &env).await;

    for i in 1..=20 {
        fake.push_update(text_update(i, i64::from(i), &format!("n{i}")));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received(&a.base).await.len() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first updates did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more long polls (1 s each) with both instances up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let conflicts = fake
        .calls()
        .iter()
        .filter(|call| call.method == "getUpdates" && call.status == 409)
        .count();
    assert_eq!(conflicts, 0, "two instances polled at once");

    let holder = shared
        .lease_holder_port("listen:tg")
        .expect("one instance holds the lease");
    let (dead, survivor) = if holder == port_a {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    dead.child.kill().unwrap(); // SIGKILL: the lease is not given up, it runs out
    let _ = dead.child.wait();
    let killed = tokio::time::Instant::now();
    for i in 21..=40 {
        fake.push_update(text_update(i, i64::from(i), &format!("n{i}")));
    }
    let ids = loop {
        let ids = received(&survivor.base).await;
        if ids.len() >= 40 {
            break ids;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "no takeover within 10 s: {} of 40 updates",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    for i in 1..=40 {
        let id = format!("{CUSTOMER}:{i}");
        assert_eq!(
            counts.get(id.as_str()),
            Some(&1),
            "update {i} lost or doubled"
        );
    }
    assert_eq!(
        shared.lease_holder_port("listen:tg"),
        Some(if holder == port_a { port_b } else { port_a }),
        "the survivor holds the lease"
    );
    survivor.child.kill().unwrap();
    let _ = survivor.child.wait();
}
