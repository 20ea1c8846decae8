package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/chobilive/chobi/push"
)

var _ push.Outbox = (*Store)(nil)

// PushToken is a device's registration.
type PushToken struct {
	Token    string
	UserID   string
	Platform string
	DeviceID string
}

// RegisterPushToken records the device's token for the user. A token known
// already moves to this user (a phone that changed accounts); with a device
// id, that device's other tokens of the user are replaced. The token is
// stored sealed, found by its keyed hash (sealed.go).
func (s *Store) RegisterPushToken(ctx context.Context, p PushToken) error {
	hash, sealed, err := s.sealToken(p.Token)
	if err != nil {
		return err
	}
	hashes := s.keys.Hashes(pushTokenField, p.Token)
	ms := millis(now())
	return s.inTx(ctx, func(t tx) error {
		if p.DeviceID != "" {
			if _, err := t.exec(ctx, `DELETE FROM push_tokens WHERE user_id = $1 AND device_id = $2 AND token_hash NOT IN (`+params(3, len(hashes))+`)`,
				append([]any{p.UserID, p.DeviceID}, anys(hashes)...)...); err != nil {
				return err
			}
		}
		if len(hashes) > 1 { // the same token stored under an older key's hash, not yet rotated
			if _, err := t.exec(ctx, `DELETE FROM push_tokens WHERE token_hash IN (`+params(1, len(hashes)-1)+`)`, anys(hashes[1:])...); err != nil {
				return err
			}
		}
		_, err := t.exec(ctx, `INSERT INTO push_tokens (token_hash, token_sealed, user_id, platform, device_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (token_hash) DO UPDATE SET token_sealed = excluded.token_sealed, user_id = excluded.user_id,
				platform = excluded.platform, device_id = excluded.device_id, updated_at = excluded.updated_at`,
			hash, sealed, p.UserID, p.Platform, p.DeviceID, ms)
		return err
	})
}

