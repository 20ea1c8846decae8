package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chobilive/chobi/economy"
)

var _ economy.Ledger = (*Store)(nil)

// The ledger (economy.Ledger): accounts, transfers, coin credits and
// idempotency keys. Gifts are in gifts.go, the audit in ledger_audit.go,
// and how an operation's statements run (one by one on SQLite, as one
// pipeline on Postgres) in ledger_steps.go.
//
// Concurrency: a wallet is debited by one conditional statement
// (balance = balance - x WHERE balance >= x), so it never goes negative
// whatever runs beside it; every other balance change is one multi-row
// upsert with its rows in id order, run last. On Postgres (READ COMMITTED)
// every transaction takes its row locks in the same order (the debited
// wallet, the session row of a gift, then the rest by id), the rows other
// operations share as late as possible, and a transaction that still fails
// with a serialization failure or deadlock is retried. SQLite's
// transactions take the write lock at BEGIN, so they run one at a time.

// stripes is how many rows each platform account is spread over: every
// gift credits the platform, and one row would make all gifts queue on
// its lock. On Postgres each connection has its own stripe (stripeOf), on
// SQLite (one writer) an operation picks one at random; an account's
// balance is the sum of its stripes.
const stripes = 64

func accountID(a economy.Account, stripe int) string {
	if a.Kind == economy.Wallet {
		return walletID(a.UserID, a.Currency)
	}
	return fmt.Sprintf("platform:%s:%s:%02d", a.Currency, a.Kind, stripe)
}

func walletID(userID string, c economy.Currency) string { return "user:" + userID + ":" + string(c) }

// KindShareAdjust credited each recipient, once, the diamonds that the
// gifts sent before exact earnings had rounded away (migration
// 0005_share_carry.sql, under a share_adjustments record).
const KindShareAdjust economy.TransferKind = "share_adjust"

// errKeyTaken ends a transaction whose idempotency key another request
// holds; the caller then returns that request's result.
var errKeyTaken = errors.New("idempotency key taken")

func sqlState(err error) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code
	}
	return ""
}

func isRetryable(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return strings.Contains(err.Error(), "database is locked") || strings.Contains(err.Error(), "SQLITE_BUSY")
}

func isCheckViolation(err error) bool {
	return err != nil && (sqlState(err) == "23514" || strings.Contains(err.Error(), "CHECK constraint failed"))
}

// isConstraint reports a violation of the named CHECK constraint.
func isConstraint(err error, name string) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23514" && pg.ConstraintName == name
	}
	return err != nil && strings.Contains(err.Error(), "CHECK constraint failed: "+name)
}

// isNotNull reports a NULL refused by table.column.
func isNotNull(err error, table, column string) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23502" && pg.TableName == table && pg.ColumnName == column
	}
	return err != nil && strings.Contains(err.Error(), "NOT NULL constraint failed: "+table+"."+column)
}

func isForeignKeyViolation(err error) bool {
	return err != nil && (sqlState(err) == "23503" || strings.Contains(err.Error(), "FOREIGN KEY constraint failed"))
}

