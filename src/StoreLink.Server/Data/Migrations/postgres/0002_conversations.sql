-- Conversations, members with their receipt watermarks, messages, attachments, staff presence.

ALTER TABLE organizations ADD COLUMN recall_window_seconds INTEGER NOT NULL DEFAULT 120;
ALTER TABLE staff ADD COLUMN presence_status TEXT NOT NULL DEFAULT 'online';

-- kind: service (a customer and a store), notes (the staff-only companion of a service conversation),
-- direct (two staff), group (staff of one organization). last_seq is the per-conversation sequence.
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    kind        TEXT NOT NULL CHECK (kind IN ('service', 'notes', 'direct', 'group')),
    store_id    TEXT REFERENCES stores(id),
    customer_id TEXT REFERENCES customers(id),
    parent_id   TEXT REFERENCES conversations(id),
    name        TEXT,
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'pending', 'resolved')),
    direct_key  TEXT UNIQUE,
    last_seq    BIGINT NOT NULL DEFAULT 0,
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- At most one service conversation of a customer with a store is not resolved.
CREATE UNIQUE INDEX conversations_one_open ON conversations(customer_id, store_id) WHERE kind = 'service' AND state <> 'resolved';
CREATE INDEX conversations_customer ON conversations(customer_id, updated_at);
CREATE INDEX conversations_store ON conversations(store_id, updated_at);
CREATE INDEX conversations_parent ON conversations(parent_id);

-- Members of direct and group conversations; for service and notes conversations the rows of staff and the
-- customer only carry receipt watermarks (who may see them follows from the store's roles).
CREATE TABLE conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    user_id         TEXT NOT NULL,
    user_kind       TEXT NOT NULL CHECK (user_kind IN ('staff', 'customer')),
    is_member       BIGINT NOT NULL DEFAULT 1,
    read_seq        BIGINT NOT NULL DEFAULT 0,
    delivered_seq   BIGINT NOT NULL DEFAULT 0,
    joined_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user ON conversation_members(user_id, is_member);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq             BIGINT NOT NULL,
    sender_id       TEXT NOT NULL,
    sender_kind     TEXT NOT NULL CHECK (sender_kind IN ('customer', 'staff', 'bot', 'system')),
    sender_name     TEXT NOT NULL,
    client_msg_id   TEXT,
    kind            TEXT NOT NULL,
    body            TEXT,
    created_at      BIGINT NOT NULL,
    recalled_at     BIGINT,
    recalled_by     TEXT,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client_id ON messages(sender_id, client_msg_id);

-- Files are stored once per content (sha256) under the data directory; a row per upload.
CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    uploader_id   TEXT NOT NULL,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX attachments_uploader ON attachments(uploader_id);

CREATE TABLE message_attachments (
    message_id    TEXT NOT NULL REFERENCES messages(id),
    attachment_id TEXT NOT NULL REFERENCES attachments(id),
    PRIMARY KEY (attachment_id, message_id)
);

-- Live WebSocket connections of staff, per node; rows not refreshed by their node for a while are stale.
CREATE TABLE staff_presence (
    staff_id    TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    connections BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (staff_id, node_id)
);
