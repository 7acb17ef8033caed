//! Backend-independent contract tests of [`EventLog`]; each takes a fresh, empty bus.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use omnibridge::bus::{Appended, EventLog, NewEvent, Seq};
use omnibridge_sdk::{ChannelKind, Content, ConversationId, ConversationRef, Envelope, EventBody};
use omnibridge_sdk::{InboundEvent, Timestamp};

/// A text message on `channel` in conversation `conv`.
pub(crate) fn event(channel: &str, conv: &str, text: &str, dedup: Option<&str>) -> NewEvent {
    let inbound = InboundEvent::message(ConversationRef::new("acct", conv), Content::text(text));
    let now: Timestamp = chrono::Utc::now();
    let envelope = Envelope::stamp(
        inbound,
        ChannelKind::new(channel).unwrap(),
        ConversationId::new(conv),
        now,
    );
    NewEvent {
        envelope,
        dedup_key: dedup.map(str::to_owned),
    }
}

/// The text of a message event.
pub(crate) fn text(envelope: &Envelope) -> String {
    match &envelope.body {
        EventBody::MessageReceived(message) => message.content.text_body().unwrap().to_owned(),
        other => panic!("unexpected body {other:?}"),
    }
}

fn seqs(events: &[Envelope]) -> Vec<Seq> {
    events.iter().map(|e| e.seq.unwrap()).collect()
}

async fn append_one(bus: &dyn EventLog, event: NewEvent) -> Appended {
    let out = bus.append(vec![event]).await.unwrap();
    assert_eq!(out.len(), 1);
    out[0]
}

pub(crate) async fn append_then_read_in_order(bus: Arc<dyn EventLog>) {
    let first = bus
        .append(vec![
            event("webchat", "c1", "one", None),
            event("webchat", "c1", "two", None),
            event("webchat", "c2", "three", None),
        ])
        .await
        .unwrap();
    let second = bus
        .append(vec![
            event("webchat", "c1", "four", None),
            event("webchat", "c2", "five", None),
        ])
        .await
        .unwrap();
    let all: Vec<Appended> = first.into_iter().chain(second).collect();
    assert!(all.iter().all(|a| !a.duplicate));
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "seqs increase: {all:?}"
    );
    assert!(all[0].seq > 0);

    let read = bus.read_after(0, 100).await.unwrap();
    assert_eq!(
        read.iter().map(text).collect::<Vec<_>>(),
        ["one", "two", "three", "four", "five"]
    );
    assert_eq!(seqs(&read), all.iter().map(|a| a.seq).collect::<Vec<_>>());

    let tail = bus.read_after(all[2].seq, 100).await.unwrap();
    assert_eq!(tail.iter().map(text).collect::<Vec<_>>(), ["four", "five"]);
    let limited = bus.read_after(0, 2).await.unwrap();
    assert_eq!(limited.iter().map(text).collect::<Vec<_>>(), ["one", "two"]);
    assert!(bus.read_after(all[4].seq, 10).await.unwrap().is_empty());
}

pub(crate) async fn per_conversation_order_with_interleaving(bus: Arc<dyn EventLog>) {
    for i in 0..10 {
        let conv = if i % 2 == 0 { "a" } else { "b" };
        append_one(
            bus.as_ref(),
            event("webchat", conv, &format!("{conv}{i}"), None),
        )
        .await;
    }
    let a = bus
        .read_conversation(&ConversationId::new("a"), 0, 100)
        .await
        .unwrap();
    let b = bus
        .read_conversation(&ConversationId::new("b"), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        a.iter().map(text).collect::<Vec<_>>(),
        ["a0", "a2", "a4", "a6", "a8"]
    );
    assert_eq!(
        b.iter().map(text).collect::<Vec<_>>(),
        ["b1", "b3", "b5", "b7", "b9"]
    );
    assert!(seqs(&a).windows(2).all(|w| w[0] < w[1]));
    assert!(a.iter().all(|e| e.conversation_id.as_str() == "a"));
    let all = bus.read_after(0, 100).await.unwrap();
    assert_eq!(all.len(), 10);
    assert!(seqs(&all).windows(2).all(|w| w[0] < w[1]));
}

