-- The bridge's state on PostgreSQL: the same tables as the embedded SQLite store. Times are
-- BIGINT nanoseconds since the Unix epoch (UTC) unless the column says `_ms`; JSON is TEXT.

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    conversation TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_event_at BIGINT NOT NULL,
    last_inbound_at BIGINT
);
CREATE INDEX conversations_recent ON conversations (last_event_at DESC, id DESC);

CREATE TABLE participants (
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT,
    role TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

-- The outbox: a record is due when pending, `due_at` has come and its lease (if any) ran out.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    lease_until BIGINT
);
CREATE INDEX outbox_due ON outbox (state, due_at);
CREATE INDEX outbox_finished ON outbox (state, created_at);

-- API idempotency records (created_at in milliseconds).
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dead_letters_kind ON dead_letters (kind, id);

-- Payment intents; every move is a compare-and-set on `state`.
CREATE TABLE payment_intents (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL,
    external_id TEXT,
    locale TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    metadata TEXT,
    state TEXT NOT NULL,
    refunded_minor BIGINT NOT NULL,
    method TEXT,
    reference TEXT,
    settled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    disputed_at BIGINT,
    created_by_key TEXT
);
CREATE INDEX payment_intents_conversation ON payment_intents (conversation_id, created_at);
CREATE INDEX payment_intents_reference ON payment_intents (reference);
CREATE INDEX payment_intents_state ON payment_intents (state, expires_at);
CREATE INDEX payment_intents_created_by ON payment_intents (created_by_key, currency, created_at)
    WHERE created_by_key IS NOT NULL;

-- Consumed MPP challenge ids: the primary key makes each one single use across instances.
CREATE TABLE payment_challenges_used (
    challenge_id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NOT NULL
);

-- Delivery tracking (created_at / updated_at in milliseconds).
CREATE TABLE provider_messages (
    channel_id TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    outbound_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, provider_message_id)
);
CREATE TABLE deliveries (
    outbound_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Channels' own durable key-value state (updated_at in milliseconds).
CREATE TABLE channel_state (
    channel_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, key)
);
CREATE INDEX channel_state_updated ON channel_state (updated_at);

-- Template versions edited in the studio, and which one of each template is live.
CREATE TABLE template_versions (
    channel TEXT NOT NULL,
    locale TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    parts TEXT NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel, locale, name, version)
);
CREATE TABLE template_published (
    channel TEXT NOT NULL,
    locale TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (channel, locale, name)
);
-- Every publish or unpublish takes the next generation: instances reload when it moves.
CREATE SEQUENCE template_generation;

-- Leases (until_ms on the database server's clock, so instances on machines with skewed
-- clocks agree).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
