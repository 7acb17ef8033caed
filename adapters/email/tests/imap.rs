//! The IMAP follower against a real Dovecot (tests/support/dovecot.rs), without TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omnibridge_email::imap::{
    CursorStore, FetchedMail, ImapAuth, ImapHealth, ImapSettings, ImapState, ImapTls, MailSink,
    MailboxCursor, TokenSource, follow,
};
use support::dovecot::{Dovecot, OAUTH_TOKEN, Options, PASSWORD, USER};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An in-memory cursor store.
#[derive(Default)]
struct MemCursor(Mutex<Option<MailboxCursor>>);

impl MemCursor {
    fn get(&self) -> Option<MailboxCursor> {
        *self.0.lock().unwrap()
    }
}

#[async_trait::async_trait]
impl CursorStore for MemCursor {
    async fn load(&self) -> Result<Option<MailboxCursor>, String> {
        Ok(self.get())
    }
    async fn save(&self, cursor: MailboxCursor) -> Result<(), String> {
        *self.0.lock().unwrap() = Some(cursor);
        Ok(())
    }
}

/// Records every delivery attempt; refuses the first `fail_first` ones.
struct Recorder {
    accepted: Mutex<Vec<FetchedMail>>,
    /// Each attempt's UIDs and the cursor saved at that moment.
    attempts: Mutex<Vec<(Vec<u32>, Option<MailboxCursor>)>>,
    fail_first: AtomicUsize,
    cursor: Arc<MemCursor>,
}

impl Recorder {
    fn new(cursor: Arc<MemCursor>, fail_first: usize) -> Arc<Self> {
        Arc::new(Self {
            accepted: Mutex::default(),
            attempts: Mutex::default(),
            fail_first: AtomicUsize::new(fail_first),
            cursor,
        })
    }

    fn uids(&self) -> Vec<u32> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect()
    }

    fn count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    fn attempts(&self) -> Vec<(Vec<u32>, Option<MailboxCursor>)> {
        self.attempts.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl MailSink for Recorder {
    async fn deliver(&self, mails: Vec<FetchedMail>) -> Result<(), String> {
        let uids = mails.iter().map(|m| m.uid).collect();
        self.attempts
            .lock()
            .unwrap()
            .push((uids, self.cursor.get()));
        let refuse = self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            return Err("bus unavailable".into());
        }
        self.accepted.lock().unwrap().extend(mails);
        Ok(())
    }
}

fn mail(i: usize) -> Vec<u8> {
    format!(
        "From: Customer <customer@example.com>\r\nTo: support@example.com\r\n\
         Subject: mail {i}\r\nMessage-ID: <mail-{i}@example.com>\r\n\
         Date: Mon, 24 Nov 2025 10:00:00 +0000\r\n\r\nbody of mail {i}\r\n"
    )
    .into_bytes()
}

fn subject_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_owned()
}

fn settings(dovecot: &Dovecot) -> ImapSettings {
    ImapSettings {
        host: "127.0.0.1".into(),
        port: Some(dovecot.port()),
        tls: ImapTls::None,
        username: USER.into(),
        mailbox: None,
        move_to: None,
        poll_secs: Some(60),
        idle_secs: None,
        batch: None,
    }
}

fn password(password: &str) -> ImapAuth {
    ImapAuth::Password {
        username: USER.into(),
        password: password.into(),
    }
}

struct Running {
    health: ImapHealth,
    stop: CancellationToken,
    task: JoinHandle<Result<(), omnibridge_email::imap::ImapError>>,
}

