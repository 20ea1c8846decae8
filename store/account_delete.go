package store

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/chobilive/chobi/economy"
)

// Deleting an account (users.deleteAccount). The user row stays, because
// the ledger's transfers, gifts and sessions point at it, but everything
// that identifies the person goes:
//
//   - the profile is anonymised: username "deleted-<id>", display name
//     "Deleted user", no bio, avatar, preferences or password hash (so no
//     login), deleted_at set;
//   - deleted: follows (both ways), the user's notifications and the
//     notifications of others that name the user (follow, gift), the
//     user's chat messages, videos (and their likes), likes (each video's
//     count lowered), session participation, idempotency keys;
//   - blanked: gift messages the user wrote, titles and descriptions of
//     the sessions the user hosted (their figures stay for the other side's
//     analytics and the ledger);
//   - kept: gifts, coin credits (with the payment reference: a financial
//     record) and every ledger transfer, which is append-only. What the
//     wallets still hold is moved to the platform's 'forfeited' accounts by
//     'forfeit' transfers under an account_closures record, so every
//     currency still sums to zero and reconcile stays clean.

// The platform's account of forfeited balances, and the transfer kind that
// moves a deleted user's wallet there.
const (
	Forfeited    economy.AccountKind  = "forfeited"
	KindForfeit  economy.TransferKind = "forfeit"
	deletedName                       = "Deleted user"
	deletedUserP                      = "deleted-"
)

// ErrHostingLive refuses to delete the host of a live session: ending it
// first tells its viewers and closes its figures.
var ErrHostingLive = errors.New("end your live session before deleting your account")

// AccountDeletion is what deleting an account did.
type AccountDeletion struct {
	UserID        string
	ClosureID     string
	Forfeited     economy.Balance // moved to the platform
	ChatMessages  int64
	Notifications int64
	Follows       int64
	Videos        int64
	DeletedAt     time.Time
}

// DeleteAccount anonymises userID and removes its personal data, in one
// transaction with the forfeit of its balances. A deleted or unknown user
// is not found; the host of a live session gets ErrHostingLive.
func (s *Store) DeleteAccount(ctx context.Context, userID string) (AccountDeletion, error) {
	var d AccountDeletion
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		d, err = s.deleteAccountOnce(ctx, userID)
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(1+rand.IntN(10*(attempt+1))) * time.Millisecond)
	}
	return d, err
}

