//! Two instances on one store follow one mailbox: only the lease holder logs in to Dovecot
//! (its log counts the logins), and when the holder is SIGKILLed the other takes over within
//! 10 s, no mail lost or doubled.

use std::path::Path;
use std::time::Duration;

use super::dovecot::Dovecot;
use super::imap::{assert_exactly, mail, received, start, wait_received_within};
use crate::process::free_port;

/// Logins Dovecot has logged so far (the bridge's sessions and the harness's deliveries).
fn logins(dovecot: &Dovecot) -> usize {
    dovecot.log().matches("Login: user=").count()
}

/// The port of the instance holding the mailbox's lease.
fn holder_port(dir: &Path) -> Option<u16> {
    crate::process::lease_holder_port(dir, "listen:acme-mail")
}

#[tokio::test]
async fn one_instance_follows_the_mailbox_and_another_takes_over_when_it_dies() {
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    dovecot
        .deliver_many(&(0..5).map(mail).collect::<Vec<_>>())
        .await;
    let before = logins(&dovecot);
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = start(dir.path(), port_a, &dovecot).await;
    let mut b = start(dir.path(), port_b, &dovecot).await;
    wait_received_within(&a.base, 5, Duration::from_secs(30)).await;
    // Both up for two lease periods: the standby keeps asking for the lease, never logs in.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        logins(&dovecot) - before,
        1,
        "one instance logged in:\n{}",
        dovecot.log()
    );

    let holder = holder_port(dir.path()).expect("one instance holds the lease");
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
