-- Blocks between users and reports of abuse (app stores require both of an
-- app with user-generated content). Same SQL for Postgres and SQLite.

-- blocker_id blocked blocked_id. A block works both ways: neither sees,
-- follows, gifts or invites the other; the blocked cannot join the
-- blocker's sessions.
CREATE TABLE blocks (
    blocker_id TEXT NOT NULL REFERENCES users(id),
    blocked_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id, blocker_id);

-- One row per reporter and target: reporting the same thing again updates
-- the reason. Operators work through them grouped by target; status is
-- open until resolved.
CREATE TABLE reports (
    id          TEXT PRIMARY KEY,
    reporter_id TEXT NOT NULL REFERENCES users(id),
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (reporter_id, target_type, target_id)
);
CREATE INDEX reports_target ON reports (target_type, target_id);
CREATE INDEX reports_open ON reports (status, created_at);