func (s *Store) deleteAccountOnce(ctx context.Context, userID string) (AccountDeletion, error) {
	at := now()
	d := AccountDeletion{UserID: userID, ClosureID: newID(), DeletedAt: at}
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	err := s.inTx(ctx, func(t tx) error {
		var deleted sql.NullInt64
		err := t.queryRow(ctx, `SELECT deleted_at FROM users WHERE id = $1`+lock, userID).Scan(&deleted)
		if errors.Is(err, sql.ErrNoRows) || deleted.Valid {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		var live int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM live_sessions WHERE host_id = $1 AND status = 'live'`, userID).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return ErrHostingLive
		}

		// The wallets, locked (Postgres; SQLite's transaction holds the
		// write lock already) so no gift moves them between this read and
		// the forfeit.
		rows, err := t.query(ctx, `SELECT currency, balance FROM ledger_accounts WHERE id IN ($1, $2) ORDER BY id`+lock,
			walletID(userID, economy.Coins), walletID(userID, economy.Diamonds))
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			var bal int64
			if err := rows.Scan(&c, &bal); err != nil {
				rows.Close()
				return err
			}
			if economy.Currency(c) == economy.Coins {
				d.Forfeited.Coins = bal
			} else {
				d.Forfeited.Diamonds = bal
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var ts []economy.Transfer
		for _, c := range []struct {
			cur economy.Currency
			n   int64
		}{{economy.Coins, d.Forfeited.Coins}, {economy.Diamonds, d.Forfeited.Diamonds}} {
			if c.n > 0 {
				ts = append(ts, economy.Transfer{Kind: KindForfeit, Currency: c.cur, Amount: c.n,
					From: economy.UserWallet(userID, c.cur), To: economy.Platform(Forfeited, c.cur)})
			}
		}
		ms := millis(at)
		if _, err := t.exec(ctx, `INSERT INTO account_closures (id, user_id, coins, diamonds, created_at) VALUES ($1, $2, $3, $4, $5)`,
			d.ClosureID, userID, d.Forfeited.Coins, d.Forfeited.Diamonds, ms); err != nil {
			return err
		}
		if len(ts) > 0 {
			m, err := planMoves(ts, rand.IntN(stripes))
			if err != nil {
				return err
			}
			steps := append(m.debitSteps(map[string]*int64{}, ms), m.settleSteps(d.ClosureID, ms)...)
			if err := runSequential(ctx, t, steps); err != nil {
				return err
			}
		}

		count := func(dst *int64, query string, args ...any) error {
			res, err := t.exec(ctx, query, args...)
			if err != nil {
				return err
			}
			if dst != nil {
				n, _ := res.RowsAffected()
				*dst += n
			}
			return nil
		}
		// Ids are hex, so the id quoted as a JSON string matches exactly the
		// notifications whose data names this user (no LIKE wildcards).
		mention := `%"` + userID + `"%`
		for _, st := range []struct {
			dst   *int64
			query string
			args  []any
		}{
			{&d.Follows, `DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1`, []any{userID}},
			{&d.Notifications, `DELETE FROM notifications WHERE user_id = $1 OR data LIKE $2`, []any{userID, mention}},
			{&d.ChatMessages, `DELETE FROM chat_messages WHERE user_id = $1`, []any{userID}},
			{nil, `UPDATE videos SET likes = likes - 1 WHERE id IN (SELECT video_id FROM video_likes WHERE user_id = $1) AND likes > 0`, []any{userID}},
			{nil, `DELETE FROM video_likes WHERE user_id = $1 OR video_id IN (SELECT id FROM videos WHERE owner_id = $1)`, []any{userID}},
			{&d.Videos, `DELETE FROM videos WHERE owner_id = $1`, []any{userID}},
			{nil, `DELETE FROM session_participants WHERE user_id = $1`, []any{userID}},
			{nil, `DELETE FROM idempotency_keys WHERE user_id = $1`, []any{userID}},
			{nil, `DELETE FROM push_outbox WHERE user_id = $1`, []any{userID}},
			{nil, `DELETE FROM push_tokens WHERE user_id = $1`, []any{userID}},
			{nil, `DELETE FROM notification_muted_hosts WHERE user_id = $1 OR host_id = $1`, []any{userID}},
			{nil, `DELETE FROM blocks WHERE blocker_id = $1 OR blocked_id = $1`, []any{userID}},
			{nil, `DELETE FROM privacy_settings WHERE user_id = $1`, []any{userID}},
			{nil, `DELETE FROM reports WHERE reporter_id = $1`, []any{userID}},
			{nil, `DELETE FROM notification_settings WHERE user_id = $1`, []any{userID}},
			{nil, `DELETE FROM stream_keys WHERE user_id = $1`, []any{userID}},
			{nil, `UPDATE gift_sends SET message = '' WHERE sender_id = $1 AND message <> ''`, []any{userID}},
			{nil, `UPDATE live_sessions SET title = '', description = '', invite_code = '' WHERE host_id = $1`, []any{userID}},
			{nil, `UPDATE users SET username = $2, username_key = $3, display_name = $4, bio = '', avatar_url = '',
				password_hash = '', preferences = '{}', deleted_at = $5, updated_at = $5, search_name = '', search_display = '' WHERE id = $1`,
				[]any{userID, deletedUserP + userID, strings.ToLower(deletedUserP + userID), deletedName, ms}},
		} {
			if err := count(st.dst, st.query, st.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return AccountDeletion{}, err
	}
	return d, nil
}

// UserActive reports whether userID is an account that exists and was not
// deleted: a deleted user's tokens are refused with it.
func (s *Store) UserActive(ctx context.Context, userID string) (bool, error) {
	var deleted sql.NullInt64
	err := s.queryRow(ctx, `SELECT deleted_at FROM users WHERE id = $1`, userID).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && !deleted.Valid, err
}
