-- Search keys for users.search: see 0010_user_search.postgres.sql.
ALTER TABLE users ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN search_display TEXT NOT NULL DEFAULT '';
CREATE INDEX users_search_name ON users (search_name, id);
CREATE INDEX users_search_display ON users (search_display, id);
