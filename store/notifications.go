package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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

// insertNotification stores a notification for userID as their settings
// say: in the app (listed, and told to their sockets: delivered is true),
// by push (queued to each device, in this transaction), both, or neither.
func insertNotification(ctx context.Context, t tx, userID string, n rooms.Notice, at int64) (d rooms.Delivered, delivered bool, err error) {
	hostID, _ := n.Data["hostId"].(string)
	inApp, push, err := channelsFor(ctx, t, userID, n.Type, hostID, fromMillis(at))
	if err != nil {
		return rooms.Delivered{}, false, err
	}
	return storeNotification(ctx, t, userID, n, at, inApp, push)
}

// storeNotification stores a notification whose channels are decided.
func storeNotification(ctx context.Context, t tx, userID string, n rooms.Notice, at int64, inApp, push bool) (rooms.Delivered, bool, error) {
	d := rooms.Delivered{UserID: userID, ID: newID(), CreatedAt: fromMillis(at)}
	if !inApp && !push {
		return d, false, nil
	}
	data, err := json.Marshal(n.Data)
	if err != nil || n.Data == nil {
		data = []byte("{}")
	}
	_, err = t.exec(ctx, `INSERT INTO notifications (id, user_id, type, title, body, data, created_at, in_app) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		d.ID, userID, n.Type, n.Title, n.Body, string(data), at, inApp)
	if err == nil && push {
		_, err = t.exec(ctx, queuePushesSQL, d.ID)
	}
	return d, inApp, err
}

// QueueFollowerNotice implements rooms.SessionStore: the notice is queued
// for every follower of hostID, and FanoutBatch delivers it.
func (s *Store) QueueFollowerNotice(ctx context.Context, hostID string, n rooms.Notice) error {
	data, err := json.Marshal(n.Data)
	if err != nil || n.Data == nil {
		data = []byte("{}")
	}
	_, err = s.exec(ctx, `INSERT INTO follower_fanouts (id, host_id, type, title, body, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		newID(), hostID, n.Type, n.Title, n.Body, string(data), millis(now()))
	return err
}

// FanoutBatch implements rooms.SessionStore: it takes the oldest queued
// fan-out, notifies its next limit followers, and moves its cursor past
// them, all in one transaction. On Postgres the fan-out's row stays locked
// for that transaction (FOR UPDATE SKIP LOCKED), so another node takes
// another fan-out, never the same followers; SQLite has one writer. A
// crash rolls the batch back whole: it is done again, not half.
func (s *Store) FanoutBatch(ctx context.Context, limit int) (rooms.Fanout, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out rooms.Fanout
	err := s.inTx(ctx, func(t tx) error {
		out = rooms.Fanout{}
		var id, data, after string
		err := t.queryRow(ctx, `SELECT id, host_id, type, title, body, data, after_id FROM follower_fanouts
			ORDER BY created_at, id LIMIT 1`+lock).Scan(&id, &out.HostID, &out.Notice.Type, &out.Notice.Title, &out.Notice.Body, &data, &after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		out.Found = true
		if json.Unmarshal([]byte(data), &out.Notice.Data) != nil {
			out.Notice.Data = nil
		}
		// Each follower with their settings, in one query: 500 lookups per
		// batch would cost more than the inserts.
		rows, err := t.query(ctx, `SELECT `+settingsColumns+`, f.follower_id,
				EXISTS (SELECT 1 FROM notification_muted_hosts m WHERE m.user_id = f.follower_id AND m.host_id = $1)
			FROM follows f LEFT JOIN notification_settings ns ON ns.user_id = f.follower_id
			WHERE f.followee_id = $1 AND f.follower_id > $2 ORDER BY f.follower_id LIMIT $3`, out.HostID, after, limit)
		if err != nil {
			return err
		}
		type follower struct {
			id          string
			inApp, push bool
		}
		var followers []follower
		at := now()
		for rows.Next() {
			var f follower
			var muted bool
			ns, err := scanSettings(rows, &f.id, &muted)
			if err != nil {
				rows.Close()
				return err
			}
			f.inApp, f.push = ns.channels(out.Notice.Type, at, muted)
			followers = append(followers, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range followers {
			d, inApp, err := storeNotification(ctx, t, f.id, out.Notice, millis(at), f.inApp, f.push)
			if err != nil {
				return err
			}
			if inApp {
				out.Delivered = append(out.Delivered, d)
			}
		}
		if len(followers) < limit {
			_, err = t.exec(ctx, `DELETE FROM follower_fanouts WHERE id = $1`, id)
			return err
		}
		out.More = true
		_, err = t.exec(ctx, `UPDATE follower_fanouts SET after_id = $2 WHERE id = $1`, id, followers[len(followers)-1].id)
		return err
	})
	return out, err
}

// FanoutsQueued counts the fan-outs not yet done.
func (s *Store) FanoutsQueued(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM follower_fanouts`).Scan(&n)
	return n, err
}

// Notify gives one user a notification and returns it.
func (s *Store) Notify(ctx context.Context, userID string, n rooms.Notice) error {
	return s.inTx(ctx, func(t tx) error {
		_, _, err := insertNotification(ctx, t, userID, n, millis(now()))
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
		WHERE user_id = $1 AND in_app = TRUE AND ($2 = '' OR type = $2) AND ($3 = FALSE OR is_read = FALSE)
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
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND in_app = TRUE AND is_read = FALSE`, userID).Scan(&unread)
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
