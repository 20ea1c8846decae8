-- Data lifecycle: deleted accounts and what their wallets forfeited, and the
-- indexes the retention job deletes by. Same SQL for Postgres and SQLite.

-- Set when the account was deleted (users.deleteAccount): the row stays,
-- anonymised, because the ledger, gifts and sessions point at it.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- A deleted account's closing record: the coins and diamonds its wallets
-- held, moved to the platform's 'forfeited' accounts by 'forfeit'
-- transfers whose operation_id is this row's id (reconcile checks both).
CREATE TABLE account_closures (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users(id),
    coins      BIGINT NOT NULL CHECK (coins >= 0),
    diamonds   BIGINT NOT NULL CHECK (diamonds >= 0),
    created_at BIGINT NOT NULL
);

-- Retention deletes the oldest rows in batches by these.
CREATE INDEX chat_messages_created ON chat_messages (created_at);
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX live_sessions_ended ON live_sessions (ended_at);
-- A user's rows, found when the account is deleted.
CREATE INDEX chat_messages_user ON chat_messages (user_id);
CREATE INDEX session_participants_user ON session_participants (user_id);
CREATE INDEX video_likes_user ON video_likes (user_id);
CREATE INDEX videos_owner ON videos (owner_id);
CREATE INDEX gift_sends_sender ON gift_sends (sender_id);
