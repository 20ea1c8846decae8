-- The foundation schema: users, follows, live sessions, chat, videos,
-- notifications. One file for Postgres and SQLite: only types and syntax
-- both accept (TEXT ids, BIGINT unix-millisecond times, BOOLEAN, upserts).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE, -- lower-cased: names are unique whatever their case
    display_name  TEXT NOT NULL,
    bio           TEXT NOT NULL DEFAULT '',
    avatar_url    TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '', -- empty for guests: they cannot log in
    is_guest      BOOLEAN NOT NULL DEFAULT FALSE,
    preferences   TEXT NOT NULL DEFAULT '{}', -- a JSON object
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE follows (
    follower_id TEXT NOT NULL REFERENCES users(id),
    followee_id TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, created_at);

CREATE TABLE live_sessions (
    id             TEXT PRIMARY KEY,
    host_id        TEXT NOT NULL REFERENCES users(id),
    title          TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL,        -- audio | video
    category       TEXT NOT NULL,
    is_private     BOOLEAN NOT NULL,
    invite_code    TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,        -- live | ended
    created_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    peak_viewers   INTEGER NOT NULL DEFAULT 0,
    total_viewers  INTEGER NOT NULL DEFAULT 0,
    viewer_seconds BIGINT NOT NULL DEFAULT 0, -- integral of the viewer count over time, for the average
    messages       INTEGER NOT NULL DEFAULT 0,
    gifts_received INTEGER NOT NULL DEFAULT 0,
    coins_earned   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX live_sessions_status ON live_sessions (status, type);
CREATE INDEX live_sessions_host ON live_sessions (host_id, created_at);

-- Roles granted in a session (streaming.joinSession, co-host acceptance),
-- bans, and whether the user ever watched (for totalViewers).
CREATE TABLE session_participants (
    session_id TEXT NOT NULL REFERENCES live_sessions(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    role       TEXT NOT NULL,            -- host | co-host | viewer | pending
    banned     BOOLEAN NOT NULL DEFAULT FALSE,
    watched    BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

CREATE TABLE chat_messages (
    id           TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES live_sessions(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    display_name TEXT NOT NULL,
    message      TEXT NOT NULL,
    type         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX chat_messages_session ON chat_messages (session_id, created_at, id);

CREATE TABLE videos (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]', -- a JSON array of strings
    video_url   TEXT NOT NULL,
    duration    INTEGER NOT NULL,
    views       BIGINT NOT NULL DEFAULT 0,
    likes       BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);
CREATE INDEX videos_recent ON videos (created_at, id);
CREATE INDEX videos_category ON videos (category, created_at);

CREATE TABLE video_likes (
    video_id   TEXT NOT NULL REFERENCES videos(id),
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (video_id, user_id)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    type       TEXT NOT NULL,   -- follow | gift | comment | stream | system
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}', -- a JSON object
    is_read    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
