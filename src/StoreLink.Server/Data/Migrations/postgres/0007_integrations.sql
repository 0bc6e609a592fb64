-- Integrations: outbound webhook subscriptions, the transactional outbox (one delivery row per event and matching
-- subscription, written in the transaction of the change), the log of every delivery attempt, and stored answers
-- of requests sent with an Idempotency-Key.

CREATE TABLE webhook_subscriptions (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    -- ' message.created work_item.created ' (matched with LIKE '% type %'), or '*' for every event.
    event_types TEXT NOT NULL,
    description TEXT,
    active      BIGINT NOT NULL DEFAULT 1,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- The fan-out of every event reads this index; an organization without subscriptions finds nothing here.
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions(org_id) WHERE active = 1;

CREATE TABLE webhook_deliveries (
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- pending | succeeded | dead
    status          TEXT NOT NULL DEFAULT 'pending',
    -- Due time while pending; a claimed row is pushed past its attempt's timeout (the lease), so a node that dies
    -- mid-attempt leaves it due again.
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- Start of the current retry period (creation, or the last manual redelivery) and the attempts since then.
    retry_from      BIGINT NOT NULL,
    round_attempts  BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT,
    last_error      TEXT,
    last_attempt_at BIGINT,
    finished_at     BIGINT,
    PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_sub ON webhook_deliveries(subscription_id, created_at);

CREATE TABLE webhook_attempts (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    status_code     BIGINT,
    error           TEXT,
    succeeded       BIGINT NOT NULL,
    FOREIGN KEY (subscription_id, event_id) REFERENCES webhook_deliveries(subscription_id, event_id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(subscription_id, event_id, attempted_at);

-- Stripe-style idempotency: the first answer to (caller, key) is kept for 24 hours and replayed to repeats.
CREATE TABLE idempotency_keys (
    caller_id     TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    completed_at  BIGINT,
    status_code   BIGINT,
    content_type  TEXT,
    location      TEXT,
    body          TEXT,
    PRIMARY KEY (caller_id, idem_key)
);
CREATE INDEX idempotency_keys_started ON idempotency_keys(started_at);
