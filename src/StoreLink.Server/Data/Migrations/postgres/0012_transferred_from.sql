-- The agent who last transferred a conversation to a queue: routing gives it to someone else while anyone else can take it.
ALTER TABLE conversations ADD COLUMN transferred_from TEXT;
