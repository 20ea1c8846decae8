package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/chobilive/chobi/economy"
)

// auditSamples is how many offending rows each check describes; the count
// covers all of them.
const auditSamples = 20

// auditCheck is one invariant as a query returning the rows that break it,
// each described by its columns.
type auditCheck struct {
	name  string
	query string
}

// Postgres sums BIGINT into NUMERIC: every SUM is cast back to BIGINT.
var auditChecks = []auditCheck{
	{"account-balance", `SELECT a.id, a.balance, COALESCE(c.s, 0) - COALESCE(d.s, 0)
		FROM ledger_accounts a
		LEFT JOIN (SELECT credit_account AS id, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_transfers GROUP BY credit_account) c ON c.id = a.id
		LEFT JOIN (SELECT debit_account AS id, CAST(SUM(amount) AS BIGINT) AS s FROM ledger_transfers GROUP BY debit_account) d ON d.id = a.id
		WHERE a.balance <> COALESCE(c.s, 0) - COALESCE(d.s, 0)`},
	{"account-shape", `SELECT id, kind, currency, COALESCE(user_id, '(platform)'), balance FROM ledger_accounts
		WHERE currency NOT IN ('coins', 'diamonds')
		OR NOT ((kind = 'wallet' AND user_id IS NOT NULL AND balance >= 0 AND id = 'user:' || user_id || ':' || currency)
			OR (kind IN ('issuance', 'revenue', 'payouts', 'forfeited') AND user_id IS NULL AND id LIKE 'platform:%'))
		OR share_carry < 0 OR share_carry >= 1000000 OR (share_carry <> 0 AND NOT (kind = 'wallet' AND currency = 'diamonds'))`},
	{"wallet-owner", `SELECT a.id, a.user_id FROM ledger_accounts a LEFT JOIN users u ON u.id = a.user_id
		WHERE a.user_id IS NOT NULL AND u.id IS NULL`},
	{"transfer-shape", `SELECT t.id, t.kind, t.currency, t.debit_account, t.credit_account, t.amount
		FROM ledger_transfers t
		LEFT JOIN ledger_accounts d ON d.id = t.debit_account
		LEFT JOIN ledger_accounts c ON c.id = t.credit_account
		WHERE d.id IS NULL OR c.id IS NULL OR t.amount <= 0 OR t.debit_account = t.credit_account
		OR d.currency <> t.currency OR c.currency <> t.currency
		OR COALESCE(t.user_id, '') <> COALESCE(d.user_id, c.user_id, '')
		OR (t.user_id IS NULL) <> (t.user_balance IS NULL)
		OR NOT ((t.kind IN ('topup', 'grant') AND t.currency = 'coins' AND d.kind = 'issuance' AND c.kind = 'wallet')
			OR (t.kind = 'gift' AND t.currency = 'coins' AND d.kind = 'wallet' AND c.kind = 'revenue')
			OR (t.kind = 'gift_share' AND t.currency = 'coins' AND d.kind = 'revenue' AND c.kind = 'payouts')
			OR (t.kind = 'gift_credit' AND t.currency = 'diamonds' AND d.kind = 'issuance' AND c.kind = 'wallet')
			OR (t.kind = 'forfeit' AND d.kind = 'wallet' AND c.kind = 'forfeited')
			OR (t.kind = 'share_adjust' AND t.currency = 'coins' AND d.kind = 'revenue' AND c.kind = 'payouts')
			OR (t.kind = 'share_adjust' AND t.currency = 'diamonds' AND d.kind = 'issuance' AND c.kind IN ('wallet', 'forfeited')))`},
	{"transfer-operation", `SELECT t.id, t.kind, t.operation_id FROM ledger_transfers t
		LEFT JOIN coin_credits cc ON cc.id = t.operation_id
		LEFT JOIN gift_sends g ON g.id = t.operation_id
		LEFT JOIN account_closures ac ON ac.id = t.operation_id
		LEFT JOIN share_adjustments sa ON sa.id = t.operation_id
		WHERE (t.kind IN ('topup', 'grant') AND (cc.id IS NULL OR cc.kind <> t.kind))
		OR (t.kind IN ('gift', 'gift_share', 'gift_credit') AND g.id IS NULL)
		OR (t.kind = 'forfeit' AND (ac.id IS NULL OR t.user_id <> ac.user_id))
		OR (t.kind = 'share_adjust' AND sa.id IS NULL)`},
	// A share adjustment (migration 0005) moved its diamonds once in each
	// currency: the coins to payouts, the diamonds to its user's wallet, or
	// to 'forfeited' when the account had been deleted.
	{"share-adjustment-transfers", `SELECT sa.id, sa.user_id, sa.diamonds, COALESCE(x.n, 0), COALESCE(x.coins, 0), COALESCE(x.diamonds, 0), COALESCE(x.to_d, '')
		FROM share_adjustments sa
		LEFT JOIN account_closures ac ON ac.user_id = sa.user_id
		LEFT JOIN (SELECT operation_id, COUNT(*) AS n,
				CAST(SUM(CASE WHEN currency = 'coins' THEN amount ELSE 0 END) AS BIGINT) AS coins,
				CAST(SUM(CASE WHEN currency = 'diamonds' THEN amount ELSE 0 END) AS BIGINT) AS diamonds,
				MIN(CASE WHEN currency = 'diamonds' THEN credit_account END) AS to_d
			FROM ledger_transfers WHERE kind = 'share_adjust' GROUP BY operation_id) x ON x.operation_id = sa.id
		WHERE COALESCE(x.n, 0) <> 2 OR x.coins <> sa.diamonds OR x.diamonds <> sa.diamonds
		OR (ac.id IS NULL AND x.to_d <> 'user:' || sa.user_id || ':diamonds')
		OR (ac.id IS NOT NULL AND x.to_d NOT LIKE 'platform:diamonds:forfeited:%')`},
	// A deleted account's closure moved exactly what its wallets held: one
	// forfeit per currency it had, from its own wallets, leaving them empty.
	{"closure-transfers", `SELECT ac.id, ac.user_id, ac.coins, ac.diamonds, COALESCE(x.coins, 0), COALESCE(x.diamonds, 0), COALESCE(x.n, 0)
		FROM account_closures ac
		LEFT JOIN (SELECT operation_id, COUNT(*) AS n,
				CAST(SUM(CASE WHEN currency = 'coins' THEN amount ELSE 0 END) AS BIGINT) AS coins,
				CAST(SUM(CASE WHEN currency = 'diamonds' THEN amount ELSE 0 END) AS BIGINT) AS diamonds,
				MIN(user_balance) AS low, MAX(user_balance) AS high
			FROM ledger_transfers WHERE kind = 'forfeit' GROUP BY operation_id) x ON x.operation_id = ac.id
		WHERE COALESCE(x.coins, 0) <> ac.coins OR COALESCE(x.diamonds, 0) <> ac.diamonds
		OR COALESCE(x.n, 0) <> (CASE WHEN ac.coins > 0 THEN 1 ELSE 0 END) + (CASE WHEN ac.diamonds > 0 THEN 1 ELSE 0 END)
		OR COALESCE(x.low, 0) <> 0 OR COALESCE(x.high, 0) <> 0`},
	{"credit-transfers", `SELECT cc.id, cc.kind, cc.user_id, cc.amount, COALESCE(x.n, 0), COALESCE(x.s, 0)
		FROM coin_credits cc
		LEFT JOIN (SELECT operation_id, COUNT(*) AS n, CAST(SUM(amount) AS BIGINT) AS s, MIN(credit_account) AS acct
			FROM ledger_transfers WHERE kind IN ('topup', 'grant') GROUP BY operation_id) x ON x.operation_id = cc.id
		WHERE cc.kind NOT IN ('topup', 'grant') OR x.n IS NULL OR x.n <> 1 OR x.s <> cc.amount OR x.acct <> 'user:' || cc.user_id || ':coins'
		OR cc.coins_after < 0`},
	{"gift-arithmetic", `SELECT id, quantity, unit_price, total_cost, diamonds, revenue, host_share_ppm FROM gift_sends
		WHERE quantity < 1 OR quantity > 999 OR unit_price <= 0 OR total_cost <> quantity * unit_price
		OR host_share_ppm < 1 OR host_share_ppm > 1000000
		OR diamonds - total_cost * host_share_ppm / 1000000 NOT IN (0, 1) OR revenue <> total_cost - diamonds
		OR sender_id = recipient_id OR sender_coins < 0`},
	{"gift-transfers", `SELECT g.id, g.total_cost, g.diamonds, COALESCE(x.n_gift, 0), COALESCE(x.a_gift, 0), COALESCE(x.n_share, 0),
			COALESCE(x.a_share, 0), COALESCE(x.n_credit, 0), COALESCE(x.a_credit, 0)
		FROM gift_sends g
		LEFT JOIN (SELECT operation_id,
				SUM(CASE WHEN kind = 'gift' THEN 1 ELSE 0 END) AS n_gift,
				CAST(SUM(CASE WHEN kind = 'gift' THEN amount ELSE 0 END) AS BIGINT) AS a_gift,
				MIN(CASE WHEN kind = 'gift' THEN debit_account END) AS from_gift,
				SUM(CASE WHEN kind = 'gift_share' THEN 1 ELSE 0 END) AS n_share,
				CAST(SUM(CASE WHEN kind = 'gift_share' THEN amount ELSE 0 END) AS BIGINT) AS a_share,
				SUM(CASE WHEN kind = 'gift_credit' THEN 1 ELSE 0 END) AS n_credit,
				CAST(SUM(CASE WHEN kind = 'gift_credit' THEN amount ELSE 0 END) AS BIGINT) AS a_credit,
				MIN(CASE WHEN kind = 'gift_credit' THEN credit_account END) AS to_credit
			FROM ledger_transfers WHERE kind IN ('gift', 'gift_share', 'gift_credit') GROUP BY operation_id) x ON x.operation_id = g.id
		WHERE x.operation_id IS NULL OR x.n_gift <> 1 OR x.a_gift <> g.total_cost OR x.from_gift <> 'user:' || g.sender_id || ':coins'
		OR x.n_share <> (CASE WHEN g.diamonds > 0 THEN 1 ELSE 0 END) OR x.a_share <> g.diamonds
		OR x.n_credit <> (CASE WHEN g.diamonds > 0 THEN 1 ELSE 0 END) OR x.a_credit <> g.diamonds
		OR (g.diamonds > 0 AND COALESCE(x.to_credit, '') <> 'user:' || g.recipient_id || ':diamonds')`},
	// Exact earnings: the diamonds a recipient was credited for gifts (and
	// by share adjustments) are ⌊Σ total_cost × share⌋ over every gift
	// received, and the wallet carries the rest, in millionths. Σ is taken
	// as whole diamonds plus millionths, so no sum can overflow.
	{"share-carry", `SELECT w.id, COALESCE(g.q, 0), COALESCE(g.r, 0), COALESCE(g.d, 0), COALESCE(sa.diamonds, 0), w.share_carry
		FROM ledger_accounts w
		LEFT JOIN (SELECT recipient_id, CAST(SUM((total_cost * host_share_ppm) / 1000000) AS BIGINT) AS q,
				CAST(SUM((total_cost * host_share_ppm) % 1000000) AS BIGINT) AS r, CAST(SUM(diamonds) AS BIGINT) AS d
			FROM gift_sends GROUP BY recipient_id) g ON g.recipient_id = w.user_id
		LEFT JOIN share_adjustments sa ON sa.user_id = w.user_id
		WHERE w.kind = 'wallet' AND w.currency = 'diamonds'
		AND (COALESCE(g.d, 0) + COALESCE(sa.diamonds, 0) <> COALESCE(g.q, 0) + COALESCE(g.r, 0) / 1000000
			OR w.share_carry <> COALESCE(g.r, 0) % 1000000)
		UNION ALL
		SELECT 'user:' || g.recipient_id || ':diamonds', -1, -1, -1, -1, -1 FROM gift_sends g
		WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts w WHERE w.id = 'user:' || g.recipient_id || ':diamonds')
		GROUP BY g.recipient_id`},
	{"gift-references", `SELECT g.id, g.gift_id, g.session_id, g.sender_id, g.recipient_id FROM gift_sends g
		LEFT JOIN gifts c ON c.id = g.gift_id
		LEFT JOIN live_sessions s ON s.id = g.session_id
		LEFT JOIN users su ON su.id = g.sender_id
		LEFT JOIN users ru ON ru.id = g.recipient_id
		WHERE c.id IS NULL OR s.id IS NULL OR su.id IS NULL OR ru.id IS NULL`},
	{"session-figures", `SELECT s.id, s.gifts_received, s.coins_earned, COALESCE(x.q, 0), COALESCE(x.c, 0)
		FROM live_sessions s
		LEFT JOIN (SELECT session_id, CAST(SUM(quantity) AS BIGINT) AS q, CAST(SUM(total_cost) AS BIGINT) AS c
			FROM gift_sends GROUP BY session_id) x ON x.session_id = s.id
		WHERE s.gifts_received <> COALESCE(x.q, 0) OR s.coins_earned <> COALESCE(x.c, 0)`},
	{"idempotency-keys", `SELECT k.user_id, k.scope, k.idem_key, k.operation_id FROM idempotency_keys k
		LEFT JOIN gift_sends g ON g.id = k.operation_id AND k.scope = 'gift' AND g.sender_id = k.user_id
		LEFT JOIN coin_credits cc ON cc.id = k.operation_id AND cc.kind = k.scope AND cc.user_id = k.user_id
		WHERE g.id IS NULL AND cc.id IS NULL`},
}

