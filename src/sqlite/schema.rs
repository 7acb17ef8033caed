//! Schema migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

use super::DbError;

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: event bus.
    "CREATE TABLE bus_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        envelope TEXT NOT NULL
    );
    CREATE INDEX bus_events_conversation ON bus_events (conversation_id, seq);
    CREATE TABLE bus_dedup (
        channel TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        UNIQUE (channel, dedup_key)
    );
    CREATE TABLE bus_groups (
        name TEXT PRIMARY KEY,
        cursor INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE bus_pending (
        group_name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        consumer TEXT NOT NULL,
        delivered_at INTEGER NOT NULL,
        deliveries INTEGER NOT NULL,
        PRIMARY KEY (group_name, seq)
    ) WITHOUT ROWID;",
    // 2: store.
    "CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        channel_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        conversation TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_event_at INTEGER NOT NULL,
        last_inbound_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX conversations_recent ON conversations (last_event_at DESC, id DESC);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        state TEXT NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        lease_until INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX outbox_due ON outbox (state, due_at);
    CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        payload TEXT NOT NULL,
        error TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX dead_letters_kind ON dead_letters (kind, id);",
    "CREATE TABLE participants (
        conversation_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        display_name TEXT,
        role TEXT NOT NULL,
        first_seen_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, user_id)
    ) WITHOUT ROWID;",
    // 4: payment intents and consumed MPP challenge ids (single use, across processes).
    "CREATE TABLE payment_intents (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        description TEXT NOT NULL,
        external_id TEXT,
        locale TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        metadata TEXT,
        state TEXT NOT NULL,
        refunded_minor INTEGER NOT NULL,
        method TEXT,
        reference TEXT,
        settled_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX payment_intents_conversation ON payment_intents (conversation_id, created_at);
    CREATE TABLE payment_challenges_used (
        challenge_id TEXT PRIMARY KEY,
        intent_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 5: Stripe webhook reconciliation: find intents by settlement reference; disputes.
    "ALTER TABLE payment_intents ADD COLUMN disputed_at INTEGER;
    CREATE INDEX payment_intents_reference ON payment_intents (reference);",
    // 6: delivery tracking: which outbound message a provider message id belongs to, and the
    // highest delivery status each outbound message reached (statuses never downgrade).
    "CREATE TABLE provider_messages (
        channel_id TEXT NOT NULL,
        provider_message_id TEXT NOT NULL,
        outbound_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (channel_id, provider_message_id)
    ) WITHOUT ROWID;
    CREATE TABLE deliveries (
        outbound_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 7: channels' own durable key-value state (mailbox cursors, thread maps).
    "CREATE TABLE channel_state (
        channel_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (channel_id, key)
    ) WITHOUT ROWID;",
    // 8: retention. Events and de-dup records get their append time (rows already there count
    // from the migration) and events their stored size; `bus_stats` keeps the log's total
    // size so the size budget needs no scan; indexes for the age cut-offs of the store.
    "ALTER TABLE bus_events ADD COLUMN appended_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE bus_events ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE bus_events SET appended_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
        bytes = length(CAST(envelope AS BLOB));
    ALTER TABLE bus_dedup ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
    UPDATE bus_dedup SET created_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
    CREATE INDEX bus_dedup_created ON bus_dedup (created_at);
    CREATE TABLE bus_stats (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        bytes INTEGER NOT NULL
    );
    INSERT INTO bus_stats (id, bytes) SELECT 1, coalesce(sum(bytes), 0) FROM bus_events;
    CREATE INDEX outbox_finished ON outbox (state, created_at);
    CREATE INDEX idempotency_created ON idempotency (created_at);
    CREATE INDEX channel_state_updated ON channel_state (updated_at);",
    // 9: the payment reconciler's sweeps: overdue and `processing` intents by state.
    "CREATE INDEX payment_intents_state ON payment_intents (state, expires_at);",
    // 10: template versions edited in the studio, and which one of each template is live.
    "CREATE TABLE template_versions (
        channel TEXT NOT NULL,
        locale TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        parts TEXT NOT NULL,
        author TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (channel, locale, name, version)
    ) WITHOUT ROWID;
    CREATE TABLE template_published (
        channel TEXT NOT NULL,
        locale TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        published_at INTEGER NOT NULL,
        published_by TEXT NOT NULL,
        generation INTEGER NOT NULL,
        PRIMARY KEY (channel, locale, name)
    ) WITHOUT ROWID;",
    // 11: guardrails on money: the API key that created an intent (guarded keys only), and
    // its recent intents for the daily limits.
    "ALTER TABLE payment_intents ADD COLUMN created_by_key TEXT;
    CREATE INDEX payment_intents_created_by ON payment_intents (created_by_key, currency, created_at)
        WHERE created_by_key IS NOT NULL;",
    // The event's type beside its envelope, so a consumer group skips the types it does not
    // handle without reading them (NULL for events appended before: read as wanted).
    "ALTER TABLE bus_events ADD COLUMN event_type TEXT;",
    // Leases: which instance runs a job only one may run at a time (a pull channel's loop).
    "CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until_ms INTEGER NOT NULL
    );",
];

/// Applies every migration newer than the file's `user_version`, in one write transaction
/// (so two processes opening a new file at once do not both migrate).
pub(super) fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let current = usize::try_from(current)
        .map_err(|_| DbError::Corrupt(format!("bad schema version {current}")))?;
    if current > MIGRATIONS.len() {
        return Err(DbError::Corrupt(format!(
            "schema version {current} is newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tracing::info!(version = index + 1, "sqlite schema migrated");
    }
    tx.commit()?;
    Ok(())
}
