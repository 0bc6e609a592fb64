-- Organizations, stores, staff and roles, customers, tokens and API clients.
-- Times are Unix milliseconds (INTEGER); JSON lives in TEXT columns.

CREATE TABLE organizations (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    identity_secret TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE stores (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations(id),
    store_key      TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('direct', 'franchise')),
    time_zone      TEXT NOT NULL,
    business_hours TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX stores_org ON stores(org_id);

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    login         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX staff_org ON staff(org_id);

-- store_id is NULL for org_admin, which holds for the whole organization.
CREATE TABLE staff_roles (
    staff_id TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    store_id TEXT REFERENCES stores(id),
    role     TEXT NOT NULL CHECK (role IN ('agent', 'technician', 'manager', 'org_admin'))
);
CREATE UNIQUE INDEX staff_roles_unique ON staff_roles(staff_id, COALESCE(store_id, ''), role);
CREATE INDEX staff_roles_store ON staff_roles(store_id);

-- A visitor is a customer without an external id who arrived anonymously at one store.
CREATE TABLE customers (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id),
    external_id      TEXT,
    name             TEXT,
    phone            TEXT,
    vip_level        INTEGER NOT NULL DEFAULT 0,
    attributes       TEXT NOT NULL DEFAULT '{}',
    visitor_store_id TEXT REFERENCES stores(id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_external ON customers(org_id, external_id);

CREATE TABLE customer_purchases (
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    order_no     TEXT NOT NULL,
    store_id     TEXT REFERENCES stores(id),
    item         TEXT NOT NULL,
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    purchased_at BIGINT NOT NULL,
    PRIMARY KEY (customer_id, order_no)
);

-- Bearer tokens are random; only their SHA-256 is stored.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_kind  TEXT NOT NULL CHECK (user_kind IN ('staff', 'customer')),
    user_id    TEXT NOT NULL,
    org_id     TEXT NOT NULL REFERENCES organizations(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_user ON access_tokens(user_id);

CREATE TABLE api_clients (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    store_id     TEXT REFERENCES stores(id),
    name         TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_clients_org ON api_clients(org_id);

-- Failed logins per account and per client address, in fixed windows; shared by every node.
CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);
