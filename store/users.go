package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/chobilive/chobi/rooms"
)

// User is an account with its profile.
type User struct {
	ID           string
	Username     string
	DisplayName  string
	Bio          string
	AvatarURL    string
	PasswordHash string
	IsGuest      bool
	Preferences  map[string]any
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Followers    int
	Following    int
}

// NewUser is an account to create.
type NewUser struct {
	Username     string
	DisplayName  string
	PasswordHash string
	IsGuest      bool
}

// CreateUser stores a new account; a taken username (in any case) is a
// conflict.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	t := now()
	u := User{
		ID: newID(), Username: nu.Username, DisplayName: nu.DisplayName, PasswordHash: nu.PasswordHash,
		IsGuest: nu.IsGuest, Preferences: map[string]any{}, CreatedAt: t, UpdatedAt: t,
	}
	name, display := searchKeys(u.Username, u.DisplayName)
	_, err := s.exec(ctx, `INSERT INTO users (id, username, username_key, display_name, password_hash, is_guest, preferences, created_at, updated_at,
			search_name, search_display)
		VALUES ($1, $2, $3, $4, $5, $6, '{}', $7, $7, $8, $9)`,
		u.ID, u.Username, strings.ToLower(u.Username), u.DisplayName, u.PasswordHash, u.IsGuest, millis(t), name, display)
	if isUniqueViolation(err) {
		return User{}, conflictError{"username is taken"}
	}
	if err != nil {
		return User{}, err
	}
	return u, nil
}

const userColumns = `u.id, u.username, u.display_name, u.bio, u.avatar_url, u.password_hash, u.is_guest, u.preferences, u.created_at, u.updated_at,
	(SELECT COUNT(*) FROM follows f WHERE f.followee_id = u.id),
	(SELECT COUNT(*) FROM follows f WHERE f.follower_id = u.id)`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var prefs string
	var created, updated int64
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Bio, &u.AvatarURL, &u.PasswordHash, &u.IsGuest, &prefs,
		&created, &updated, &u.Followers, &u.Following)
	if err != nil {
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	if err := json.Unmarshal([]byte(prefs), &u.Preferences); err != nil || u.Preferences == nil {
		u.Preferences = map[string]any{}
	}
	return u, nil
}

// UserByID loads an account with its follower counts.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, notFound("user")
	}
	return u, err
}

// UserByUsername finds an account by name, whatever its case.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.username_key = $1`, strings.ToLower(username)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, notFound("user")
	}
	return u, err
}

// ProfileUpdate holds the fields to change; nil ones stay as they are.
// Preferences are merged key by key into the stored ones.
type ProfileUpdate struct {
	DisplayName *string
	Bio         *string
	AvatarURL   *string
	Preferences map[string]any
}

// UpdateProfile applies an update and returns the new profile.
func (s *Store) UpdateProfile(ctx context.Context, id string, up ProfileUpdate) (User, error) {
	// The preferences are read, merged and written back: on Postgres the row
	// lock keeps concurrent updates from losing each other's keys (SQLite's
	// transaction already holds the write lock).
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE OF u"
	}
	err := s.inTx(ctx, func(t tx) error {
		u, err := scanUser(t.queryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`+lock, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		if up.DisplayName != nil {
			u.DisplayName = *up.DisplayName
		}
		if up.Bio != nil {
			u.Bio = *up.Bio
		}
		if up.AvatarURL != nil {
			u.AvatarURL = *up.AvatarURL
		}
		for k, v := range up.Preferences {
			u.Preferences[k] = v
		}
		prefs, err := json.Marshal(u.Preferences)
		if err != nil {
			return err
		}
		_, display := searchKeys("", u.DisplayName)
		_, err = t.exec(ctx, `UPDATE users SET display_name = $1, bio = $2, avatar_url = $3, preferences = $4, updated_at = $5,
				search_display = $7 WHERE id = $6`,
			u.DisplayName, u.Bio, u.AvatarURL, string(prefs), millis(now()), id, display)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return s.UserByID(ctx, id)
}

// User implements rooms.SessionStore.
func (s *Store) User(ctx context.Context, id string) (rooms.User, error) {
	var u rooms.User
	err := s.queryRow(ctx, `SELECT id, display_name, avatar_url FROM users WHERE id = $1`, id).Scan(&u.ID, &u.DisplayName, &u.AvatarURL)
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.User{}, notFound("user")
	}
	return u, err
}

// Follow makes follower follow followee and notifies followee. It reports
// whether the follow is new (following twice changes nothing).
func (s *Store) Follow(ctx context.Context, followerID, followeeID string) (bool, error) {
	created, _, err := s.FollowNotify(ctx, followerID, followeeID)
	return created, err
}

// FollowNotify is Follow that also returns the followee's new notification
// (nil when the follow existed), for pushing it to the followee's sockets.
func (s *Store) FollowNotify(ctx context.Context, followerID, followeeID string) (bool, *Notification, error) {
	created := false
	var note *Notification
	err := s.inTx(ctx, func(t tx) error {
		var name string
		err := t.queryRow(ctx, `SELECT display_name FROM users WHERE id = $1`, followerID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE id = $1`, followeeID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("user")
		}
		var blocked bool
		if err := t.queryRow(ctx, `SELECT `+blockedSQL("$1", "$2"), followerID, followeeID).Scan(&blocked); err != nil {
			return err
		}
		if blocked {
			return ErrBlocked
		}
		ts := millis(now())
		res, err := t.exec(ctx, `INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (follower_id, followee_id) DO NOTHING`, followerID, followeeID, ts)
		if err != nil {
			return err
		}
		if rows, _ := res.RowsAffected(); rows == 0 {
			return nil
		}
		created = true
		notice := rooms.Notice{
			Type: "follow", Title: "New follower", Body: name + " started following you",
			Data: map[string]any{"userId": followerID},
		}
		d, inApp, err := insertNotification(ctx, t, followeeID, notice, ts)
		if inApp {
			note = &Notification{ID: d.ID, UserID: followeeID, Type: notice.Type, Title: notice.Title, Body: notice.Body,
				Data: notice.Data, CreatedAt: d.CreatedAt}
		}
		return err
	})
	if err != nil {
		return false, nil, err
	}
	return created, note, nil
}

// Unfollow ends a follow; it reports whether there was one.
func (s *Store) Unfollow(ctx context.Context, followerID, followeeID string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2`, followerID, followeeID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// IsFollowing reports whether follower follows followee.
func (s *Store) IsFollowing(ctx context.Context, followerID, followeeID string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM follows WHERE follower_id = $1 AND followee_id = $2`, followerID, followeeID).Scan(&n)
	return n > 0, err
}
