-- Stream keys: one long-lived key per host that OBS and other WHIP
-- encoders keep as their Bearer token. The key itself is never stored: it
-- is derived from the server's secret and the row's nonce (so the host can
-- read it again), and found by its SHA-256 hash. Resetting the key changes
-- the nonce (and the hash): the old key stops working at once.
-- title, type and category are what a session WHIP starts is created with.
-- Same SQL for Postgres and SQLite.
CREATE TABLE stream_keys (
    user_id    TEXT PRIMARY KEY REFERENCES users(id),
    nonce      TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL DEFAULT 'video',
    category   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
