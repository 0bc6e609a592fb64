-- Appointments: a store's schedule (data: weekly hours, slot length, technicians and their places per slot, dated
-- exceptions, reminder rules), the booked appointments with their timeline, and the cards and reminders waiting to go
-- to the customer's chat (delivered by the workflows' Notifier, so they survive restarts and respect quiet hours).

CREATE TABLE appointment_schedules (
    store_id   TEXT PRIMARY KEY REFERENCES stores(id),
    definition TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE appointments (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    store_id        TEXT NOT NULL REFERENCES stores(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    service         TEXT NOT NULL,
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL,
    technician_id   TEXT NOT NULL REFERENCES staff(id),
    place           INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('booked', 'cancelled', 'completed', 'no_show')),
    work_item_id    TEXT REFERENCES work_items(id),
    note            TEXT,
    conversation_id TEXT,
    version         INTEGER NOT NULL DEFAULT 1,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The last place of a slot is taken once: a booked appointment holds place 1..per_slot of its technician in its slot.
CREATE UNIQUE INDEX appointments_place ON appointments(store_id, starts_at, technician_id, place) WHERE status = 'booked';
-- A customer holds at most one booked appointment per slot of a store (a double tap without a key books once).
CREATE UNIQUE INDEX appointments_customer_slot ON appointments(store_id, customer_id, starts_at) WHERE status = 'booked';
CREATE INDEX appointments_store ON appointments(store_id, starts_at);
CREATE INDEX appointments_customer ON appointments(customer_id, starts_at);

-- The timeline: every change, who made it and when.
CREATE TABLE appointment_events (
    appointment_id TEXT NOT NULL REFERENCES appointments(id),
    seq            INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor_name     TEXT NOT NULL,
    data           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (appointment_id, seq)
);

-- An action by the id its client gave it (a booking's idempotency key; a move or cancel's action_id): once per actor.
CREATE TABLE appointment_actions (
    actor_id       TEXT NOT NULL,
    action_id      TEXT NOT NULL,
    appointment_id TEXT NOT NULL REFERENCES appointments(id),
    action         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (actor_id, action_id)
);

-- The next card for an appointment's customer; one per appointment, so changes during quiet hours merge into one card.
CREATE TABLE appointment_notices (
    appointment_id TEXT PRIMARY KEY REFERENCES appointments(id),
    id             TEXT NOT NULL,
    due_at         INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX appointment_notices_due ON appointment_notices(due_at);

-- Reminders before the slot; void (deleted, and checked again on delivery) once the appointment moves or ends.
CREATE TABLE appointment_reminders (
    id             TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments(id),
    starts_at      INTEGER NOT NULL,
    due_at         INTEGER NOT NULL
);
CREATE INDEX appointment_reminders_due ON appointment_reminders(due_at);
CREATE INDEX appointment_reminders_appointment ON appointment_reminders(appointment_id);
