-- Exact host earnings (issue 14). A recipient's diamonds from gifts are
-- ⌊Σ total_cost × share⌋ over every gift received, not the sum of each
-- gift's share rounded down on its own: the fraction of a diamond beyond
-- the whole ones is carried in the recipient's diamond wallet, which every
-- gift to them updates (economy.CreditShare). Same SQL for Postgres and
-- SQLite.

-- The carry, in millionths of a diamond; only diamond wallets have one.
ALTER TABLE ledger_accounts ADD COLUMN share_carry BIGINT NOT NULL DEFAULT 0
    CONSTRAINT ledger_share_carry_range CHECK (share_carry >= 0 AND share_carry < 1000000);

-- The gifts sent before this migration rounded each share down on its own,
-- so their recipients were credited less than ⌊Σ total_cost × share⌋. Each
-- one's shortfall is credited once, here, as a share adjustment: coins from
-- revenue to payouts and diamonds from issuance to the recipient's wallet
-- (to 'forfeited' for an account already deleted), 'share_adjust'
-- transfers whose operation_id is the adjustment's id. Reconcile checks
-- both. created_at is the recipient's last gift's.
CREATE TABLE share_adjustments (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users(id),
    diamonds   BIGINT NOT NULL CHECK (diamonds > 0),
    created_at BIGINT NOT NULL
);

INSERT INTO share_adjustments (id, user_id, diamonds, created_at)
SELECT 'share-adjust:' || x.recipient_id, x.recipient_id, x.owed, x.last_at
FROM (SELECT recipient_id,
        CAST(SUM((total_cost * host_share_ppm) / 1000000) AS BIGINT)
            + CAST(SUM((total_cost * host_share_ppm) % 1000000) AS BIGINT) / 1000000
            - CAST(SUM(diamonds) AS BIGINT) AS owed,
        MAX(created_at) AS last_at
    FROM gift_sends GROUP BY recipient_id) x
WHERE x.owed > 0;

-- Every recipient gets a diamond wallet (a first 1-coin rose credited
-- nothing and made none), and the platform's accounts the adjustments use.
INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, created_at)
SELECT 'user:' || g.recipient_id || ':diamonds', g.recipient_id, 'wallet', 'diamonds', 0, MIN(g.created_at)
FROM gift_sends g
WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = 'user:' || g.recipient_id || ':diamonds')
GROUP BY g.recipient_id;

INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, created_at)
SELECT v.id, CAST(NULL AS TEXT), v.kind, v.currency, 0, (SELECT MIN(created_at) FROM share_adjustments)
FROM (SELECT 'platform:coins:revenue:00' AS id, 'revenue' AS kind, 'coins' AS currency
    UNION ALL SELECT 'platform:coins:payouts:00', 'payouts', 'coins'
    UNION ALL SELECT 'platform:diamonds:issuance:00', 'issuance', 'diamonds'
    UNION ALL SELECT 'platform:diamonds:forfeited:00', 'forfeited', 'diamonds') v
WHERE EXISTS (SELECT 1 FROM share_adjustments)
AND NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = v.id);

-- The transfers (the diamonds' with the wallet's balance after, read before
-- the balances change), then the balances they move.
INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at)
SELECT a.id || ':coins', a.id, 'share_adjust', 'coins', 'platform:coins:revenue:00', 'platform:coins:payouts:00', a.diamonds,
    CAST(NULL AS TEXT), CAST(NULL AS BIGINT), a.created_at
FROM share_adjustments a;

INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at)
SELECT a.id || ':diamonds', a.id, 'share_adjust', 'diamonds', 'platform:diamonds:issuance:00',
    CASE WHEN c.id IS NULL THEN w.id ELSE 'platform:diamonds:forfeited:00' END, a.diamonds,
    CASE WHEN c.id IS NULL THEN a.user_id END,
    CASE WHEN c.id IS NULL THEN w.balance + a.diamonds END,
    a.created_at
FROM share_adjustments a
JOIN ledger_accounts w ON w.id = 'user:' || a.user_id || ':diamonds'
LEFT JOIN account_closures c ON c.user_id = a.user_id;

UPDATE ledger_accounts SET balance = balance + (SELECT a.diamonds FROM share_adjustments a WHERE a.user_id = ledger_accounts.user_id)
WHERE kind = 'wallet' AND currency = 'diamonds'
AND user_id IN (SELECT a.user_id FROM share_adjustments a WHERE NOT EXISTS (SELECT 1 FROM account_closures c WHERE c.user_id = a.user_id));

UPDATE ledger_accounts SET balance = balance - (SELECT CAST(SUM(diamonds) AS BIGINT) FROM share_adjustments)
WHERE id IN ('platform:coins:revenue:00', 'platform:diamonds:issuance:00') AND EXISTS (SELECT 1 FROM share_adjustments);

UPDATE ledger_accounts SET balance = balance + (SELECT CAST(SUM(diamonds) AS BIGINT) FROM share_adjustments)
WHERE id = 'platform:coins:payouts:00' AND EXISTS (SELECT 1 FROM share_adjustments);

UPDATE ledger_accounts SET balance = balance + (SELECT CAST(SUM(a.diamonds) AS BIGINT) FROM share_adjustments a
        JOIN account_closures c ON c.user_id = a.user_id)
WHERE id = 'platform:diamonds:forfeited:00'
AND EXISTS (SELECT 1 FROM share_adjustments a JOIN account_closures c ON c.user_id = a.user_id);

-- Each recipient's carry: the millionths of a diamond beyond the whole ones.
UPDATE ledger_accounts SET share_carry = (SELECT CAST(SUM((g.total_cost * g.host_share_ppm) % 1000000) AS BIGINT) % 1000000
        FROM gift_sends g WHERE g.recipient_id = ledger_accounts.user_id)
WHERE kind = 'wallet' AND currency = 'diamonds' AND user_id IN (SELECT recipient_id FROM gift_sends);
