-- The service desk: queues and their agents, assignment and waiting on conversations, labels, watchers,
-- canned replies and satisfaction ratings.

ALTER TABLE staff ADD COLUMN capacity INTEGER NOT NULL DEFAULT 5;
-- SLA targets in business minutes: first response, and resolution.
ALTER TABLE stores ADD COLUMN sla_first_response_minutes INTEGER NOT NULL DEFAULT 5;
ALTER TABLE stores ADD COLUMN sla_resolution_minutes INTEGER NOT NULL DEFAULT 480;

CREATE TABLE queues (
    id          TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL REFERENCES stores(id),
    name        TEXT NOT NULL,
    strategy    TEXT NOT NULL CHECK (strategy IN ('round_robin', 'least_busy')),
    keywords    TEXT NOT NULL DEFAULT '[]',
    is_default  INTEGER NOT NULL DEFAULT 0,
    position    INTEGER NOT NULL DEFAULT 0,
    rr_cursor   TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX queues_store ON queues(store_id);

-- A queue without rows here is served by every agent and manager of its store.
CREATE TABLE queue_agents (
    queue_id TEXT NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    staff_id TEXT NOT NULL REFERENCES staff(id),
    PRIMARY KEY (queue_id, staff_id)
);

ALTER TABLE conversations ADD COLUMN queue_id TEXT;
ALTER TABLE conversations ADD COLUMN assignee_id TEXT;
ALTER TABLE conversations ADD COLUMN assigned_at BIGINT;
-- Set while the conversation waits for an agent (first come, first served; higher priority first).
ALTER TABLE conversations ADD COLUMN waiting_since BIGINT;
ALTER TABLE conversations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN first_customer_at BIGINT;
ALTER TABLE conversations ADD COLUMN first_response_at BIGINT;
ALTER TABLE conversations ADD COLUMN resolved_at BIGINT;
ALTER TABLE conversations ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN watcher_ids TEXT NOT NULL DEFAULT '[]';
CREATE INDEX conversations_waiting ON conversations(store_id, waiting_since);
CREATE INDEX conversations_assignee ON conversations(assignee_id, state);

CREATE TABLE canned_replies (
    id         TEXT PRIMARY KEY,
    store_id   TEXT NOT NULL REFERENCES stores(id),
    shortcut   TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (store_id, shortcut)
);

-- One rating per resolution of a conversation, credited to the agent who resolved it.
CREATE TABLE csat_ratings (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    resolved_at     BIGINT NOT NULL,
    store_id        TEXT NOT NULL,
    agent_id        TEXT,
    rating          INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment         TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, resolved_at)
);
CREATE INDEX csat_agent ON csat_ratings(agent_id, created_at);
