-- Uploads are limited per uploader and per store within a time window, and an organization's total is capped; the
-- counts are read from this table (so they hold on every node and across restarts), hence an index per limit.
-- store_id is the uploader's one store (a visitor's, a store-scoped key's, staff with a role in one store), else NULL.
ALTER TABLE attachments ADD COLUMN store_id TEXT;
DROP INDEX attachments_uploader;
CREATE INDEX attachments_uploader ON attachments(uploader_id, created_at);
CREATE INDEX attachments_store ON attachments(store_id, created_at);
CREATE INDEX attachments_org ON attachments(org_id, size);
-- The orphan sweeper walks old uploads in creation order; a stored file goes when no row of its content is left.
CREATE INDEX attachments_created ON attachments(created_at);
CREATE INDEX attachments_sha256 ON attachments(sha256);
