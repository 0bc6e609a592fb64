-- The Janus room of a call (sfu_room, sfu_pin) needs its per-call secret too, so that any node can stop its recording
-- and destroy it after the call ended. Not null while the room may still exist: cleared once it was destroyed and its
-- recording collected, so the sweeper finds the rooms that a failed Janus request left behind.
ALTER TABLE calls ADD COLUMN sfu_secret TEXT;
