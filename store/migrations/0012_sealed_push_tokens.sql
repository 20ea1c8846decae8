-- Push tokens sealed at rest (fieldcrypt, DATA_ENCRYPTION_KEYS). Same SQL
-- for Postgres and SQLite.
--
-- token_hash is the token's keyed hash (HMAC-SHA256, hex): the key the
-- rows are found and kept unique by; token_sealed the token itself under
-- AES-256-GCM ("fc1:<key id>:..."). The rows written before this migration
-- hold the plaintext in token_hash and '' in token_sealed until the node
-- that migrated seals them at start-up (Store.SealPushTokens, the same
-- step as chobi admin rotate-keys): it refuses to serve until it has.
ALTER TABLE push_tokens RENAME COLUMN token TO token_hash;
ALTER TABLE push_tokens ADD COLUMN token_sealed TEXT NOT NULL DEFAULT '';
ALTER TABLE push_outbox RENAME COLUMN token TO token_hash;
ALTER TABLE push_outbox ADD COLUMN token_sealed TEXT NOT NULL DEFAULT '';