// UnregisterPushToken forgets the user's token, and the pushes still
// queued for it; false when the user had no such token.
func (s *Store) UnregisterPushToken(ctx context.Context, userID, token string) (bool, error) {
	if s.keys == nil {
		return false, ErrNoKeys
	}
	hashes := anys(s.keys.Hashes(pushTokenField, token))
	var removed bool
	err := s.inTx(ctx, func(t tx) error {
		res, err := t.exec(ctx, `DELETE FROM push_tokens WHERE user_id = $1 AND token_hash IN (`+params(2, len(hashes))+`)`,
			append([]any{userID}, hashes...)...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		removed = n > 0
		if removed {
			_, err = t.exec(ctx, `DELETE FROM push_outbox WHERE user_id = $1 AND state IN ('queued', 'sending') AND token_hash IN (`+
				params(2, len(hashes))+`)`, append([]any{userID}, hashes...)...)
		}
		return err
	})
	return removed, err
}

// PushTokens lists the user's tokens, opened.
func (s *Store) PushTokens(ctx context.Context, userID string) ([]PushToken, error) {
	rows, err := s.query(ctx, `SELECT token_sealed, user_id, platform, device_id FROM push_tokens WHERE user_id = $1 ORDER BY created_at, token_hash`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PushToken
	for rows.Next() {
		var p PushToken
		var sealed string
		if err := rows.Scan(&sealed, &p.UserID, &p.Platform, &p.DeviceID); err != nil {
			return nil, err
		}
		if p.Token, err = s.openToken(sealed); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// queuePushesSQL queues a push to each of a notification's user's devices
// ($1: the notification's id), copying what the notification says; run in
// the notification's transaction, so that the push is queued if and only
// if the notification is stored. The token goes sealed, as it is stored.
const queuePushesSQL = `INSERT INTO push_outbox (id, notification_id, user_id, token_hash, token_sealed, title, body, data, state, next_at, created_at)
	SELECT n.id || ':' || p.token_hash, n.id, n.user_id, p.token_hash, p.token_sealed, n.title, n.body, n.data, 'queued', n.created_at, n.created_at
	FROM notifications n JOIN push_tokens p ON p.user_id = n.user_id WHERE n.id = $1`

// ClaimDue implements push.Outbox. On Postgres, FOR UPDATE SKIP LOCKED lets
// the senders of several nodes claim apart; SQLite has one writer.
func (s *Store) ClaimDue(ctx context.Context, at time.Time, limit int, lease time.Duration) ([]push.Item, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	ms := millis(at)
	rows, err := s.query(ctx, `UPDATE push_outbox SET state = 'sending', claimed_until = $2, attempts = attempts + 1,
			reclaimed = CASE WHEN state = 'sending' THEN 1 ELSE 0 END
		WHERE id IN (SELECT id FROM push_outbox
			WHERE (state = 'queued' AND next_at <= $1) OR (state = 'sending' AND claimed_until < $1)
			ORDER BY next_at LIMIT $3`+lock+`)
		RETURNING id, token_sealed, title, body, data, attempts, reclaimed`, ms, millis(at.Add(lease)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []push.Item
	for rows.Next() {
		var it push.Item
		var data, sealed string
		var reclaimed int
		if err := rows.Scan(&it.ID, &sealed, &it.Title, &it.Body, &data, &it.Attempts, &reclaimed); err != nil {
			return nil, err
		}
		if it.Token, err = s.openToken(sealed); err != nil {
			return nil, err
		}
		it.Data, it.Reclaimed = json.RawMessage(data), reclaimed == 1
		out = append(out, it)
	}
	return out, rows.Err()
}

// ClaimReceipts implements push.Outbox: the claim moves the receipt's due
// time past the lease.
func (s *Store) ClaimReceipts(ctx context.Context, at time.Time, limit int, lease time.Duration) ([]push.Pending, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := s.query(ctx, `UPDATE push_outbox SET next_at = $2
		WHERE id IN (SELECT id FROM push_outbox WHERE state = 'ticketed' AND next_at <= $1 ORDER BY next_at LIMIT $3`+lock+`)
		RETURNING id, token_sealed, ticket_id`, millis(at), millis(at.Add(lease)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []push.Pending
	for rows.Next() {
		var p push.Pending
		var sealed string
		if err := rows.Scan(&p.ID, &sealed, &p.TicketID); err != nil {
			return nil, err
		}
		if p.Token, err = s.openToken(sealed); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Record implements push.Outbox.
func (s *Store) Record(ctx context.Context, outcomes []push.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	return s.inTx(ctx, func(t tx) error {
		for _, o := range outcomes {
			var err error
			switch o.State {
			case push.Ticketed:
				_, err = t.exec(ctx, `UPDATE push_outbox SET state = 'ticketed', ticket_id = $2, next_at = $3, error = '' WHERE id = $1`,
					o.ID, o.TicketID, millis(o.At))
			case push.Queued:
				_, err = t.exec(ctx, `UPDATE push_outbox SET state = 'queued', next_at = $2, error = $3 WHERE id = $1`,
					o.ID, millis(o.At), o.Reason)
			case push.Delivered:
				_, err = t.exec(ctx, `DELETE FROM push_outbox WHERE id = $1`, o.ID)
			case push.Failed:
				// Expo's error messages may quote the token: it is not kept.
				reason := o.Reason
				if o.Token != "" {
					reason = strings.ReplaceAll(reason, o.Token, "ExponentPushToken[…]")
				}
				_, err = t.exec(ctx, `UPDATE push_outbox SET state = 'failed', error = $2 WHERE id = $1`, o.ID, reason)
				if err == nil && o.DropToken {
					// A dead token is used no more: its row goes, and so do
					// the pushes still waiting for it.
					if s.keys == nil {
						return ErrNoKeys
					}
					hashes := anys(s.keys.Hashes(pushTokenField, o.Token))
					if _, err = t.exec(ctx, `DELETE FROM push_tokens WHERE token_hash IN (`+params(1, len(hashes))+`)`, hashes...); err == nil {
						_, err = t.exec(ctx, `UPDATE push_outbox SET state = 'failed', error = $1
							WHERE state IN ('queued', 'sending') AND token_hash IN (`+params(2, len(hashes))+`)`,
							append([]any{push.ErrDeviceNotRegistered}, hashes...)...)
					}
				}
			default:
				err = errors.New("push outcome of no known state: " + string(o.State))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Depth implements push.Outbox.
func (s *Store) Depth(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.queryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM push_outbox WHERE state IN ('queued', 'sending')`).Scan(&n, &oldest)
	if err != nil || !oldest.Valid {
		return n, time.Time{}, err
	}
	return n, fromMillis(oldest.Int64), nil
}
