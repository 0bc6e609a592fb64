-- One customer-notice pipeline. Everything the server owes a customer in their chat — a work item's or an
-- appointment's card, a reminder, a templated notification — is one row here, written by one scheduler in the
-- transaction of the change and delivered by one loop. It replaces work_item_notices, work_item_reminders,
-- appointment_notices, appointment_reminders and notifications; their rows move here, pending and delivered.
-- This migration exists per dialect only because it builds the moved rows' payload JSON (json_object in SQLite,
-- json_build_object in PostgreSQL); the table is the same in both.

CREATE TABLE customer_notices (
    id              TEXT PRIMARY KEY,   -- the message's client_msg_id: a notice delivered twice is stored once
    subject_type    TEXT NOT NULL,      -- work_item | appointment | notification
    subject_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,      -- card | reminder | notification
    merge_key       TEXT,               -- cards: one waits per subject; a newer one takes its place (and a new id)
    due_at          BIGINT NOT NULL,
    state           TEXT NOT NULL,      -- pending | delivered | void (nothing left to say, e.g. a reminder of a state left)
    attempts        BIGINT NOT NULL DEFAULT 0,
    payload         TEXT NOT NULL DEFAULT '{}',
    conversation_id TEXT,
    message_id      TEXT,
    created_at      BIGINT NOT NULL,
    done_at         BIGINT
);
CREATE UNIQUE INDEX customer_notices_merge ON customer_notices(merge_key) WHERE state = 'pending';
CREATE INDEX customer_notices_due ON customer_notices(due_at) WHERE state = 'pending';
CREATE INDEX customer_notices_subject ON customer_notices(subject_id, kind);

INSERT INTO customer_notices (id, subject_type, subject_id, kind, merge_key, due_at, state, payload, created_at)
SELECT id, 'work_item', work_item_id, 'card', 'work_item:' || work_item_id, due_at, 'pending', '{}', created_at FROM work_item_notices;

INSERT INTO customer_notices (id, subject_type, subject_id, kind, merge_key, due_at, state, payload, created_at)
SELECT id, 'appointment', appointment_id, 'card', 'appointment:' || appointment_id, due_at, 'pending', '{}', created_at FROM appointment_notices;

INSERT INTO customer_notices (id, subject_type, subject_id, kind, due_at, state, payload, created_at)
SELECT id, 'work_item', work_item_id, 'reminder', due_at, 'pending', json_build_object('state', state, 'entered_at', entered_at)::text, entered_at
FROM work_item_reminders;

INSERT INTO customer_notices (id, subject_type, subject_id, kind, due_at, state, payload, created_at)
SELECT id, 'appointment', appointment_id, 'reminder', due_at, 'pending', json_build_object('starts_at', starts_at)::text, due_at
FROM appointment_reminders;

INSERT INTO customer_notices (id, subject_type, subject_id, kind, due_at, state, payload, conversation_id, message_id, created_at, done_at)
SELECT id, 'notification', id, 'notification', due_at, CASE WHEN delivered_at IS NULL THEN 'pending' ELSE 'delivered' END,
       json_build_object('org_id', org_id, 'store_id', store_id, 'customer_id', customer_id, 'template_key', template_key, 'text', text,
                         'urgent', urgent <> 0, 'created_by', created_by)::text,
       conversation_id, message_id, created_at, delivered_at
FROM notifications;

DROP TABLE work_item_notices;
DROP TABLE work_item_reminders;
DROP TABLE appointment_notices;
DROP TABLE appointment_reminders;
DROP TABLE notifications;