impl Running {
    /// Cancels `stop` and asserts `follow` returns `Ok` promptly.
    async fn stop(self) {
        self.stop.cancel();
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .expect("follow did not stop within 3 s")
            .expect("follow panicked");
        assert!(result.is_ok(), "follow failed: {result:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

fn spawn(
    settings: ImapSettings,
    auth: ImapAuth,
    cursor: Arc<MemCursor>,
    sink: Arc<Recorder>,
) -> Running {
    let health = ImapHealth::default();
    let stop = CancellationToken::new();
    let task = tokio::spawn(follow(
        settings,
        auth,
        cursor,
        sink,
        health.clone(),
        stop.clone(),
    ));
    Running { health, stop, task }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
async fn wait_until(limit: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfills_100_mails_in_uid_order_then_flags_them_seen() {
    let dovecot = Dovecot::start();
    let raws: Vec<Vec<u8>> = (1..=100).map(mail).collect();
    dovecot.deliver_many(&raws).await;
    let all = dovecot.search("INBOX", "ALL").await;
    assert_eq!(all.len(), 100);

    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        sink.clone(),
    );
    assert!(
        wait_until(Duration::from_secs(10), async || sink.count() >= 100).await,
        "only {} mails arrived",
        sink.count()
    );
    assert!(
        wait_until(Duration::from_secs(5), async || {
            dovecot.search("INBOX", "SEEN").await.len() == 100
        })
        .await,
        "not all mails were flagged \\Seen"
    );
    assert_eq!(sink.uids(), all, "exactly the mailbox's UIDs, in order");
    let subjects: Vec<String> = sink
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|m| subject_of(&m.raw))
        .collect();
    let expected: Vec<String> = (1..=100).map(|i| format!("mail {i}")).collect();
    assert_eq!(subjects, expected);
    // Default batch of 50.
    let batches: Vec<usize> = sink.attempts().iter().map(|(uids, _)| uids.len()).collect();
    assert_eq!(batches, vec![50, 50]);
    assert_eq!(run.health.get(), ImapState::Connected);
    let validity = dovecot.uid_validity().await;
    assert_eq!(
        cursor.get(),
        Some(MailboxCursor {
            uid_validity: validity,
            last_uid: *all.last().unwrap(),
        })
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_delivered_mail_to_the_configured_folder() {
    let dovecot = Dovecot::start();
    let raws: Vec<Vec<u8>> = (1..=12).map(mail).collect();
    dovecot.deliver_many(&raws).await;

    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let mut settings = settings(&dovecot);
    settings.move_to = Some("Processed".into());
    settings.batch = Some(5);
    let run = spawn(settings, password(PASSWORD), cursor.clone(), sink.clone());
    assert!(wait_until(Duration::from_secs(10), async || sink.count() >= 12).await);
    assert!(
        wait_until(Duration::from_secs(5), async || {
            dovecot.search("INBOX", "ALL").await.is_empty()
        })
        .await,
        "INBOX not emptied"
    );
    let moved = dovecot.bodies("Processed").await;
    assert_eq!(
        moved.iter().map(|raw| subject_of(raw)).collect::<Vec<_>>(),
        (1..=12).map(|i| format!("mail {i}")).collect::<Vec<_>>()
    );
    assert_eq!(sink.uids(), (1..=12).collect::<Vec<u32>>());
    assert_eq!(cursor.get().map(|c| c.last_uid), Some(12));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_sink_gets_the_same_batch_again_and_the_cursor_waits() {
    let dovecot = Dovecot::start();
    let raws: Vec<Vec<u8>> = (1..=5).map(mail).collect();
    dovecot.deliver_many(&raws).await;

    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 2);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        sink.clone(),
    );
    // Two refusals: retried after ~1 s and ~2 s.
    assert!(wait_until(Duration::from_secs(10), async || sink.count() >= 5).await);
    let attempts = sink.attempts();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for (uids, saved) in &attempts {
        assert_eq!(uids, &vec![1, 2, 3, 4, 5], "same batch, nothing skipped");
        assert_eq!(*saved, None, "cursor advanced before the sink accepted");
    }
    assert_eq!(sink.uids(), vec![1, 2, 3, 4, 5]);
    assert_eq!(cursor.get().map(|c| c.last_uid), Some(5));
    assert!(
        wait_until(Duration::from_secs(5), async || {
            dovecot.search("INBOX", "SEEN").await.len() == 5
        })
        .await
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_stay_unseen() {
    let dovecot = Dovecot::start();
    dovecot.deliver(&mail(1)).await;
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), usize::MAX);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        sink.clone(),
    );
    assert!(wait_until(Duration::from_secs(5), async || !sink.attempts().is_empty()).await);
    assert!(
        dovecot.search("INBOX", "SEEN").await.is_empty(),
        "\\Seen before acceptance"
    );
    assert_eq!(cursor.get(), None);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_saved_cursor_delivers_only_new_mail() {
    let dovecot = Dovecot::start();
    dovecot
        .deliver_many(&(1..=3).map(mail).collect::<Vec<_>>())
        .await;
    let cursor = Arc::new(MemCursor::default());

    let first = Recorder::new(cursor.clone(), 0);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        first.clone(),
    );
    assert!(wait_until(Duration::from_secs(10), async || first.count() >= 3).await);
    assert!(
        wait_until(Duration::from_secs(5), async || {
            cursor.get().map(|c| c.last_uid) == Some(3)
        })
        .await
    );
    run.stop().await;

    dovecot
        .deliver_many(&(4..=5).map(mail).collect::<Vec<_>>())
        .await;
    let second = Recorder::new(cursor.clone(), 0);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        second.clone(),
    );
    assert!(wait_until(Duration::from_secs(10), async || second.count() >= 2).await);
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(second.uids(), vec![4, 5]);
    assert_eq!(cursor.get().map(|c| c.last_uid), Some(5));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_delivers_new_mail_within_2s() {
    let dovecot = Dovecot::start();
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    // Polling every 60 s: only IDLE can make the 2 s deadline.
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        sink.clone(),
    );
    assert!(
        wait_until(Duration::from_secs(5), async || {
            run.health.get() == ImapState::Connected
        })
        .await
    );
    // Let the follower enter IDLE.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 1..=2 {
        dovecot.deliver(&mail(i)).await;
        let started = Instant::now();
        assert!(
            wait_until(Duration::from_secs(2), async || sink.count() >= i).await,
            "mail {i} did not arrive within 2 s"
        );
        eprintln!("mail {i} arrived after {:?}", started.elapsed());
    }
    assert_eq!(sink.uids(), vec![1, 2]);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_when_the_server_has_no_idle() {
    let dovecot = Dovecot::start_with(Options {
        no_idle: true,
        ..Options::default()
    });
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let mut settings = settings(&dovecot);
    settings.poll_secs = Some(1);
    let run = spawn(settings, password(PASSWORD), cursor.clone(), sink.clone());
    assert!(
        wait_until(Duration::from_secs(5), async || {
            run.health.get() == ImapState::Connected
        })
        .await
    );
    dovecot.deliver(&mail(1)).await;
    assert!(
        wait_until(Duration::from_secs(3), async || sink.count() >= 1).await,
        "polling did not pick the mail up"
    );
    dovecot.deliver(&mail(2)).await;
    assert!(wait_until(Duration::from_secs(3), async || sink.count() >= 2).await);
    assert_eq!(sink.uids(), vec![1, 2]);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_change_rescans_the_mailbox() {
    let dovecot = Dovecot::start();
    dovecot
        .deliver_many(&(1..=3).map(mail).collect::<Vec<_>>())
        .await;
    let old = dovecot.uid_validity().await;
    let cursor = Arc::new(MemCursor::default());
    let first = Recorder::new(cursor.clone(), 0);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        first.clone(),
    );
    assert!(
        wait_until(Duration::from_secs(10), async || {
            cursor.get()
                == Some(MailboxCursor {
                    uid_validity: old,
                    last_uid: 3,
                })
        })
        .await
    );
    run.stop().await;

    let new = old.wrapping_add(1000);
    dovecot.set_uid_validity(new);
    assert_eq!(dovecot.uid_validity().await, new);

    let second = Recorder::new(cursor.clone(), 0);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        second.clone(),
    );
    assert!(wait_until(Duration::from_secs(10), async || second.count() >= 3).await);
    let subjects: Vec<String> = second
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|m| subject_of(&m.raw))
        .collect();
    assert_eq!(subjects, vec!["mail 1", "mail 2", "mail 3"]);
    assert!(
        wait_until(Duration::from_secs(5), async || {
            cursor.get()
                == Some(MailboxCursor {
                    uid_validity: new,
                    last_uid: 3,
                })
        })
        .await,
        "cursor {:?}",
        cursor.get()
    );
    assert_eq!(run.health.get(), ImapState::Connected);
    run.stop().await;
}

