-- Search keys for users.search (textkey.Fold of the username and of the
-- display name), filled by the store on every write and, for the users
-- already there, by the Go step Migrate runs with this migration. Postgres:
-- the keys compare byte by byte (COLLATE "C"), so a prefix is a range its
-- B-tree can serve whatever the database's collation. The SQLite file is
-- the same without the collation (SQLite compares bytes already).
ALTER TABLE users ADD COLUMN search_name TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN search_display TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX users_search_name ON users (search_name, id);
CREATE INDEX users_search_display ON users (search_display, id);
