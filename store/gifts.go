package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/rooms"
)

// GiftCatalog implements economy.Ledger.
func (s *Store) GiftCatalog(ctx context.Context) ([]economy.Gift, error) {
	rows, err := s.query(ctx, `SELECT id, name_en, name_ar, price, animation, active, sort_order FROM gifts ORDER BY sort_order, price, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []economy.Gift
	for rows.Next() {
		var g economy.Gift
		if err := rows.Scan(&g.ID, &g.NameEN, &g.NameAR, &g.Price, &g.Animation, &g.Active, &g.SortOrder); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// SendGift implements economy.Ledger. One transaction, in this order: the
// idempotency key, the sender's debit (refused by the wallet's CHECK when
// short), the session's figures (locking its row, only while it is live),
// the recipient's diamond wallet (the host share with its carry, see
// below), the gift record (refused when the session is not live), the
// recipient's notification, the platform's balances and the transfers.
// Every refusal is an error, so on Postgres the whole transaction is one
// pipeline with its COMMIT (ledger_steps.go) and the rows other gifts share
// (the session, the recipient's wallet) are held only while the server runs
// it and commits.
//
// The host share (economy.CreditShare): the gift's total × share is whole
// diamonds q and millionths r (economy.SplitShare); the recipient's wallet
// gains q + ⌊(carry + r) / 10⁶⌋ and keeps (carry + r) mod 10⁶ as its new
// carry, in one upsert that locks the wallet. No statement may feed its
// result to another, so the later ones work out the diamonds credited from
// the carry the wallet now holds, c′: with the old carry in [0, 10⁶), they
// are exactly q + ⌈(r − c′) / 10⁶⌉. The gift record stores them, and the
// statements after it read them from the record.
//
// Session figures: gifts_received counts gift units (a send of quantity 5
// adds 5) and coins_earned the coins the gifts cost (before the host share).
func (s *Store) SendGift(ctx context.Context, g economy.GiftTransfer) (economy.GiftReceipt, error) {
	var rc economy.GiftReceipt
	var balances map[string]*int64 // the debited wallets' balances after
	data := make(map[string]any, len(g.Notice.Data)+2)
	maps.Copy(data, g.Notice.Data)
	delete(data, "diamonds") // filled in by the transaction
	whole, micro := economy.SplitShare(g.TotalCost, g.HostSharePPM)
	// The recipient's settings are read before the transaction, to keep
	// its pipeline one round trip: a change of settings racing this gift
	// may apply from the next one.
	inApp, push, err := channelsFor(ctx, s, g.RecipientID, "gift", "", now())
	if err != nil {
		return economy.GiftReceipt{}, err
	}
	err = s.runSteps(ctx, func(stripe int) ([]step, error) {
		pay := economy.GiftTransfers(g.SenderID, g.RecipientID, g.TotalCost, 0)
		m, err := planMoves(pay, stripe)
		if err != nil {
			return nil, err
		}
		id, noteID, at := newID(), newID(), now()
		ms := millis(at)
		rc = economy.GiftReceipt{
			ID: id, GiftID: g.GiftID, SessionID: g.SessionID, SenderID: g.SenderID, RecipientID: g.RecipientID,
			Quantity: g.Quantity, TotalCost: g.TotalCost, Message: g.Message, CreatedAt: at,
		}
		data["transactionId"] = id
		dataJSON, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		senderWallet := walletID(g.SenderID, economy.Coins)
		recipientWallet := walletID(g.RecipientID, economy.Diamonds)
		revenue := accountID(economy.Platform(economy.Revenue, economy.Coins), stripe)
		payouts := accountID(economy.Platform(economy.Payouts, economy.Coins), stripe)
		issuance := accountID(economy.Platform(economy.Issuance, economy.Diamonds), stripe)

		var steps []step
		if g.IdempotencyKey != "" {
			steps = append(steps, claimStep(g.SenderID, "gift", g.IdempotencyKey, g.RequestHash, id, ms))
		}
		balances = map[string]*int64{}
		steps = append(steps, m.debitSteps(balances, ms)...)
		steps = append(steps,
			// The session's figures, only while it is live: this locks its
			// row, so it cannot end before the commit.
			step{
				sql: `UPDATE live_sessions SET gifts_received = gifts_received + $1, coins_earned = coins_earned + $2
					WHERE id = $3 AND status = 'live'`,
				args: []any{g.Quantity, g.TotalCost, g.SessionID},
			},
			// The recipient's diamonds and carry. On Postgres the
			// recipient's user row is share-locked first (then the wallet),
			// as an account deletion locks them: a deletion running now
			// either waits for this gift (and forfeits its diamonds too) or
			// makes this gift wait and then refuses it (the record below),
			// never leaving diamonds in a closed account.
			step{
				sql: `INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, share_carry, created_at)
					VALUES ($1, (SELECT id FROM users WHERE id = $2 AND deleted_at IS NULL` + s.shareLock() + `), 'wallet', 'diamonds',
						CAST($3 AS BIGINT), CAST($4 AS BIGINT), $5)
					ON CONFLICT (id) DO UPDATE SET
						balance = ledger_accounts.balance + excluded.balance + (ledger_accounts.share_carry + excluded.share_carry) / 1000000,
						share_carry = (ledger_accounts.share_carry + excluded.share_carry) % 1000000`,
				args:   []any{recipientWallet, g.RecipientID, whole, micro, ms},
				mapErr: mapLedgerErr,
			},
			// The record, whose session_id is NULL, and refused, when the
			// session is not live; whose recipient_id is NULL, and refused,
			// when the recipient's account was deleted. Its diamonds are
			// the share credited just above (the comment on SendGift).
			step{
				sql: `INSERT INTO gift_sends (id, session_id, gift_id, sender_id, recipient_id, quantity, unit_price, total_cost,
						diamonds, revenue, host_share_ppm, message, sender_coins, created_at)
					VALUES ($1, (SELECT id FROM live_sessions WHERE id = $2 AND status = 'live'), $3, $4,
						(SELECT id FROM users WHERE id = $5 AND deleted_at IS NULL` + s.shareLock() + `), $6, $7, $8,
						` + creditedSQL + `, $8 - ` + creditedSQL + `, $9, $10, (SELECT balance FROM ledger_accounts WHERE id = $11), $12)
					RETURNING diamonds`,
				args: []any{id, g.SessionID, g.GiftID, g.SenderID, g.RecipientID, g.Quantity, g.UnitPrice, g.TotalCost,
					g.HostSharePPM, g.Message, senderWallet, ms, whole, micro, recipientWallet},
				scan: []any{&rc.Diamonds},
				mapErr: func(err error) error {
					switch {
					case isNotNull(err, "gift_sends", "session_id"):
						return economy.ErrSessionEnded
					case isNotNull(err, "gift_sends", "recipient_id"):
						return fmt.Errorf("gift to %s: %w", g.RecipientID, economy.ErrUnknownUser)
					case isForeignKeyViolation(err):
						return fmt.Errorf("gift %s to %s: %w", g.GiftID, g.RecipientID, notFound("gift or recipient"))
					}
					return err
				},
			},
			// The notification, with the sender's name filled in (and
			// returned, for the receipt) and the diamonds credited put in
			// front of the rest of the data.
			step{
				sql: `INSERT INTO notifications (id, user_id, type, title, body, data, created_at, in_app)
					VALUES ($1, $2, 'gift', REPLACE($3, '{sender}', (SELECT display_name FROM users WHERE id = $7)),
						REPLACE($4, '{sender}', (SELECT display_name FROM users WHERE id = $7)),
						'{"diamonds":' || CAST((SELECT diamonds FROM gift_sends WHERE id = $8) AS TEXT) || ',' || $5, $6, $9)
					RETURNING (SELECT display_name FROM users WHERE id = $7)`,
				args: []any{noteID, g.RecipientID, g.Notice.Title, g.Notice.Body, string(dataJSON[1:]), ms, g.SenderID, id, inApp},
				scan: []any{&rc.SenderName},
				mapErr: func(err error) error {
					if isNotNull(err, "notifications", "title") || isForeignKeyViolation(err) {
						return economy.ErrUnknownUser
					}
					return err
				},
			},
			// The platform's stripes, in id order: revenue gains the price
			// less the share, payouts the share, and diamond issuance gives
			// it. A share of nothing leaves their rows as they are.
			step{
				sql: `INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, created_at) VALUES
						($1, NULL, 'payouts', 'coins', (SELECT diamonds FROM gift_sends WHERE id = $4), $5),
						($2, NULL, 'revenue', 'coins', (SELECT revenue FROM gift_sends WHERE id = $4), $5),
						($3, NULL, 'issuance', 'diamonds', -(SELECT diamonds FROM gift_sends WHERE id = $4), $5)
					ON CONFLICT (id) DO UPDATE SET balance = ledger_accounts.balance + excluded.balance WHERE excluded.balance <> 0`,
				args:   []any{payouts, revenue, issuance, id, ms},
				mapErr: mapLedgerErr,
			},
			// The transfers, each user's with the balance after: the price,
			// then (unless the share is nothing) the share set aside and
			// the diamonds minted.
			step{
				sql: `INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at)
					SELECT $1, id, 'gift', 'coins', $4, $5, total_cost, sender_id, (SELECT balance FROM ledger_accounts WHERE id = $4), CAST($9 AS BIGINT)
						FROM gift_sends WHERE id = $10
					UNION ALL SELECT $2, id, 'gift_share', 'coins', $5, $6, diamonds, NULL, NULL, CAST($9 AS BIGINT)
						FROM gift_sends WHERE id = $10 AND diamonds > 0
					UNION ALL SELECT $3, id, 'gift_credit', 'diamonds', $7, $8, diamonds, recipient_id,
							(SELECT balance FROM ledger_accounts WHERE id = $8), CAST($9 AS BIGINT)
						FROM gift_sends WHERE id = $10 AND diamonds > 0`,
				args: []any{newID(), newID(), newID(), senderWallet, revenue, payouts, issuance, recipientWallet, ms, id},
			},
		)
		if push {
			steps = append(steps, step{sql: queuePushesSQL, args: []any{noteID}}) // to the recipient's phones
		}
		rc.Notification = nil
		if inApp {
			rc.Notification = &economy.Notification{ID: noteID, UserID: g.RecipientID, Type: "gift", Data: data, CreatedAt: at}
		}
		return steps, nil
	})
	if errors.Is(err, errKeyTaken) {
		rc, hash, found, err := s.GiftByKey(ctx, g.SenderID, g.IdempotencyKey)
		return replayed(rc, hash, found, err, g.RequestHash)
	}
	if err != nil {
		return economy.GiftReceipt{}, s.fillHave(ctx, err, walletID(g.SenderID, economy.Coins))
	}
	rc.SenderBalance = *balances[walletID(g.SenderID, economy.Coins)]
	if n := rc.Notification; n != nil {
		n.Title = strings.ReplaceAll(g.Notice.Title, "{sender}", rc.SenderName)
		n.Body = strings.ReplaceAll(g.Notice.Body, "{sender}", rc.SenderName)
		n.Data["diamonds"] = rc.Diamonds
	}
	return rc, nil
}

// creditedSQL is the diamonds a gift's share credited, read back from the
// recipient's wallet after its upsert ($13: the share's whole diamonds, $14
// its millionths, $15 the wallet): q + ⌈(r − c′) / 10⁶⌉, with a numerator
// that is never negative, so integer division rounds it as wanted on both
// engines. A missing wallet would make it NULL and the record refused.
const creditedSQL = `(SELECT CAST($13 AS BIGINT) + (CAST($14 AS BIGINT) + 999999 - share_carry) / 1000000 FROM ledger_accounts WHERE id = $15)`

// GiftByKey implements economy.Ledger.
func (s *Store) GiftByKey(ctx context.Context, senderID, key string) (economy.GiftReceipt, string, bool, error) {
	opID, hash, found, err := s.lookupKey(ctx, senderID, "gift", key)
	if err != nil || !found {
		return economy.GiftReceipt{}, "", false, err
	}
	rc := economy.GiftReceipt{ID: opID, Replayed: true}
	var at int64
	err = s.queryRow(ctx, `SELECT g.gift_id, g.session_id, g.sender_id, u.display_name, g.recipient_id, g.quantity, g.total_cost,
			g.diamonds, g.sender_coins, g.message, g.created_at
		FROM gift_sends g JOIN users u ON u.id = g.sender_id WHERE g.id = $1`, opID).
		Scan(&rc.GiftID, &rc.SessionID, &rc.SenderID, &rc.SenderName, &rc.RecipientID, &rc.Quantity, &rc.TotalCost,
			&rc.Diamonds, &rc.SenderBalance, &rc.Message, &at)
	if err != nil {
		return economy.GiftReceipt{}, "", false, fmt.Errorf("idempotency key %q of user %s: gift %s: %w", key, senderID, opID, err)
	}
	rc.CreatedAt = fromMillis(at)
	return rc, hash, true, nil
}

// TopGifters implements economy.Ledger.
func (s *Store) TopGifters(ctx context.Context, q economy.LeaderboardQuery) ([]economy.Gifter, error) {
	const cols = `SELECT g.sender_id, u.display_name, u.avatar_url, CAST(SUM(g.total_cost) AS BIGINT) AS coins, CAST(SUM(g.quantity) AS BIGINT) AS units
		FROM gift_sends g JOIN users u ON u.id = g.sender_id `
	const order = ` GROUP BY g.sender_id, u.display_name, u.avatar_url ORDER BY coins DESC, units DESC, g.sender_id LIMIT $3`
	var rows *sql.Rows
	var err error
	if q.SessionID != "" {
		rows, err = s.query(ctx, cols+`WHERE g.session_id = $1 AND g.created_at >= $2`+order, q.SessionID, millis(q.Since), q.Limit)
	} else {
		rows, err = s.query(ctx, cols+`WHERE g.recipient_id = $1 AND g.created_at >= $2`+order, q.RecipientID, millis(q.Since), q.Limit)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []economy.Gifter{}
	for rows.Next() {
		var g economy.Gifter
		if err := rows.Scan(&g.User.ID, &g.User.DisplayName, &g.User.AvatarURL, &g.Coins, &g.Gifts); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

var _ rooms.StageFactsStore = (*Store)(nil)

// StageFacts implements rooms.StageFactsStore: the session and both users'
// standing in it, in one query (a gift's checks before its transaction).
func (s *Store) StageFacts(ctx context.Context, sessionID, senderID, recipientID string) (rooms.StageFacts, error) {
	var f rooms.StageFacts
	var created int64
	var senderRole, recipientRole sql.NullString
	var senderBanned, recipientBanned sql.NullBool
	err := s.queryRow(ctx, `SELECT s.id, s.host_id, s.status, s.is_private, s.created_at, sp.role, sp.banned, rp.role, rp.banned,
			`+blockedSQL("$2", "$3")+`, `+allowsSQL("gifts_from", "$3", "$2")+`
		FROM live_sessions s
		LEFT JOIN session_participants sp ON sp.session_id = s.id AND sp.user_id = $2
		LEFT JOIN session_participants rp ON rp.session_id = s.id AND rp.user_id = $3
		WHERE s.id = $1`, sessionID, senderID, recipientID).
		Scan(&f.Session.ID, &f.Session.HostID, &f.Session.Status, &f.Session.IsPrivate, &created,
			&senderRole, &senderBanned, &recipientRole, &recipientBanned, &f.Blocked, &f.RecipientAllows)
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.StageFacts{}, notFound("session")
	}
	if err != nil {
		return rooms.StageFacts{}, err
	}
	f.Session.CreatedAt = fromMillis(created)
	if senderRole.Valid {
		f.Sender = &rooms.Participant{SessionID: sessionID, UserID: senderID, Role: rooms.Role(senderRole.String), Banned: senderBanned.Bool}
	}
	if recipientRole.Valid {
		f.Recipient = &rooms.Participant{SessionID: sessionID, UserID: recipientID, Role: rooms.Role(recipientRole.String), Banned: recipientBanned.Bool}
	}
	return f, nil
}

// shareLock is the row lock a reading subquery takes on Postgres; SQLite's
// transaction holds the database's write lock already.
func (s *Store) shareLock() string {
	if s.dialect == Postgres {
		return " FOR SHARE"
	}
	return ""
}
