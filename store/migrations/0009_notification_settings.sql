-- Notification settings: per type, push and in-app on or off; quiet hours in
-- the user's time zone (no push then); hosts whose "is live" pushes the user
-- muted. A user without a row has everything on. Same SQL for Postgres and
-- SQLite.

-- A notification kept for its push only (its in-app channel off) is stored
-- with in_app FALSE: its push copies it from here, the lists skip it.
ALTER TABLE notifications ADD COLUMN in_app BOOLEAN NOT NULL DEFAULT TRUE;

-- push_off and in_app_off list the types turned off, comma-separated
-- (",gift,stream,"): one row per user, read with the notification it
-- decides. quiet_start and quiet_end are minutes after local midnight
-- (-1: no quiet hours); a start after the end spans midnight.
CREATE TABLE notification_settings (
    user_id     TEXT PRIMARY KEY REFERENCES users(id),
    push_off    TEXT NOT NULL DEFAULT ',',
    in_app_off  TEXT NOT NULL DEFAULT ',',
    quiet_start INTEGER NOT NULL DEFAULT -1,
    quiet_end   INTEGER NOT NULL DEFAULT -1,
    time_zone   TEXT NOT NULL DEFAULT 'UTC',
    updated_at  BIGINT NOT NULL
);

CREATE TABLE notification_muted_hosts (
    user_id    TEXT NOT NULL REFERENCES users(id),
    host_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, host_id)
);