// Audit implements economy.Ledger: it runs every check over the whole
// database in one read-only snapshot (REPEATABLE READ on Postgres, a
// deferred read transaction on SQLite's WAL), so writes running beside it
// cannot make it see half an operation, and it does not block them.
func (s *Store) Audit(ctx context.Context) (economy.Report, error) {
	r := economy.Report{Totals: map[economy.Currency]int64{}, Platform: map[string]int64{}}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return r, err
	}
	defer sqlTx.Rollback()
	t := tx{sqlTx, s}

	for _, c := range []struct {
		dst   *int64
		query string
	}{
		{&r.Accounts, `SELECT COUNT(*) FROM ledger_accounts`},
		{&r.Transfers, `SELECT COUNT(*) FROM ledger_transfers`},
		{&r.Gifts, `SELECT COUNT(*) FROM gift_sends`},
		{&r.Credits, `SELECT COUNT(*) FROM coin_credits`},
	} {
		if err := t.queryRow(ctx, c.query).Scan(c.dst); err != nil {
			return r, err
		}
	}
	for _, c := range economy.Currencies {
		r.Totals[c] = 0
	}
	rows, err := t.query(ctx, `SELECT currency, kind, user_id IS NULL, CAST(SUM(balance) AS BIGINT) FROM ledger_accounts GROUP BY currency, kind, user_id IS NULL`)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var currency, kind string
		var platform bool
		var sum int64
		if err := rows.Scan(&currency, &kind, &platform, &sum); err != nil {
			rows.Close()
			return r, err
		}
		r.Totals[economy.Currency(currency)] += sum
		if platform {
			r.Platform[currency+" "+kind] += sum
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}

	for _, c := range auditChecks {
		problems, err := runCheck(ctx, t, c)
		if err != nil {
			return r, fmt.Errorf("audit %s: %w", c.name, err)
		}
		r.Problems = append(r.Problems, problems...)
	}
	return r, nil
}

func runCheck(ctx context.Context, t tx, c auditCheck) ([]economy.Problem, error) {
	rows, err := t.query(ctx, c.query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []economy.Problem
	n := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		n++
		if n > auditSamples {
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, economy.Problem{Check: c.name, Detail: strings.Join(parts, " ")})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if n > auditSamples {
		out = append(out, economy.Problem{Check: c.name, Detail: fmt.Sprintf("... and %d more", n-auditSamples)})
	}
	return out, nil
}
