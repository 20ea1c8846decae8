-- "Is live" notices to a host's followers, fanned out off the request path:
-- createSession writes one row here, and a background loop on every node
-- works through the followers in batches. Same SQL for Postgres and SQLite.

-- after_id is the last follower already notified: each batch stores its
-- notifications and moves after_id in one transaction, so a crash between
-- batches repeats nothing and skips no one. The row goes when done.
CREATE TABLE follower_fanouts (
    id         TEXT PRIMARY KEY,
    host_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    data       TEXT NOT NULL,
    after_id   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX follower_fanouts_created ON follower_fanouts (created_at);

-- The fan-out walks a host's followers in id order.
CREATE INDEX follows_followee_follower ON follows (followee_id, follower_id);
