-- Connectors to an organization's own systems: the connector itself (with the cursor of a polling connector and its
-- lease), the inbound log of every event received or fetched, the last version applied per external object (so an
-- older event never overwrites a newer one), the commands sent for customers' actions with their attempts, and the
-- cache of customer profiles looked up in the system.

CREATE TABLE connectors (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations(id),
    connector_key         TEXT NOT NULL,
    name                  TEXT NOT NULL,
    base_url              TEXT NOT NULL,
    secret                TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    template_id           TEXT NOT NULL REFERENCES workflow_templates(id),
    store_id              TEXT REFERENCES stores(id),
    status_map            TEXT NOT NULL,
    field_map             TEXT NOT NULL,
    -- webhook | polling
    mode                  TEXT NOT NULL,
    poll_interval_seconds INTEGER,
    commands              INTEGER NOT NULL DEFAULT 0,
    profile_lookup        INTEGER NOT NULL DEFAULT 0,
    active                INTEGER NOT NULL DEFAULT 1,
    created_by            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    -- Polling: the feed's cursor, when the next poll is due, and the lease of the node polling now (its claim token
    -- must still be there when it commits a page, so a node whose lease ran out commits nothing).
    poll_cursor           TEXT,
    next_poll_at          INTEGER,
    poll_claim            TEXT,
    poll_lease_until      INTEGER,
    last_poll_at          INTEGER,
    last_poll_error       TEXT,
    UNIQUE (org_id, connector_key)
);
CREATE INDEX connectors_due ON connectors(next_poll_at) WHERE mode = 'polling' AND active = 1;

CREATE TABLE connector_events (
    id            TEXT PRIMARY KEY,
    connector_id  TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    -- The id the request named; event_key holds it too while the event holds that id (received, applied, stale), so a
    -- refused request never takes an id away from the genuine event.
    event_id      TEXT,
    event_key     TEXT,
    -- hook | poll
    source        TEXT NOT NULL,
    event_type    TEXT,
    external_id   TEXT,
    version       INTEGER,
    occurred_at   INTEGER,
    body          TEXT,
    -- received (stored, not applied yet) | applied | stale | replayed | refused
    status        TEXT NOT NULL,
    http_status   INTEGER,
    reason        TEXT,
    result        TEXT,
    received_at   INTEGER NOT NULL,
    seq           INTEGER NOT NULL DEFAULT 0,
    -- A received event is applied by the node that stored it; if that node dies, another takes it after this time.
    claimed_until INTEGER,
    finished_at   INTEGER
);
CREATE UNIQUE INDEX connector_events_key ON connector_events(connector_id, event_key);
CREATE INDEX connector_events_log ON connector_events(connector_id, received_at);
CREATE INDEX connector_events_received ON connector_events(claimed_until) WHERE status = 'received';

CREATE TABLE connector_objects (
    connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    -- work_item | customer
    object_type  TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    version      INTEGER,
    occurred_at  INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (connector_id, object_type, external_id)
);

CREATE TABLE connector_commands (
    id              TEXT PRIMARY KEY,
    connector_id    TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    work_item_id    TEXT NOT NULL REFERENCES work_items(id),
    customer_id     TEXT NOT NULL,
    action_id       TEXT NOT NULL,
    -- The action id while the command is open (pending, accepted): one open command per action; a refused or failed
    -- one frees it, so the customer may try again.
    open_key        TEXT,
    command_type    TEXT NOT NULL,
    -- The customer's request as they sent it, applied once the system has done it.
    action          TEXT NOT NULL,
    -- What the customer is told the action is: {"zh-CN": "修改收货地址", "en": "Change address"}.
    labels          TEXT NOT NULL,
    from_state      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- pending | accepted | done | refused | failed
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Due time while pending; a claimed command is pushed past its attempt's timeout (the lease).
    next_attempt_at INTEGER NOT NULL,
    retry_until     INTEGER NOT NULL,
    delay_told      INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    last_attempt_at INTEGER,
    message         TEXT,
    result          TEXT,
    applied         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE UNIQUE INDEX connector_commands_open ON connector_commands(work_item_id, open_key);
CREATE INDEX connector_commands_due ON connector_commands(next_attempt_at) WHERE status = 'pending';
CREATE INDEX connector_commands_log ON connector_commands(connector_id, created_at);

CREATE TABLE connector_command_attempts (
    id           TEXT PRIMARY KEY,
    command_id   TEXT NOT NULL REFERENCES connector_commands(id) ON DELETE CASCADE,
    attempted_at INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    answer       TEXT
);
CREATE INDEX connector_command_attempts_command ON connector_command_attempts(command_id, attempted_at);

CREATE TABLE connector_profiles (
    connector_id TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
    external_id  TEXT NOT NULL,
    -- ok | not_found | error
    status       TEXT NOT NULL,
    body         TEXT,
    fetched_at   INTEGER NOT NULL,
    PRIMARY KEY (connector_id, external_id)
);
