package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/chobilive/chobi/rooms"
)

var _ rooms.SessionStore = (*Store)(nil)

const sessionColumns = `s.id, s.host_id, s.title, s.description, s.type, s.category, s.is_private, s.invite_code, s.status,
	s.created_at, s.ended_at, s.peak_viewers, s.total_viewers, s.viewer_seconds, s.messages, s.gifts_received, s.coins_earned`

func scanSession(row interface{ Scan(...any) error }, extra ...any) (rooms.Session, error) {
	var ss rooms.Session
	var created int64
	var ended sql.NullInt64
	dest := []any{&ss.ID, &ss.HostID, &ss.Title, &ss.Description, &ss.Type, &ss.Category, &ss.IsPrivate, &ss.InviteCode, &ss.Status,
		&created, &ended, &ss.Stats.PeakViewers, &ss.Stats.TotalViewers, &ss.Stats.ViewerSeconds, &ss.Stats.Messages,
		&ss.Stats.GiftsReceived, &ss.Stats.CoinsEarned}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return rooms.Session{}, err
	}
	ss.CreatedAt = fromMillis(created)
	if ended.Valid {
		t := fromMillis(ended.Int64)
		ss.EndedAt = &t
	}
	return ss, nil
}

// CreateSession implements rooms.SessionStore.
func (s *Store) CreateSession(ctx context.Context, ss rooms.Session) (rooms.Session, error) {
	ss.ID = newID()
	_, err := s.exec(ctx, `INSERT INTO live_sessions (id, host_id, title, description, type, category, is_private, invite_code, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ss.ID, ss.HostID, ss.Title, ss.Description, ss.Type, ss.Category, ss.IsPrivate, ss.InviteCode, ss.Status, millis(ss.CreatedAt))
	if err != nil {
		return rooms.Session{}, err
	}
	return ss, nil
}

// Session implements rooms.SessionStore.
func (s *Store) Session(ctx context.Context, id string) (rooms.Session, error) {
	ss, err := scanSession(s.queryRow(ctx, `SELECT `+sessionColumns+` FROM live_sessions s WHERE s.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.Session{}, notFound("session")
	}
	return ss, err
}

// ActiveSessions implements rooms.SessionStore.
func (s *Store) ActiveSessions(ctx context.Context, f rooms.ActiveFilter) ([]rooms.Session, error) {
	query := `SELECT ` + sessionColumns + `, u.display_name, u.avatar_url FROM live_sessions s JOIN users u ON u.id = s.host_id
		WHERE s.status = 'live' AND s.is_private = FALSE AND ($1 = '' OR s.type = $1) AND ($2 = '' OR s.category = $2)
		ORDER BY s.created_at DESC, s.id DESC`
	rows, err := s.query(ctx, query, f.Type, f.Category)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.Session
	for rows.Next() {
		var name, avatar string
		ss, err := scanSession(rows, &name, &avatar)
		if err != nil {
			return nil, err
		}
		ss.Host = rooms.User{ID: ss.HostID, DisplayName: name, AvatarURL: avatar}
		out = append(out, ss)
	}
	return out, rows.Err()
}

// EndSession implements rooms.SessionStore.
func (s *Store) EndSession(ctx context.Context, id string, endedAt time.Time, viewerSeconds int64) (rooms.Session, error) {
	_, err := s.exec(ctx, `UPDATE live_sessions SET status = 'ended', ended_at = $1, viewer_seconds = viewer_seconds + $2
		WHERE id = $3 AND status = 'live'`, millis(endedAt), viewerSeconds, id)
	if err != nil {
		return rooms.Session{}, err
	}
	return s.Session(ctx, id)
}

// InterruptSession implements rooms.SessionStore: the session ends like
// EndSession, marked as interrupted (its node died).
func (s *Store) InterruptSession(ctx context.Context, id string, endedAt time.Time, viewerSeconds int64) (rooms.Session, error) {
	_, err := s.exec(ctx, `UPDATE live_sessions SET status = 'ended', ended_at = $1, viewer_seconds = viewer_seconds + $2,
		end_reason = 'interrupted' WHERE id = $3 AND status = 'live'`, millis(endedAt), viewerSeconds, id)
	if err != nil {
		return rooms.Session{}, err
	}
	return s.Session(ctx, id)
}

// LiveSessionIDs implements rooms.SessionStore.
func (s *Store) LiveSessionIDs(ctx context.Context) ([]string, error) {
	return s.ids(ctx, `SELECT id FROM live_sessions WHERE status = 'live' ORDER BY created_at`)
}

