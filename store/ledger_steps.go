package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/chobilive/chobi/economy"
)

// A ledger operation (a gift, a top-up) is a list of steps: statements
// whose SQL is the same on both engines, whose results are never fed into
// later statements (those read what they need with subqueries), and whose
// every refusal is a database error (a constraint: the idempotency key's
// primary key, the wallet's non-negative CHECK, gift_sends.session_id NOT
// NULL for a session no longer live), mapped to the economy's errors. So
// the steps can run one by one in a transaction (SQLite) or, on Postgres,
// be sent with the BEGIN and the COMMIT in one pipeline: one round trip for
// a whole gift, and rows locked only while the server runs it and commits.

// step is one statement of an operation.
type step struct {
	sql  string
	args []any
	// scan, when set, reads the single row the statement returns.
	scan []any
	// mapErr translates a database error of this statement (nil: as is).
	mapErr func(error) error
}

func (st step) fail(err error) error {
	if st.mapErr != nil {
		return st.mapErr(err)
	}
	return err
}

// runSteps runs an operation's steps in one transaction, retrying it (a few
// times, after a short random pause) when the database reports a
// serialization failure or a deadlock, or SQLite stays busy. build makes
// the steps afresh for each attempt (ids, times), for the platform stripe
// the attempt uses.
func (s *Store) runSteps(ctx context.Context, build func(stripe int) ([]step, error)) error {
	const attempts = 8
	var err error
	for i := range attempts {
		if s.dialect == Postgres {
			err = s.pipeline(ctx, build)
		} else {
			var steps []step
			if steps, err = build(rand.IntN(stripes)); err != nil {
				return err
			}
			// Prepared before the transaction takes a connection: preparing
			// needs one of the pool's, and all of them might be waiting here.
			for _, st := range steps {
				s.prepare(ctx, st.sql)
			}
			err = s.inTx(ctx, func(t tx) error { return runSequential(ctx, t, steps) })
		}
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		pause := time.Duration(1+rand.IntN(5*(i+1))) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return err
}

// stripeOf gives each Postgres connection (by backend process id) its own
// platform stripe, handed out in turn: with no more connections than
// stripes, two transactions running at once never share one, so the
// platform's rows never make gifts wait for each other. (Any stripe is
// correct; this only spreads the load, so one table serves every store.)
func stripeOf(pid uint32) int {
	connStripes.mu.Lock()
	defer connStripes.mu.Unlock()
	if connStripes.byPID == nil || len(connStripes.byPID) > 16*stripes {
		connStripes.byPID = map[uint32]int{}
	}
	st, ok := connStripes.byPID[pid]
	if !ok {
		st = connStripes.next % stripes
		connStripes.next++
		connStripes.byPID[pid] = st
	}
	return st
}

var connStripes struct {
	mu    sync.Mutex
	byPID map[uint32]int
	next  int
}

func runSequential(ctx context.Context, t tx, steps []step) error {
	for _, st := range steps {
		var err error
		if ps := t.s.prepared(st.sql); ps != nil {
			ps = t.StmtContext(ctx, ps)
			if st.scan != nil {
				err = ps.QueryRowContext(ctx, st.args...).Scan(st.scan...)
			} else {
				_, err = ps.ExecContext(ctx, st.args...)
			}
		} else if st.scan != nil {
			err = t.queryRow(ctx, st.sql, st.args...).Scan(st.scan...)
		} else {
			_, err = t.exec(ctx, st.sql, st.args...)
		}
		if err != nil {
			return st.fail(err)
		}
	}
	return nil
}

// maxPrepared bounds the statements a SQLite store keeps prepared: the
// ledger's steps are a few dozen texts (multi-row upserts vary only in
// their number of rows).
const maxPrepared = 128

// prepare prepares a ledger step's statement once for the store's pool
// (database/sql prepares it again on each connection it meets, once) on
// SQLite, which otherwise spends most of a gift's time parsing its SQL. It
// must not be called inside a transaction: it takes a connection of the
// pool. Nothing is prepared on Postgres (the pipeline's statements are
// prepared by pgx), past maxPrepared, or when preparing fails (the
// statement then runs unprepared and reports the error itself).
func (s *Store) prepare(ctx context.Context, query string) {
	if s.dialect != SQLite {
		return
	}
	s.stmts.mu.Lock()
	_, known := s.stmts.m[query] // nil while another call prepares it
	if known || len(s.stmts.m) >= maxPrepared || s.stmts.closed {
		s.stmts.mu.Unlock()
		return
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[query] = nil
	s.stmts.mu.Unlock()

	// Not under the lock: preparing waits for a connection (and closing a
	// statement for the connections it was prepared on).
	ps, err := s.db.PrepareContext(ctx, s.q(query))
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	switch {
	case err != nil:
		delete(s.stmts.m, query) // tried again next time
	case s.stmts.closed:
		go ps.Close()
	default:
		s.stmts.m[query] = ps
	}
}

// prepared is the statement prepare made for query, or nil.
func (s *Store) prepared(query string) *sql.Stmt {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return s.stmts.m[query]
}

// pipeline runs the steps on Postgres as one batch: BEGIN, the steps,
// COMMIT. The server stops at the first error (a refusal is one) and skips
// the rest up to the batch's end, leaving the transaction aborted; it is
// then rolled back. A connection left inside a transaction whatever happens
// is discarded by the pool (pgx's ResetSession).
func (s *Store) pipeline(ctx context.Context, build func(stripe int) ([]step, error)) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		steps, err := build(stripeOf(pc.PgConn().PID()))
		if err != nil {
			return err
		}
		var b pgx.Batch
		b.Queue("begin")
		for _, st := range steps {
			b.Queue(st.sql, st.args...)
		}
		b.Queue("commit")
		br := pc.SendBatch(ctx, &b)
		failed := func() error {
			if _, err := br.Exec(); err != nil { // BEGIN
				return err
			}
			for _, st := range steps {
				var err error
				if st.scan != nil {
					err = br.QueryRow().Scan(st.scan...)
				} else {
					_, err = br.Exec()
				}
				if err != nil {
					return st.fail(err)
				}
			}
			tag, err := br.Exec()
			if err == nil && tag.String() != "COMMIT" {
				err = fmt.Errorf("ledger: the transaction ended with %s", tag)
			}
			return err
		}()
		if err := br.Close(); failed == nil {
			failed = err
		}
		if failed != nil && pc.PgConn().TxStatus() != 'I' {
			pc.Exec(context.WithoutCancel(ctx), "rollback")
		}
		return failed
	})
}