// lookupKey finds a claimed idempotency key.
func (s *Store) lookupKey(ctx context.Context, userID, scope, key string) (opID, hash string, found bool, err error) {
	err = s.queryRow(ctx, `SELECT operation_id, request_hash FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND idem_key = $3`,
		userID, scope, key).Scan(&opID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return opID, hash, err == nil, err
}

// mapLedgerErr turns constraint failures of a balance change into the
// economy's errors.
func mapLedgerErr(err error) error {
	switch {
	case isCheckViolation(err):
		return economy.ErrBalanceLimit
	case isForeignKeyViolation(err):
		return economy.ErrUnknownUser
	}
	return err
}

// Balance implements economy.Ledger.
func (s *Store) Balance(ctx context.Context, userID string) (economy.Balance, error) {
	var b economy.Balance
	rows, err := s.query(ctx, `SELECT currency, balance FROM ledger_accounts WHERE id IN ($1, $2)`,
		walletID(userID, economy.Coins), walletID(userID, economy.Diamonds))
	if err != nil {
		return b, err
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var bal int64
		if err := rows.Scan(&c, &bal); err != nil {
			return b, err
		}
		switch economy.Currency(c) {
		case economy.Coins:
			b.Coins = bal
		case economy.Diamonds:
			b.Diamonds = bal
		}
	}
	return b, rows.Err()
}

// Credit implements economy.Ledger: the key, the balance changes with their
// transfers, and the credit's record.
func (s *Store) Credit(ctx context.Context, c economy.Credit) (economy.CreditReceipt, error) {
	var rc economy.CreditReceipt
	err := s.runSteps(ctx, func(stripe int) ([]step, error) {
		m, err := planMoves(c.Transfers, stripe)
		if err != nil {
			return nil, err
		}
		id, at := newID(), now()
		rc = economy.CreditReceipt{ID: id, UserID: c.UserID, Kind: c.Kind, Amount: c.Amount, CreatedAt: at}
		var steps []step
		if c.IdempotencyKey != "" {
			steps = append(steps, claimStep(c.UserID, string(c.Kind), c.IdempotencyKey, c.RequestHash, id, millis(at)))
		}
		// An unknown user fails on the foreign keys (a new wallet's, the record's).
		steps = append(steps, m.debitSteps(map[string]*int64{}, millis(at))...)
		steps = append(steps, m.settleSteps(id, millis(at))...)
		steps = append(steps, step{
			sql: `INSERT INTO coin_credits (id, kind, user_id, amount, coins_after, payment_ref, note, created_at)
				VALUES ($1, $2, $3, $4, (SELECT balance FROM ledger_accounts WHERE id = $5), $6, $7, $8) RETURNING coins_after`,
			args: []any{id, string(c.Kind), c.UserID, c.Amount, walletID(c.UserID, economy.Coins), c.PaymentRef, c.Note, millis(at)},
			scan: []any{&rc.Coins},
			mapErr: func(err error) error {
				if isUniqueViolation(err) {
					return economy.ErrReceiptUsed
				}
				return mapLedgerErr(err)
			},
		})
		return steps, nil
	})
	if errors.Is(err, errKeyTaken) {
		rc, hash, found, err := s.CreditByKey(ctx, c.UserID, c.Kind, c.IdempotencyKey)
		return replayed(rc, hash, found, err, c.RequestHash)
	}
	if err != nil {
		return economy.CreditReceipt{}, err
	}
	return rc, nil
}

// replayed is the answer to a request whose idempotency key was taken: the
// first result when the requests match, else a conflict.
func replayed[R any](rc R, hash string, found bool, err error, wantHash string) (R, error) {
	var zero R
	switch {
	case err != nil:
		return zero, err
	case !found:
		// The key's holder rolled back after all: the client may retry.
		return zero, fmt.Errorf("a request with this idempotency key was still running: retry: %w", economy.ErrIdempotencyConflict)
	case hash != wantHash:
		return zero, economy.ErrIdempotencyConflict
	}
	return rc, nil
}

// CreditByPayment implements economy.Ledger.
func (s *Store) CreditByPayment(ctx context.Context, paymentRef string) (economy.CreditReceipt, bool, error) {
	if paymentRef == "" {
		return economy.CreditReceipt{}, false, nil
	}
	var rc economy.CreditReceipt
	var k string
	var at int64
	err := s.queryRow(ctx, `SELECT id, user_id, kind, amount, coins_after, created_at FROM coin_credits WHERE payment_ref = $1`, paymentRef).
		Scan(&rc.ID, &rc.UserID, &k, &rc.Amount, &rc.Coins, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return economy.CreditReceipt{}, false, nil
	}
	if err != nil {
		return economy.CreditReceipt{}, false, err
	}
	rc.Kind, rc.CreatedAt = economy.TransferKind(k), fromMillis(at)
	return rc, true, nil
}

// CreditByKey implements economy.Ledger.
func (s *Store) CreditByKey(ctx context.Context, userID string, kind economy.TransferKind, key string) (economy.CreditReceipt, string, bool, error) {
	opID, hash, found, err := s.lookupKey(ctx, userID, string(kind), key)
	if err != nil || !found {
		return economy.CreditReceipt{}, "", false, err
	}
	rc := economy.CreditReceipt{ID: opID, Replayed: true}
	var k string
	var at int64
	err = s.queryRow(ctx, `SELECT user_id, kind, amount, coins_after, created_at FROM coin_credits WHERE id = $1`, opID).
		Scan(&rc.UserID, &k, &rc.Amount, &rc.Coins, &at)
	if err != nil {
		return economy.CreditReceipt{}, "", false, fmt.Errorf("idempotency key %q of user %s: operation %s: %w", key, userID, opID, err)
	}
	rc.Kind, rc.CreatedAt = economy.TransferKind(k), fromMillis(at)
	return rc, hash, true, nil
}

// History implements economy.Ledger: the user's transfers, newest first,
// each with the gift behind it.
func (s *Store) History(ctx context.Context, userID string, q economy.HistoryQuery) (economy.HistoryPage, error) {
	var page economy.HistoryPage
	at, id := int64(math.MaxInt64), ""
	if q.Cursor != "" {
		var err error
		if at, id, err = decodeHistoryCursor(q.Cursor); err != nil {
			return page, err
		}
	}
	rows, err := s.query(ctx, `SELECT t.id, t.operation_id, t.kind, t.currency, t.amount, t.debit_account, t.user_balance, t.created_at,
			g.gift_id, g.session_id, g.quantity, u.id, u.display_name, u.avatar_url
		FROM ledger_transfers t
		LEFT JOIN gift_sends g ON g.id = t.operation_id AND t.kind IN ('gift', 'gift_credit')
		LEFT JOIN users u ON u.id = CASE WHEN t.kind = 'gift' THEN g.recipient_id ELSE g.sender_id END
		WHERE t.user_id = $1 AND ($2 = '' OR t.currency = $2) AND (t.created_at < $3 OR (t.created_at = $3 AND t.id < $4))
		ORDER BY t.created_at DESC, t.id DESC LIMIT $5`, userID, string(q.Currency), at, id, q.Limit+1)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	for rows.Next() {
		var e economy.Entry
		var kind, currency, debit string
		var bal sql.NullInt64
		var created int64
		var giftID, sessionID, otherID, otherName, otherAvatar sql.NullString
		var quantity sql.NullInt64
		if err := rows.Scan(&e.ID, &e.OperationID, &kind, &currency, &e.Amount, &debit, &bal, &created,
			&giftID, &sessionID, &quantity, &otherID, &otherName, &otherAvatar); err != nil {
			return page, err
		}
		e.Currency, e.BalanceAfter, e.CreatedAt = economy.Currency(currency), bal.Int64, fromMillis(created)
		if debit == walletID(userID, e.Currency) {
			e.Amount = -e.Amount
		}
		switch economy.TransferKind(kind) {
		case economy.KindGift:
			e.Kind = "gift_sent"
		case economy.KindGiftCredit:
			e.Kind = "gift_received"
		case KindShareAdjust:
			e.Kind = "share_adjustment"
		default:
			e.Kind = kind
		}
		if giftID.Valid {
			e.Gift = &economy.EntryGift{GiftID: giftID.String, SessionID: sessionID.String, Quantity: quantity.Int64,
				Counterparty: economy.UserRef{ID: otherID.String, DisplayName: otherName.String, AvatarURL: otherAvatar.String}}
		}
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if len(page.Entries) > q.Limit {
		page.Entries = page.Entries[:q.Limit]
		last := page.Entries[len(page.Entries)-1]
		page.NextCursor = encodeHistoryCursor(millis(last.CreatedAt), last.ID)
	}
	return page, nil
}

func encodeHistoryCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("h1." + strconv.FormatInt(at, 10) + "." + id))
}

func decodeHistoryCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", economy.ErrBadCursor
	}
	parts := strings.SplitN(string(b), ".", 3)
	if len(parts) != 3 || parts[0] != "h1" || parts[2] == "" {
		return 0, "", economy.ErrBadCursor
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || at < 0 {
		return 0, "", economy.ErrBadCursor
	}
	return at, parts[2], nil
}
