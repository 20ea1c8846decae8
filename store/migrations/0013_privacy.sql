-- Privacy settings (users.getPrivacySettings / updatePrivacySettings). A
-- user without a row has the defaults: findable, lists shown, gifts and
-- stage invitations from everyone. Same SQL for Postgres and SQLite.

-- gifts_from and invites_from: 'everyone', 'following' (people the user
-- follows) or 'nobody'.
CREATE TABLE privacy_settings (
    user_id           TEXT PRIMARY KEY REFERENCES users(id),
    hide_from_search  BOOLEAN NOT NULL DEFAULT FALSE,
    hide_follow_lists BOOLEAN NOT NULL DEFAULT FALSE,
    gifts_from        TEXT NOT NULL DEFAULT 'everyone',
    invites_from      TEXT NOT NULL DEFAULT 'everyone',
    updated_at        BIGINT NOT NULL
);
