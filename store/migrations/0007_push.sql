-- Push notifications through Expo: the devices' tokens, and the outbox of
-- pushes written in the transaction of the notification each belongs to.
-- Same SQL for Postgres and SQLite.

-- One row per device token; a token re-registered by another account moves
-- to it (the phone changed hands), one registered again with the same
-- device id replaces that device's old token.
CREATE TABLE push_tokens (
    token      TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    platform   TEXT NOT NULL,
    device_id  TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX push_tokens_user ON push_tokens (user_id);

-- A push to one token. state: queued (due at next_at), sending (claimed by a
-- node until claimed_until; past it, claimed again and counted in
-- reclaimed: the push may have gone out once already), ticketed (accepted
-- by Expo, its receipt due at next_at), failed (error says why). Delivered
-- pushes are deleted.
CREATE TABLE push_outbox (
    id              TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    token           TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    data            TEXT NOT NULL,
    state           TEXT NOT NULL,
    next_at         BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    reclaimed       INTEGER NOT NULL DEFAULT 0,
    ticket_id       TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX push_outbox_due ON push_outbox (state, next_at);
CREATE INDEX push_outbox_user ON push_outbox (user_id);
