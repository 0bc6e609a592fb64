-- The security log: who (actor), did what (action on a target, small details in JSON), from where (client address,
-- user agent), when. Written in the transaction of the change it records; read by the organization's admins.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    created_at  BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT,
    action      TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    details     TEXT NOT NULL,
    address     TEXT,
    user_agent  TEXT
);
-- Ids sort by time: newest first is a walk down (org_id, id).
CREATE INDEX audit_events_org ON audit_events(org_id, id);
CREATE INDEX audit_events_target ON audit_events(org_id, target_id);