/// A TCP forwarder to `port` that counts the connections it accepts.
async fn counting_proxy(port: u16) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (local, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_reports_auth_failed_and_retries_slowly() {
    let dovecot = Dovecot::start();
    let (proxy_port, connections) = counting_proxy(dovecot.port()).await;
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let mut settings = settings(&dovecot);
    settings.port = Some(proxy_port);
    let started = Instant::now();
    let run = spawn(settings, password("not-the-password"), cursor, sink.clone());
    assert!(
        wait_until(Duration::from_secs(5), async || {
            matches!(run.health.get(), ImapState::AuthFailed(_))
        })
        .await,
        "health stayed {:?}",
        run.health.get()
    );
    let ImapState::AuthFailed(text) = run.health.get() else {
        unreachable!()
    };
    assert!(!text.contains("not-the-password"), "{text}");
    assert_eq!(text, "[AUTHENTICATIONFAILED] Authentication failed.");
    eprintln!("AuthFailed({text}) after {:?}", started.elapsed());
    // Still running, and not hammering the server.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(started.elapsed())).await;
    assert!(!run.task.is_finished(), "follow gave up");
    let attempts = connections.load(Ordering::SeqCst);
    assert!((1..=2).contains(&attempts), "{attempts} connections in 5 s");
    assert!(matches!(run.health.get(), ImapState::AuthFailed(_)));
    assert_eq!(sink.count(), 0);
    // Stop cuts the 30 s auth backoff short.
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_restarts() {
    let mut dovecot = Dovecot::start();
    dovecot.deliver(&mail(1)).await;
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let run = spawn(
        settings(&dovecot),
        password(PASSWORD),
        cursor.clone(),
        sink.clone(),
    );
    assert!(wait_until(Duration::from_secs(10), async || sink.count() >= 1).await);

    dovecot.stop();
    assert!(
        wait_until(Duration::from_secs(5), async || {
            matches!(run.health.get(), ImapState::Reconnecting(_))
        })
        .await,
        "health stayed {:?}",
        run.health.get()
    );
    dovecot.restart();
    dovecot.deliver(&mail(2)).await;
    // Backoff: 1 s, 2 s, 4 s ... with the server down for well under a second.
    assert!(
        wait_until(Duration::from_secs(10), async || sink.count() >= 2).await,
        "no reconnect: {:?}",
        run.health.get()
    );
    assert_eq!(sink.uids(), vec![1, 2]);
    assert_eq!(run.health.get(), ImapState::Connected);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_reported_and_stop_is_prompt() {
    let port = support::dovecot::free_port();
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: ImapTls::None,
        username: USER.into(),
        mailbox: None,
        move_to: None,
        poll_secs: None,
        idle_secs: None,
        batch: None,
    };
    let run = spawn(settings, password(PASSWORD), cursor, sink);
    assert!(
        wait_until(Duration::from_secs(3), async || {
            matches!(run.health.get(), ImapState::Reconnecting(_))
        })
        .await
    );
    run.stop().await;
}

/// Follows a TLS Dovecot whose self-signed certificate no public root vouches for: the
/// follower must get as far as the TLS handshake, refuse the certificate, and keep retrying.
async fn assert_untrusted_certificate_refused(tls: ImapTls, port: u16) {
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let settings = ImapSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls,
        username: USER.into(),
        mailbox: None,
        move_to: None,
        poll_secs: None,
        idle_secs: None,
        batch: None,
    };
    let run = spawn(settings, password(PASSWORD), cursor.clone(), sink.clone());
    assert!(
        wait_until(Duration::from_secs(5), async || {
            matches!(run.health.get(), ImapState::Reconnecting(e) if e.contains("certificate"))
        })
        .await,
        "health: {:?}",
        run.health.get()
    );
    eprintln!("{tls:?}: {:?}", run.health.get());
    assert_eq!(sink.count(), 0);
    assert_eq!(cursor.get(), None);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_upgrades_and_refuses_an_untrusted_certificate() {
    let dovecot = Dovecot::start_with(Options {
        tls: true,
        ..Options::default()
    });
    // The plain port: a certificate error proves STARTTLS was accepted and TLS began.
    assert_untrusted_certificate_refused(ImapTls::Starttls, dovecot.port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_refuses_an_untrusted_certificate() {
    let dovecot = Dovecot::start_with(Options {
        tls: true,
        ..Options::default()
    });
    assert_untrusted_certificate_refused(ImapTls::Implicit, dovecot.tls_port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_with_a_token_from_a_command() {
    let dovecot = Dovecot::start_with(Options {
        xoauth2: true,
        ..Options::default()
    });
    dovecot.deliver(&mail(1)).await;
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let auth = ImapAuth::XOAuth2 {
        username: USER.into(),
        token: TokenSource::Command(format!("echo '  {OAUTH_TOKEN}  '")),
    };
    let run = spawn(settings(&dovecot), auth, cursor.clone(), sink.clone());
    assert!(
        wait_until(Duration::from_secs(10), async || sink.count() >= 1).await,
        "health {:?}\n{}",
        run.health.get(),
        dovecot.log()
    );
    assert_eq!(run.health.get(), ImapState::Connected);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_with_a_rejected_token_reports_auth_failed() {
    let dovecot = Dovecot::start_with(Options {
        xoauth2: true,
        ..Options::default()
    });
    let cursor = Arc::new(MemCursor::default());
    let sink = Recorder::new(cursor.clone(), 0);
    let auth = ImapAuth::XOAuth2 {
        username: USER.into(),
        token: TokenSource::Fixed("expired-token".into()),
    };
    let run = spawn(settings(&dovecot), auth, cursor, sink);
    assert!(
        wait_until(Duration::from_secs(8), async || {
            matches!(run.health.get(), ImapState::AuthFailed(_))
        })
        .await,
        "health {:?}\n{}",
        run.health.get(),
        dovecot.log()
    );
    let ImapState::AuthFailed(text) = run.health.get() else {
        unreachable!()
    };
    assert!(!text.contains("expired-token"), "{text}");
    assert_eq!(text, "[AUTHENTICATIONFAILED] Authentication failed.");
    eprintln!("XOAUTH2 refused: {text}");
    run.stop().await;
}
