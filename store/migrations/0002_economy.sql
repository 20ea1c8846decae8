-- The gift economy: a double-entry ledger of append-only transfers between
-- accounts, the gift catalog, gifts sent, coin credits (top-ups, grants) and
-- idempotency keys. Same SQL for Postgres and SQLite.

-- One account per user and currency ('user:<id>:coins'), and the platform's
-- accounts ('platform:coins:revenue:07'), each hot one spread over stripes so
-- that concurrent gifts do not queue on one row. balance is the sum of the
-- account's transfers (credits minus debits); reconcile checks it.
CREATE TABLE ledger_accounts (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users(id),  -- NULL for the platform's accounts
    kind       TEXT NOT NULL,              -- wallet | issuance | revenue | payouts
    currency   TEXT NOT NULL,              -- coins | diamonds
    balance    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- A wallet debit that would go below zero fails on this constraint: the
    -- check and the debit are one statement.
    CONSTRAINT ledger_wallet_not_negative CHECK (user_id IS NULL OR balance >= 0),
    -- Far inside int64, so no sum of balances can wrap (economy.MaxBalance).
    CONSTRAINT ledger_balance_limit CHECK (balance >= -4611686018427387904 AND balance <= 4611686018427387904)
);

-- Append-only: rows are inserted, never updated or deleted. user_id and
-- user_balance are the user's side of the transfer (every transfer but the
-- platform's own has exactly one), for the wallet history.
CREATE TABLE ledger_transfers (
    id             TEXT PRIMARY KEY,
    operation_id   TEXT NOT NULL,   -- the gift_sends or coin_credits row it belongs to
    kind           TEXT NOT NULL,   -- topup | grant | gift | gift_share | gift_credit
    currency       TEXT NOT NULL,
    debit_account  TEXT NOT NULL REFERENCES ledger_accounts(id),
    credit_account TEXT NOT NULL REFERENCES ledger_accounts(id),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    user_id        TEXT,
    user_balance   BIGINT,          -- the user's balance in currency right after
    created_at     BIGINT NOT NULL,
    CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_transfers_user ON ledger_transfers (user_id, created_at, id) WHERE user_id IS NOT NULL;

CREATE TABLE gifts (
    id         TEXT PRIMARY KEY,
    name_en    TEXT NOT NULL,
    name_ar    TEXT NOT NULL,
    price      BIGINT NOT NULL CHECK (price > 0 AND price <= 1000000000),
    animation  TEXT NOT NULL,
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    sort_order INTEGER NOT NULL DEFAULT 0
);

-- A gift sent: what was paid and credited, at which share (parts per
-- million of the price, rounded down to whole diamonds).
CREATE TABLE gift_sends (
    id             TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES live_sessions(id),
    gift_id        TEXT NOT NULL REFERENCES gifts(id),
    sender_id      TEXT NOT NULL REFERENCES users(id),
    recipient_id   TEXT NOT NULL REFERENCES users(id),
    quantity       BIGINT NOT NULL CHECK (quantity >= 1 AND quantity <= 999),
    unit_price     BIGINT NOT NULL,
    total_cost     BIGINT NOT NULL,  -- coins paid
    diamonds       BIGINT NOT NULL,  -- credited to the recipient
    revenue        BIGINT NOT NULL,  -- total_cost - diamonds, kept by the platform
    host_share_ppm BIGINT NOT NULL,
    message        TEXT NOT NULL DEFAULT '',
    sender_coins   BIGINT NOT NULL,  -- the sender's coins right after
    created_at     BIGINT NOT NULL
);
CREATE INDEX gift_sends_session ON gift_sends (session_id, sender_id);
CREATE INDEX gift_sends_recipient ON gift_sends (recipient_id, created_at);

-- Coins credited: bought (topup) or granted by an administrator (grant).
CREATE TABLE coin_credits (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,        -- topup | grant
    user_id     TEXT NOT NULL REFERENCES users(id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    coins_after BIGINT NOT NULL,
    payment_ref TEXT NOT NULL DEFAULT '',  -- a verified payment's reference
    note        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX coin_credits_payment ON coin_credits (payment_ref) WHERE payment_ref <> '';

-- A request's idempotency key, claimed in the transaction that does the
-- work: a repeat finds the first operation, and request_hash tells whether
-- it asked for the same thing.
CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL,
    scope        TEXT NOT NULL,   -- gift | topup | grant
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, scope, idem_key)
);

-- The catalog, from a 1-coin rose to a 5,000-coin palace.
INSERT INTO gifts (id, name_en, name_ar, price, animation, active, sort_order) VALUES
    ('gift_rose',       'Rose',          'وردة',          1,    'rose_bloom',      TRUE, 1),
    ('gift_heart',      'Heart',         'قلب',           5,    'heart_float',     TRUE, 2),
    ('gift_coffee',     'Arabic Coffee', 'قهوة عربية',    10,   'coffee_pour',     TRUE, 3),
    ('gift_dates',      'Dates',         'تمر',           20,   'dates_plate',     TRUE, 4),
    ('gift_lantern',    'Lantern',       'فانوس',         50,   'lantern_glow',    TRUE, 5),
    ('gift_oud',        'Oud Perfume',   'عطر العود',     100,  'oud_smoke',       TRUE, 6),
    ('gift_camel',      'Camel',         'جمل',           300,  'camel_walk',      TRUE, 7),
    ('gift_falcon',     'Falcon',        'صقر',           500,  'falcon_dive',     TRUE, 8),
    ('gift_crown',      'Crown',         'تاج',           1000, 'crown_shine',     TRUE, 9),
    ('gift_sports_car', 'Sports Car',    'سيارة رياضية',  2000, 'sports_car_rush', TRUE, 10),
    ('gift_palace',     'Palace',        'قصر',           5000, 'palace_rise',     TRUE, 11);
