-- Store workflows: templates (versioned data), work items with their timeline, followers, requests for the
-- customer's approval, customer actions, and the cards waiting for the end of a store's quiet hours.

-- Quiet hours, local time of the store (HH:mm); both NULL = none. Non-urgent cards wait for quiet_end.
ALTER TABLE stores ADD COLUMN quiet_start TEXT;
ALTER TABLE stores ADD COLUMN quiet_end TEXT;
-- The staff group where the store's stock alerts go (created with the first alert).
ALTER TABLE stores ADD COLUMN alert_conversation_id TEXT;

CREATE TABLE workflow_templates (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    kind            TEXT NOT NULL CHECK (kind IN ('ticket', 'order', 'care_job')),
    name            TEXT NOT NULL,
    preset          TEXT,
    current_version INTEGER NOT NULL,
    is_default      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX workflow_templates_org ON workflow_templates(org_id, kind);

-- A version never changes once written: work items keep the version they started with.
CREATE TABLE workflow_template_versions (
    template_id TEXT NOT NULL REFERENCES workflow_templates(id),
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_by  TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (template_id, version)
);

CREATE TABLE work_items (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id),
    store_id         TEXT NOT NULL REFERENCES stores(id),
    customer_id      TEXT NOT NULL REFERENCES customers(id),
    kind             TEXT NOT NULL,
    number           TEXT NOT NULL,
    template_id      TEXT NOT NULL REFERENCES workflow_templates(id),
    template_version INTEGER NOT NULL,
    state            TEXT NOT NULL,
    title            TEXT NOT NULL,
    category         TEXT,
    priority         TEXT NOT NULL DEFAULT 'normal',
    assignee_id      TEXT,
    team             TEXT,
    fields           TEXT NOT NULL DEFAULT '{}',
    attachment_ids   TEXT NOT NULL DEFAULT '[]',
    conversation_id  TEXT,
    transcript_from  INTEGER,
    transcript_to    INTEGER,
    external_system  TEXT,
    external_id      TEXT,
    due_at           INTEGER,
    version          INTEGER NOT NULL DEFAULT 1,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    state_entered_at INTEGER NOT NULL,
    closed_at        INTEGER,
    UNIQUE (store_id, number)
);
CREATE INDEX work_items_store ON work_items(store_id, state, updated_at);
CREATE INDEX work_items_customer ON work_items(customer_id, updated_at);
CREATE INDEX work_items_assignee ON work_items(assignee_id, state);
CREATE UNIQUE INDEX work_items_external ON work_items(org_id, external_system, external_id) WHERE external_id IS NOT NULL;

-- The timeline: every change, who made it and when, in order.
CREATE TABLE work_item_events (
    work_item_id TEXT NOT NULL REFERENCES work_items(id),
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    data         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (work_item_id, seq)
);

CREATE TABLE work_item_followers (
    work_item_id TEXT NOT NULL REFERENCES work_items(id),
    staff_id     TEXT NOT NULL REFERENCES staff(id),
    PRIMARY KEY (work_item_id, staff_id)
);

-- Extra work or a quote the customer approves or declines from the card.
CREATE TABLE work_item_requests (
    id             TEXT PRIMARY KEY,
    work_item_id   TEXT NOT NULL REFERENCES work_items(id),
    title          TEXT NOT NULL,
    price          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    attachment_ids TEXT NOT NULL DEFAULT '[]',
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined', 'withdrawn')),
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    decided_at     INTEGER
);
CREATE INDEX work_item_requests_item ON work_item_requests(work_item_id);

-- A customer's action, by the id the client gave it: the same id again answers the first result.
CREATE TABLE work_item_actions (
    work_item_id TEXT NOT NULL REFERENCES work_items(id),
    action_id    TEXT NOT NULL,
    action       TEXT NOT NULL,
    result       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (work_item_id, action_id)
);

-- The next card for a work item's customer; one per item, so updates during quiet hours merge into one card.
-- The id changes with every update and becomes the card's client_msg_id: delivering twice stores one message.
CREATE TABLE work_item_notices (
    work_item_id TEXT PRIMARY KEY REFERENCES work_items(id),
    id           TEXT NOT NULL,
    due_at       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX work_item_notices_due ON work_item_notices(due_at);

-- A reminder to the customer while an item stays in a state (e.g. an unpaid order); void once the state changes.
CREATE TABLE work_item_reminders (
    id           TEXT PRIMARY KEY,
    work_item_id TEXT NOT NULL REFERENCES work_items(id),
    state        TEXT NOT NULL,
    entered_at   INTEGER NOT NULL,
    due_at       INTEGER NOT NULL
);
CREATE INDEX work_item_reminders_due ON work_item_reminders(due_at);