// ids runs a query of one text column and returns its values.
func (s *Store) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// EndReason is why a session ended: "" (ended by its host, or still live)
// or "interrupted".
func (s *Store) EndReason(ctx context.Context, id string) (string, error) {
	var reason string
	err := s.queryRow(ctx, `SELECT end_reason FROM live_sessions WHERE id = $1`, id).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("session")
	}
	return reason, err
}

// Participant implements rooms.SessionStore.
func (s *Store) Participant(ctx context.Context, sessionID, userID string) (rooms.Participant, error) {
	p := rooms.Participant{SessionID: sessionID, UserID: userID}
	var role string
	err := s.queryRow(ctx, `SELECT role, banned FROM session_participants WHERE session_id = $1 AND user_id = $2`,
		sessionID, userID).Scan(&role, &p.Banned)
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.Participant{}, notFound("participant")
	}
	p.Role = rooms.Role(role)
	return p, err
}

// SetParticipant implements rooms.SessionStore.
func (s *Store) SetParticipant(ctx context.Context, p rooms.Participant) error {
	_, err := s.exec(ctx, `INSERT INTO session_participants (session_id, user_id, role, banned, joined_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (session_id, user_id) DO UPDATE SET role = excluded.role, banned = excluded.banned`,
		p.SessionID, p.UserID, string(p.Role), p.Banned, millis(now()))
	return err
}

// MarkWatched implements rooms.SessionStore.
func (s *Store) MarkWatched(ctx context.Context, sessionID, userID string, viewersNow int) error {
	return s.inTx(ctx, func(t tx) error {
		res, err := t.exec(ctx, `UPDATE session_participants SET watched = TRUE WHERE session_id = $1 AND user_id = $2 AND watched = FALSE`,
			sessionID, userID)
		if err != nil {
			return err
		}
		first, _ := res.RowsAffected()
		if first == 0 {
			// Not yet a participant (a public session's viewer may skip
			// streaming.joinSession): record it as a viewer that watched.
			res, err = t.exec(ctx, `INSERT INTO session_participants (session_id, user_id, role, watched, joined_at) VALUES ($1, $2, 'viewer', TRUE, $3)
				ON CONFLICT (session_id, user_id) DO NOTHING`, sessionID, userID, millis(now()))
			if err != nil {
				return err
			}
			first, _ = res.RowsAffected()
		}
		_, err = t.exec(ctx, `UPDATE live_sessions SET total_viewers = total_viewers + $1,
			peak_viewers = CASE WHEN peak_viewers < $2 THEN $2 ELSE peak_viewers END WHERE id = $3`, first, viewersNow, sessionID)
		return err
	})
}

// AddMessage implements rooms.SessionStore.
func (s *Store) AddMessage(ctx context.Context, m rooms.Message) (rooms.Message, error) {
	m.ID = newID()
	err := s.inTx(ctx, func(t tx) error {
		if _, err := t.exec(ctx, `INSERT INTO chat_messages (id, session_id, user_id, display_name, message, type, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, m.ID, m.SessionID, m.UserID, m.DisplayName, m.Message, m.Type, millis(m.CreatedAt)); err != nil {
			return err
		}
		_, err := t.exec(ctx, `UPDATE live_sessions SET messages = messages + 1 WHERE id = $1`, m.SessionID)
		return err
	})
	return m, err
}

// Messages implements rooms.SessionStore.
func (s *Store) Messages(ctx context.Context, sessionID string, limit int, before string) ([]rooms.Message, error) {
	var rows *sql.Rows
	var err error
	const cols = `SELECT id, session_id, user_id, display_name, message, type, created_at FROM chat_messages`
	if before == "" {
		rows, err = s.query(ctx, cols+` WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, sessionID, limit)
	} else {
		var at int64
		err = s.queryRow(ctx, `SELECT created_at FROM chat_messages WHERE id = $1 AND session_id = $2`, before, sessionID).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("message")
		}
		if err != nil {
			return nil, err
		}
		rows, err = s.query(ctx, cols+` WHERE session_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3))
			ORDER BY created_at DESC, id DESC LIMIT $4`, sessionID, at, before, limit)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rooms.Message
	for rows.Next() {
		var m rooms.Message
		var at int64
		if err := rows.Scan(&m.ID, &m.SessionID, &m.UserID, &m.DisplayName, &m.Message, &m.Type, &at); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMillis(at)
		out = append(out, m)
	}
	// Newest were read first; the page is returned oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}
