-- Calls (issue 15). All of a call's state is here, so a restart or another node's sweeper can finish what a node left:
-- a call rings until ring_timeout, lives while its joined participants report (seen_at), and ends exactly once.
CREATE TABLE calls (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    store_id        TEXT,
    media           TEXT NOT NULL,
    mode            TEXT NOT NULL,
    state           TEXT NOT NULL,
    end_reason      TEXT,
    started_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    connected_at    BIGINT,
    ended_at        BIGINT,
    recording       INTEGER NOT NULL DEFAULT 0,
    sfu_room        TEXT,
    sfu_pin         TEXT,
    -- Bumped by every change: the first statement of a change's transaction, so it locks the row and changes queue up.
    version         BIGINT NOT NULL DEFAULT 1,
    -- The summary message is written after the end commits; the sweeper writes it for a node that died in between.
    summary_posted  INTEGER NOT NULL DEFAULT 0
);
-- One call at a time per conversation that is not ended; a second start answers 409.
CREATE UNIQUE INDEX calls_open ON calls(conversation_id) WHERE state <> 'ended';
CREATE INDEX calls_conversation ON calls(conversation_id, created_at);
CREATE INDEX calls_state ON calls(state);
CREATE INDEX calls_summary ON calls(summary_posted, state);

CREATE TABLE call_participants (
    call_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_kind   TEXT NOT NULL,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL,
    device_id   TEXT,
    rung_at     BIGINT,
    joined_at   BIGINT,
    left_at     BIGINT,
    left_reason TEXT,
    -- The last stats sample or signal of a joined participant: silent for Calls:LostAfter, they are lost.
    seen_at     BIGINT,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_participants_user ON call_participants(user_id, state);
CREATE INDEX call_participants_state ON call_participants(state, seen_at);

-- Quality samples (getStats summaries); p95 RTT needs them, and a call has a few hundred at most.
CREATE TABLE call_samples (
    call_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    at           BIGINT NOT NULL,
    rtt_ms       DOUBLE PRECISION,
    loss_percent DOUBLE PRECISION,
    jitter_ms    DOUBLE PRECISION,
    bitrate_kbps DOUBLE PRECISION,
    width        INTEGER,
    height       INTEGER,
    fps          DOUBLE PRECISION,
    relay        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX call_samples_call ON call_samples(call_id, at);
