-- The work items a store's customers may start themselves from the widget (报修): a JSON array of kinds, e.g.
-- ["ticket"]; empty: none (the store's staff and systems create them).
ALTER TABLE stores ADD COLUMN customer_work_kinds TEXT NOT NULL DEFAULT '[]';
