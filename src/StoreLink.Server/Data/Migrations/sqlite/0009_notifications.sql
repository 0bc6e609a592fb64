-- Templated notifications an integration sends to a customer: the organization's templates, and each notification
-- waiting for the end of the store's quiet hours (unless urgent) until the notifier posts it into the chat.

CREATE TABLE notification_templates (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    template_key TEXT NOT NULL,
    name        TEXT NOT NULL,
    text_zh     TEXT NOT NULL,
    text_en     TEXT,
    urgent      INTEGER NOT NULL DEFAULT 0,
    updated_by  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, template_key)
);

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    store_id        TEXT NOT NULL REFERENCES stores(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    template_key    TEXT NOT NULL,
    text            TEXT NOT NULL,
    urgent          INTEGER NOT NULL,
    due_at          INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    conversation_id TEXT,
    message_id      TEXT
);
CREATE INDEX notifications_due ON notifications(due_at) WHERE delivered_at IS NULL;
