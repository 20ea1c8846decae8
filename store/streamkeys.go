package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/chobilive/chobi/rooms"
)

// StreamKey is a host's WHIP stream key record: never the key itself
// (package web/streamkey derives it from Nonce), its hash, and the
// defaults of the sessions WHIP starts.
type StreamKey struct {
	UserID    string
	Nonce     string
	KeyHash   string
	Title     string
	Type      string // "audio" | "video"
	Category  string
	CreatedAt time.Time
}

// StreamKey returns the user's stream key record (ErrNotFound: none yet).
func (s *Store) StreamKey(ctx context.Context, userID string) (StreamKey, error) {
	return s.scanStreamKey(s.queryRow(ctx, `SELECT user_id, nonce, key_hash, title, type, category, created_at
		FROM stream_keys WHERE user_id = $1`, userID))
}

// StreamKeyByHash finds the record whose key hashes to keyHash.
func (s *Store) StreamKeyByHash(ctx context.Context, keyHash string) (StreamKey, error) {
	return s.scanStreamKey(s.queryRow(ctx, `SELECT user_id, nonce, key_hash, title, type, category, created_at
		FROM stream_keys WHERE key_hash = $1`, keyHash))
}

func (s *Store) scanStreamKey(row *sql.Row) (StreamKey, error) {
	var k StreamKey
	var created int64
	err := row.Scan(&k.UserID, &k.Nonce, &k.KeyHash, &k.Title, &k.Type, &k.Category, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return StreamKey{}, notFound("stream key")
	}
	if err != nil {
		return StreamKey{}, err
	}
	k.CreatedAt = fromMillis(created)
	return k, nil
}

// PutStreamKey creates the user's key, or replaces its nonce and hash (a
// reset) keeping the defaults; it returns the record as stored.
func (s *Store) PutStreamKey(ctx context.Context, k StreamKey) (StreamKey, error) {
	if k.Type == "" {
		k.Type = "video"
	}
	_, err := s.exec(ctx, `INSERT INTO stream_keys (user_id, nonce, key_hash, title, type, category, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_id) DO UPDATE SET nonce = excluded.nonce, key_hash = excluded.key_hash, created_at = excluded.created_at`,
		k.UserID, k.Nonce, k.KeyHash, k.Title, k.Type, k.Category, millis(k.CreatedAt))
	if err != nil {
		return StreamKey{}, err
	}
	return s.StreamKey(ctx, k.UserID)
}

// SetStreamDefaults sets the title, type and category of the sessions the
// user's stream key starts (ErrNotFound: the user has no key yet).
func (s *Store) SetStreamDefaults(ctx context.Context, userID, title, typ, category string) error {
	res, err := s.exec(ctx, `UPDATE stream_keys SET title = $2, type = $3, category = $4 WHERE user_id = $1`, userID, title, typ, category)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("stream key")
	}
	return nil
}

// LiveSessionOf returns the session the user hosts now (ErrNotFound: none).
// A host has at most one in practice; the newest wins otherwise.
func (s *Store) LiveSessionOf(ctx context.Context, hostID string) (rooms.Session, error) {
	ss, err := scanSession(s.queryRow(ctx, `SELECT `+sessionColumns+` FROM live_sessions s
		WHERE s.host_id = $1 AND s.status = 'live' ORDER BY s.created_at DESC, s.id DESC LIMIT 1`, hostID))
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.Session{}, notFound("live session")
	}
	return ss, err
}