// account is one account's net change in an operation.
type account struct {
	id    string
	a     economy.Account
	delta int64
}

// moves is an operation's transfers, planned: which wallets pay (debits,
// one checked statement each, meant to run first so that a wallet short of
// coins fails the operation early) and the rest (one upsert, meant to run
// last so that the rows other operations share, the platform's stripes and
// a recipient's wallet, stay locked as briefly as possible).
type moves struct {
	ts     []economy.Transfer
	stripe int
	debits []*account // wallets that pay, in id order
	rest   []*account // everything else, in id order
}

func planMoves(ts []economy.Transfer, stripe int) (*moves, error) {
	m := &moves{ts: ts, stripe: stripe}
	byID := map[string]*account{}
	var order []*account
	touch := func(a economy.Account, delta int64) {
		id := accountID(a, m.stripe)
		if acc, ok := byID[id]; ok {
			acc.delta += delta
			return
		}
		acc := &account{id: id, a: a, delta: delta}
		byID[id] = acc
		order = append(order, acc)
	}
	for _, tr := range ts {
		if tr.Amount <= 0 || tr.From.Currency != tr.Currency || tr.To.Currency != tr.Currency || tr.From == tr.To {
			return nil, fmt.Errorf("ledger: malformed transfer %+v", tr)
		}
		touch(tr.From, -tr.Amount)
		touch(tr.To, tr.Amount)
	}
	slices.SortFunc(order, func(x, y *account) int { return strings.Compare(x.id, y.id) })
	for _, acc := range order {
		if acc.a.Kind == economy.Wallet && acc.delta < 0 {
			m.debits = append(m.debits, acc)
		} else {
			m.rest = append(m.rest, acc)
		}
	}
	return m, nil
}

