-- Working together at the desk: canned replies remember their last edit; @mentions in internal notes.

ALTER TABLE canned_replies ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE canned_replies SET updated_at = created_at;

-- A colleague named in an internal note (a message of a notes conversation).
CREATE TABLE mentions (
    message_id      TEXT NOT NULL REFERENCES messages(id),
    staff_id        TEXT NOT NULL REFERENCES staff(id),
    conversation_id TEXT NOT NULL,
    parent_id       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, staff_id)
);
CREATE INDEX mentions_staff ON mentions(staff_id, created_at);
