package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/chobilive/chobi/rooms"
)

// Notification is a stored notification.
type Notification struct {
	ID        string
	UserID    string
	Type      string
	Title     string
	Body      string
	Data      map[string]any
	Read      bool
	CreatedAt time.Time
}

func insertNotification(ctx context.Context, t tx, userID string, n rooms.Notice, at int64) (rooms.Delivered, error) {
	data, err := json.Marshal(n.Data)
	if err != nil || n.Data == nil {
		data = []byte("{}")
	}
	d := rooms.Delivered{UserID: userID, ID: newID(), CreatedAt: fromMillis(at)}
	_, err = t.exec(ctx, `INSERT INTO notifications (id, user_id, type, title, body, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		d.ID, userID, n.Type, n.Title, n.Body, string(data), at)
	if err == nil {
		_, err = t.exec(ctx, queuePushesSQL, d.ID)
	}
	return d, err
}

// NotifyFollowers implements rooms.SessionStore: every follower gets the
// notice, all in one transaction.
func (s *Store) NotifyFollowers(ctx context.Context, userID string, n rooms.Notice) ([]rooms.Delivered, error) {
	var delivered []rooms.Delivered
	err := s.inTx(ctx, func(t tx) error {
		delivered = delivered[:0]
		rows, err := t.query(ctx, `SELECT follower_id FROM follows WHERE followee_id = $1`, userID)
		if err != nil {
			return err
		}
		var followers []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			followers = append(followers, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		at := millis(now())
		for _, f := range followers {
			d, err := insertNotification(ctx, t, f, n, at)
			if err != nil {
				return err
			}
			delivered = append(delivered, d)
		}
		return nil
	})
	return delivered, err
}

// Notify gives one user a notification and returns it.
func (s *Store) Notify(ctx context.Context, userID string, n rooms.Notice) error {
	return s.inTx(ctx, func(t tx) error {
		_, err := insertNotification(ctx, t, userID, n, millis(now()))
		return err
	})
}

// NotificationFilter selects a user's notifications.
type NotificationFilter struct {
	Type       string // "" or "all" for every type
	UnreadOnly bool
	Limit      int
}

// Notifications lists a user's notifications, newest first, with the count
// of all unread ones.
func (s *Store) Notifications(ctx context.Context, userID string, f NotificationFilter) ([]Notification, int, error) {
	typ := f.Type
	if typ == "all" {
		typ = ""
	}
	rows, err := s.query(ctx, `SELECT id, user_id, type, title, body, data, is_read, created_at FROM notifications
		WHERE user_id = $1 AND ($2 = '' OR type = $2) AND ($3 = FALSE OR is_read = FALSE)
		ORDER BY created_at DESC, id DESC LIMIT $4`, userID, typ, f.UnreadOnly, f.Limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var data string
		var at int64
		if err := rows.Scan(&n.ID, &n.UserID, &n.Type, &n.Title, &n.Body, &data, &n.Read, &at); err != nil {
			return nil, 0, err
		}
		n.CreatedAt = fromMillis(at)
		if json.Unmarshal([]byte(data), &n.Data) != nil || n.Data == nil {
			n.Data = map[string]any{}
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var unread int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND is_read = FALSE`, userID).Scan(&unread)
	return out, unread, err
}

// MarkRead marks the given notifications of a user read (all of them when
// all is set) and returns how many changed. Other users' ids are ignored.
func (s *Store) MarkRead(ctx context.Context, userID string, ids []string, all bool) (int, error) {
	if !all && len(ids) == 0 {
		return 0, nil
	}
	query := `UPDATE notifications SET is_read = TRUE WHERE user_id = $1 AND is_read = FALSE`
	args := []any{userID}
	if !all {
		ph := make([]string, len(ids))
		for i, id := range ids {
			args = append(args, id)
			ph[i] = "$" + strconv.Itoa(i+2)
		}
		query += ` AND id IN (` + strings.Join(ph, ", ") + `)`
	}
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
