-- The operator's chat filter: words and phrases masked (or, with action
-- 'refuse', refused) in chat, matched as search matches names (Arabic
-- without tashkeel and with its letter variants as one, Latin by case).
-- word_key is the folded word. Same SQL for Postgres and SQLite.
CREATE TABLE chat_filter (
    word_key   TEXT PRIMARY KEY,
    word       TEXT NOT NULL,
    action     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
