//! Two instances on one store follow one mailbox: only the lease holder logs in to Dovecot
//! (its log counts the logins), and when the holder is SIGKILLed the other takes over within
//! 10 s, no mail lost or doubled. Once on one SQLite file (one host), once on PostgreSQL +
//! Redis with a data dir each (two machines' shape).

use std::time::Duration;

use super::dovecot::Dovecot;
use super::imap::{assert_exactly, mail, received, start_sharing, wait_received_within};
use crate::process::{Shared, free_port};

/// Logins Dovecot has logged so far (the bridge's sessions and the harness's deliveries).
fn logins(dovecot: &Dovecot) -> usize {
    dovecot.log().matches("Login: user=").count()
}

#[tokio::test]
async fn one_instance_follows_the_mailbox_and_another_takes_over_when_it_dies() {
    follows_once_and_fails_over(Shared::one_file()).await;
}

#[tokio::test]
async fn on_postgres_and_redis_one_instance_follows_the_mailbox_and_another_takes_over() {
    follows_once_and_fails_over(Shared::distributed()).await;
}

async fn follows_once_and_fails_over(shared: Shared) {
    let dovecot = Dovecot::start();
    dovecot
        .deliver_many(&(0..5).map(mail).collect::<Vec<_>>())
        .await;
    let before = logins(&dovecot);
    let (port_a, port_b) = (free_port(), free_port());
    let env = shared.env();
    let mut a = start_sharing(shared.data_dir(0), port_a, &dovecot, &env).await;
    let mut b = start_sharing(shared.data_dir(1), port_b, &dovecot, &env).await;
    wait_received_within(&a.base, 5, Duration::from_secs(30)).await;
    // Both up for two lease periods: the standby keeps asking for the lease, never logs in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        logins(&dovecot) - before,
        1,
        "one instance logged in:\n{}",
        dovecot.log()
    );

    let holder = shared
        .lease_holder_port("listen:acme-mail")
        .expect("one instance holds the lease");
    let (dead, survivor) = if holder == port_a {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    dead.child.kill().unwrap(); // SIGKILL: its lease runs out
    let _ = dead.child.wait();
    let killed = tokio::time::Instant::now();
    dovecot
        .deliver_many(&(5..10).map(mail).collect::<Vec<_>>())
        .await;
    wait_received_within(
        &survivor.base,
        10,
        Duration::from_secs(10).saturating_sub(killed.elapsed()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly(&received(&survivor.base).await, 0..10);
    // The first holder, the harness's delivery, the survivor.
    assert_eq!(logins(&dovecot) - before, 3, "{}", dovecot.log());
    survivor.child.kill().unwrap();
    let _ = survivor.child.wait();
}