// debitSteps take what each paying wallet owes: the wallet is created
// empty if it has no account yet, then debited by one statement that the
// wallet's CHECK (never below zero) refuses when the coins are short, an
// *economy.InsufficientFundsError (its Have filled in by the caller).
// balances receives each wallet's balance after.
func (m *moves) debitSteps(balances map[string]*int64, at int64) []step {
	var out []step
	for _, acc := range m.debits {
		var after int64
		balances[acc.id] = &after
		need := -acc.delta
		out = append(out,
			step{
				sql: `INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, created_at) VALUES ($1, $2, $3, $4, 0, $5)
					ON CONFLICT (id) DO NOTHING`,
				args:   []any{acc.id, acc.a.UserID, string(acc.a.Kind), string(acc.a.Currency), at},
				mapErr: mapLedgerErr,
			},
			step{
				sql:  `UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2 RETURNING balance`,
				args: []any{need, acc.id},
				scan: []any{&after},
				mapErr: func(err error) error {
					if isConstraint(err, "ledger_wallet_not_negative") {
						return &economy.InsufficientFundsError{Need: need, Have: -1}
					}
					return mapLedgerErr(err)
				},
			})
	}
	return out
}

// settleSteps apply every other change in one upsert (rows in id order,
// accounts created on first use) and append the transfers. Each transfer's
// user balance is read back with a subquery: the wallet's final balance
// less what later transfers of the operation moved on it.
func (m *moves) settleSteps(opID string, at int64) []step {
	var out []step
	if len(m.rest) > 0 {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, created_at) VALUES `)
		args := make([]any, 0, 6*len(m.rest))
		for i, acc := range m.rest {
			if i > 0 {
				sb.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
			var user any
			if acc.a.Kind == economy.Wallet {
				user = acc.a.UserID
			}
			args = append(args, acc.id, user, string(acc.a.Kind), string(acc.a.Currency), acc.delta, at)
		}
		sb.WriteString(` ON CONFLICT (id) DO UPDATE SET balance = ledger_accounts.balance + excluded.balance`)
		out = append(out, step{sql: sb.String(), args: args, mapErr: mapLedgerErr})
	}

	later := map[string]int64{} // per wallet: what the transfers after this one moved
	userSide := make([]economy.Account, len(m.ts))
	offset := make([]int64, len(m.ts))
	for i := len(m.ts) - 1; i >= 0; i-- {
		tr := m.ts[i]
		switch {
		case tr.From.Kind == economy.Wallet:
			userSide[i] = tr.From
		case tr.To.Kind == economy.Wallet:
			userSide[i] = tr.To
		}
		if userSide[i].UserID != "" {
			offset[i] = later[accountID(userSide[i], m.stripe)]
		}
		later[accountID(tr.From, m.stripe)] -= tr.Amount
		later[accountID(tr.To, m.stripe)] += tr.Amount
	}
	var sb strings.Builder
	sb.WriteString(`INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at) VALUES `)
	args := make([]any, 0, 11*len(m.ts))
	for i, tr := range m.ts {
		if i > 0 {
			sb.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, ", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		args = append(args, newID(), opID, string(tr.Kind), string(tr.Currency), accountID(tr.From, m.stripe), accountID(tr.To, m.stripe), tr.Amount)
		if u := userSide[i]; u.UserID != "" {
			n = len(args)
			fmt.Fprintf(&sb, "$%d, (SELECT balance FROM ledger_accounts WHERE id = $%d) - $%d, $%d)", n+1, n+2, n+3, n+4)
			args = append(args, u.UserID, accountID(u, m.stripe), offset[i], at)
		} else {
			n = len(args)
			fmt.Fprintf(&sb, "NULL, NULL, $%d)", n+1)
			args = append(args, at)
		}
	}
	return append(out, step{sql: sb.String(), args: args})
}

// claimStep records an idempotency key for opID; errKeyTaken when another
// request holds it. On Postgres an insert racing one not yet committed
// waits for it, so exactly one of them claims the key.
func claimStep(userID, scope, key, hash, opID string, at int64) step {
	return step{
		sql: `INSERT INTO idempotency_keys (user_id, scope, idem_key, request_hash, operation_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
		args: []any{userID, scope, key, hash, opID, at},
		mapErr: func(err error) error {
			if isUniqueViolation(err) {
				return errKeyTaken
			}
			return err
		},
	}
}

// fillHave completes an InsufficientFundsError with the wallet's balance
// now (for the message; the refusal itself was decided in the transaction).
func (s *Store) fillHave(ctx context.Context, err error, walletID string) error {
	var ife *economy.InsufficientFundsError
	if errors.As(err, &ife) && ife.Have < 0 {
		ife.Have = 0
		s.queryRow(ctx, `SELECT balance FROM ledger_accounts WHERE id = $1`, walletID).Scan(&ife.Have)
	}
	return err
}
