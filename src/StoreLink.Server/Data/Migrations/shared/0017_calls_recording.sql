-- Whether staff may record calls in a store (through Janus, with a notice to the customer first): 1 yes, 0 no. Off
-- until the store's manager turns it on (PATCH /v1/stores/{id} {"calls_recording": true}).
ALTER TABLE stores ADD COLUMN calls_recording BIGINT NOT NULL DEFAULT 0;