pub(crate) async fn read_conversation_after_and_limit(bus: Arc<dyn EventLog>) {
    let mut mine = Vec::new();
    for i in 0..6 {
        mine.push(append_one(bus.as_ref(), event("webchat", "me", &format!("m{i}"), None)).await);
        append_one(
            bus.as_ref(),
            event("webchat", "other", &format!("o{i}"), None),
        )
        .await;
    }
    let conv = ConversationId::new("me");
    let page = bus.read_conversation(&conv, mine[1].seq, 3).await.unwrap();
    assert_eq!(
        page.iter().map(text).collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );
    assert_eq!(seqs(&page), [mine[2].seq, mine[3].seq, mine[4].seq]);
    let rest = bus.read_conversation(&conv, mine[4].seq, 10).await.unwrap();
    assert_eq!(rest.iter().map(text).collect::<Vec<_>>(), ["m5"]);
    let none = bus
        .read_conversation(&ConversationId::new("nobody"), 0, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub(crate) async fn read_conversation_latest_is_the_tail_oldest_first(bus: Arc<dyn EventLog>) {
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(append_one(bus.as_ref(), event("webchat", "me", &format!("m{i}"), None)).await);
        append_one(
            bus.as_ref(),
            event("webchat", "other", &format!("o{i}"), None),
        )
        .await;
    }
    let conv = ConversationId::new("me");
    let tail = bus.read_conversation_latest(&conv, 3).await.unwrap();
    assert_eq!(
        tail.iter().map(text).collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );
    assert_eq!(seqs(&tail), [mine[2].seq, mine[3].seq, mine[4].seq]);
    let all = bus.read_conversation_latest(&conv, 50).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        bus.read_conversation_latest(&ConversationId::new("nobody"), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn dedup_same_key_gives_one_event(bus: Arc<dyn EventLog>) {
    let original = append_one(
        bus.as_ref(),
        event("whatsapp", "c", "first", Some("wamid.1")),
    )
    .await;
    assert!(!original.duplicate);
    let again = append_one(
        bus.as_ref(),
        event("whatsapp", "c", "again", Some("wamid.1")),
    )
    .await;
    assert_eq!(
        again,
        Appended {
            seq: original.seq,
            duplicate: true
        }
    );

    // Duplicates inside one batch, and events without a key, are handled too.
    let batch = bus
        .append(vec![
            event("whatsapp", "c", "x", Some("wamid.2")),
            event("whatsapp", "c", "y", Some("wamid.2")),
            event("whatsapp", "c", "z", None),
            event("whatsapp", "c", "z", None),
        ])
        .await
        .unwrap();
    assert!(!batch[0].duplicate);
    assert_eq!(
        batch[1],
        Appended {
            seq: batch[0].seq,
            duplicate: true
        }
    );
    assert!(!batch[2].duplicate && !batch[3].duplicate);
    let read = bus.read_after(0, 100).await.unwrap();
    assert_eq!(
        read.iter().map(text).collect::<Vec<_>>(),
        ["first", "x", "z", "z"]
    );
}

pub(crate) async fn dedup_is_scoped_by_channel(bus: Arc<dyn EventLog>) {
    let a = append_one(bus.as_ref(), event("whatsapp", "c", "wa", Some("42"))).await;
    let b = append_one(bus.as_ref(), event("telegram", "c", "tg", Some("42"))).await;
    assert!(!a.duplicate && !b.duplicate);
    assert_ne!(a.seq, b.seq);
    assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 2);
}

pub(crate) async fn concurrent_redeliveries_give_one_event(bus: Arc<dyn EventLog>) {
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (bus, start) = (bus.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let e = event("whatsapp", "c", &format!("copy {i}"), Some("wamid.same"));
                bus.append(vec![e]).await.unwrap()[0]
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let originals: Vec<_> = results.iter().filter(|a| !a.duplicate).collect();
    assert_eq!(originals.len(), 1, "exactly one original: {results:?}");
    assert!(results.iter().all(|a| a.seq == originals[0].seq));
    assert_eq!(bus.read_after(0, 100).await.unwrap().len(), 1);
}

pub(crate) async fn consumers_share_work_without_overlap(bus: Arc<dyn EventLog>) {
    // Appended before the group exists: the group starts at the beginning of the log.
    let batch = (0..10)
        .map(|i| event("webchat", "c", &format!("e{i}"), None))
        .collect();
    let appended: Vec<Seq> = bus
        .append(batch)
        .await
        .unwrap()
        .iter()
        .map(|a| a.seq)
        .collect();
    let one = bus.group_read("workers", "one", 4).await.unwrap();
    let two = bus.group_read("workers", "two", 100).await.unwrap();
    assert_eq!(one.len(), 4);
    assert_eq!(two.len(), 6);
    let (s1, s2): (HashSet<Seq>, HashSet<Seq>) = (
        seqs(&one).into_iter().collect(),
        seqs(&two).into_iter().collect(),
    );
    assert!(s1.is_disjoint(&s2), "no event to both");
    let mut union: Vec<Seq> = s1.union(&s2).copied().collect();
    union.sort_unstable();
    assert_eq!(union, appended);
    assert!(
        bus.group_read("workers", "one", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(bus.pending_count("workers").await.unwrap(), 10);

    // Another group sees everything independently.
    assert_eq!(bus.group_read("audit", "x", 100).await.unwrap().len(), 10);
    // New events go to whoever reads next.
    let late = append_one(bus.as_ref(), event("webchat", "c", "late", None)).await;
    assert_eq!(
        seqs(&bus.group_read("workers", "two", 10).await.unwrap()),
        [late.seq]
    );
}

pub(crate) async fn ack_removes_from_pending(bus: Arc<dyn EventLog>) {
    let batch = (0..3)
        .map(|i| event("webchat", "c", &format!("e{i}"), None))
        .collect();
    bus.append(batch).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 0);
    let got = bus.group_read("g", "one", 10).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 3);
    bus.group_ack("g", &seqs(&got[..2])).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 1);
    bus.group_ack("g", &seqs(&got[..2])).await.unwrap();
    bus.group_ack("g", &[]).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 1);
    let left = bus
        .claim_stale("g", "two", Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(seqs(&left), [got[2].seq.unwrap()]);
    bus.group_ack("g", &seqs(&left)).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 0);
    assert!(
        bus.claim_stale("g", "two", Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn dead_consumer_events_are_claimed(bus: Arc<dyn EventLog>) {
    let batch = (0..3)
        .map(|i| event("webchat", "c", &format!("e{i}"), None))
        .collect();
    bus.append(batch).await.unwrap();
    let taken = bus.group_read("g", "doomed", 10).await.unwrap();
    assert_eq!(taken.len(), 3);
    // "doomed" dies without acking. Too early to claim:
    let min_idle = Duration::from_millis(300);
    assert!(
        bus.claim_stale("g", "rescuer", min_idle, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let first = bus.claim_stale("g", "rescuer", min_idle, 2).await.unwrap();
    assert_eq!(seqs(&first), seqs(&taken[..2]), "oldest first");
    assert_eq!(first.iter().map(text).collect::<Vec<_>>(), ["e0", "e1"]);
    let rest = bus.claim_stale("g", "rescuer", min_idle, 10).await.unwrap();
    assert_eq!(seqs(&rest), seqs(&taken[2..]));
    // Just claimed: not idle any more, so nobody else takes them.
    assert!(
        bus.claim_stale("g", "third", min_idle, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(bus.group_read("g", "doomed", 10).await.unwrap().is_empty());
    bus.group_ack("g", &seqs(&taken)).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 0);
}

pub(crate) async fn watch_head_moves_after_append(bus: Arc<dyn EventLog>) {
    let mut head = bus.watch_head();
    assert_eq!(*head.borrow_and_update(), 0);
    let appended = append_one(bus.as_ref(), event("webchat", "c", "x", None)).await;
    let seen = tokio::time::timeout(
        Duration::from_secs(3),
        head.wait_for(|s| *s >= appended.seq),
    )
    .await
    .expect("watch_head moved")
    .unwrap();
    assert_eq!(*seen, appended.seq);
}

pub(crate) async fn head_is_newest_seq(bus: Arc<dyn EventLog>) {
    assert_eq!(bus.head().await.unwrap(), 0);
    let out = bus
        .append(vec![
            event("webchat", "c", "a", Some("k")),
            event("webchat", "c", "b", None),
        ])
        .await
        .unwrap();
    assert_eq!(bus.head().await.unwrap(), out[1].seq);
    append_one(bus.as_ref(), event("webchat", "c", "dup", Some("k"))).await;
    assert_eq!(
        bus.head().await.unwrap(),
        out[1].seq,
        "a duplicate does not move the head"
    );
}

pub(crate) async fn ping_answers(bus: Arc<dyn EventLog>) {
    bus.ping().await.unwrap();
}

pub(crate) async fn head_watch_ends_when_bus_dropped(bus: Arc<dyn EventLog>) {
    let mut head = bus.watch_head();
    drop(bus);
    // The poller holds no strong reference: once the bus is gone, the sender goes too.
    tokio::time::timeout(Duration::from_secs(3), async {
        while head.changed().await.is_ok() {}
    })
    .await
    .expect("head watch closed after the bus was dropped");
}

/// A delivery status on `conv` (a type a message-only consumer does not want).
fn delivery(conv: &str) -> NewEvent {
    let inbound = InboundEvent::delivery(
        ConversationRef::new("acct", conv),
        omnibridge_sdk::Delivery::new(omnibridge_sdk::DeliveryStatus::Sent),
    );
    NewEvent {
        envelope: Envelope::stamp(
            inbound,
            ChannelKind::new("webchat").unwrap(),
            ConversationId::new(conv),
            chrono::Utc::now(),
        ),
        dedup_key: None,
    }
}

pub(crate) async fn a_typed_group_read_hands_out_only_the_wanted_types(bus: Arc<dyn EventLog>) {
    const MESSAGES: &[&str] = &["message.received"];
    bus.append(vec![
        event("webchat", "c", "m0", None),
        delivery("c"),
        delivery("c"),
        event("webchat", "c", "m1", None),
        delivery("c"),
    ])
    .await
    .unwrap();
    let first = bus.group_read_of("g", "one", 4, MESSAGES).await.unwrap();
    assert_eq!(first.read, 4, "the group moved past four events");
    assert_eq!(
        first.events.iter().map(text).collect::<Vec<_>>(),
        ["m0", "m1"]
    );
    assert_eq!(
        bus.pending_count("g").await.unwrap(),
        2,
        "only the wanted events wait for an ack"
    );
    let second = bus.group_read_of("g", "one", 4, MESSAGES).await.unwrap();
    assert_eq!(second.read, 1);
    assert!(second.events.is_empty());
    assert_eq!(bus.pending_count("g").await.unwrap(), 2);
    bus.group_ack("g", &seqs(&first.events)).await.unwrap();
    assert_eq!(bus.pending_count("g").await.unwrap(), 0);
    let end = bus.group_read_of("g", "one", 4, MESSAGES).await.unwrap();
    assert_eq!((end.read, end.events.len()), (0, 0));
    // Another group still sees everything.
    assert_eq!(bus.group_read("h", "one", 10).await.unwrap().len(), 5);
}
