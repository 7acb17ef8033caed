//! The bus suite: the same contract tests against every [`EventLog`] backend (SQLite and
//! Redis Streams), plus SQLite-only tests (reopen, two processes on one file) and the
//! store tests (SQLite and PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

#[path = "bus_suite/cases.rs"]
mod cases;
#[path = "bus_suite/redis_only.rs"]
mod redis_only;
#[path = "bus_suite/retention.rs"]
mod retention;
#[path = "bus_suite/sqlite_only.rs"]
mod sqlite_only;
#[path = "bus_suite/store.rs"]
mod store;

use std::any::Any;
use std::sync::Arc;

use omnibridge::bus::EventLog;
use omnibridge::bus::sqlite::SqliteBus;
use omnibridge::sqlite::{Database, Durability};

/// A bus under test and whatever must stay alive with it (temp dir, server).
pub(crate) struct Harness {
    pub(crate) bus: Arc<dyn EventLog>,
    _guard: Box<dyn Any + Send>,
}

async fn sqlite_harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("bus.db"), Durability::Full).unwrap();
    let bus = SqliteBus::new(db).await.unwrap();
    Harness {
        bus: Arc::new(bus),
        _guard: Box::new(dir),
    }
}

async fn redis_harness() -> Harness {
    let server = support::redis_server::RedisServer::start();
    let bus = omnibridge::bus::redis_streams::RedisBus::connect(&server.url(), "test")
        .await
        .unwrap();
    Harness {
        bus: Arc::new(bus),
        _guard: Box::new(server),
    }
}

macro_rules! bus_suite {
    ($backend:ident, $make:path, [$($case:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let crate::Harness { bus, _guard } = $make().await;
                    crate::$case(bus).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),* $(,)?) => {
        bus_suite!(sqlite, crate::sqlite_harness, [$($case),*]);
        bus_suite!(redis, crate::redis_harness, [$($case),*]);
    };
}

all_backends!(
    append_then_read_in_order,
    per_conversation_order_with_interleaving,
    read_conversation_after_and_limit,
    read_conversation_latest_is_the_tail_oldest_first,
    dedup_same_key_gives_one_event,
    dedup_is_scoped_by_channel,
    concurrent_redeliveries_give_one_event,
    consumers_share_work_without_overlap,
    ack_removes_from_pending,
    a_typed_group_read_hands_out_only_the_wanted_types,
    dead_consumer_events_are_claimed,
    watch_head_moves_after_append,
    head_is_newest_seq,
    ping_answers,
    head_watch_ends_when_bus_dropped,
    trim_removes_old_events_and_dedup_records,
    trim_keeps_what_a_group_has_not_acked_until_the_hard_limit,
    trim_keeps_the_log_within_its_size_budget,
    retention_job_trims_every_kind_and_counts,
);

use cases::*;
use retention::*;
