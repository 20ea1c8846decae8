package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/store"
)

// Exact earnings (issue 14): a recipient's diamonds from gifts are
// ⌊Σ coins × share⌋ over every gift received, the fraction carried in the
// recipient's diamond wallet. The random run over many shares and
// quantities is TestConservation.

// TestFiftyRoses: fifty 1-coin roses at 0.5, one by one, credit exactly 25
// diamonds (alternately 0 and 1, the carry showing the half between), as
// fifty sent at once from many goroutines do, and as one send of 50.
func TestFiftyRoses(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		one, many, once := e.user(t, "one"), e.user(t, "many"), e.user(t, "once")
		fan := e.user(t, "fan")
		e.grant(t, fan.ID, 150)
		ssOne, ssMany, ssOnce := e.live(t, one.ID), e.live(t, many.ID), e.live(t, once.ID)

		for i := range 50 {
			rc, err := e.svc.SendGift(ctx, gift(fan.ID, ssOne.ID, one.ID, "gift_rose", 1))
			ok(t, err)
			if want := int64(i % 2); rc.Diamonds != want {
				t.Fatalf("rose %d credited %d diamonds, want %d", i+1, rc.Diamonds, want)
			}
			if got := rc.Notification.Data["diamonds"]; got != rc.Diamonds {
				t.Fatalf("rose %d: the notification says %v diamonds, the receipt %d", i+1, got, rc.Diamonds)
			}
			carry := querySQLInt(t, s, `SELECT share_carry FROM ledger_accounts WHERE id = $1`, "user:"+one.ID+":diamonds")
			if want := int64((i + 1) % 2 * 500_000); carry != want {
				t.Fatalf("after rose %d the carry is %d, want %d", i+1, carry, want)
			}
		}

		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.SendGift(ctx, gift(fan.ID, ssMany.ID, many.ID, "gift_rose", 1)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("a concurrent rose: %v", err)
		}
		rc, err := e.svc.SendGift(ctx, gift(fan.ID, ssOnce.ID, once.ID, "gift_rose", 50))
		ok(t, err)
		if rc.Diamonds != 25 {
			t.Fatalf("fifty roses at once credited %d", rc.Diamonds)
		}
		for _, u := range []store.User{one, many, once} {
			if b := e.balance(t, u.ID); b.Diamonds != 25 {
				t.Errorf("%s got %d diamonds for fifty roses, want 25", u.DisplayName, b.Diamonds)
			}
		}
		if b := e.balance(t, fan.ID); b.Coins != 0 {
			t.Fatalf("the fan has %d coins left of 150", b.Coins)
		}
		// The platform keeps exactly the rest: 75 of the 150 coins.
		r := e.reconciled(t)
		if rev := r.Platform["coins revenue"]; rev != 75 {
			t.Fatalf("revenue %d, want 75", rev)
		}
		// The stored notifications say what each gift credited.
		var sum int64
		rows, err := s.DB().QueryContext(ctx, `SELECT data FROM notifications WHERE type = 'gift'`)
		ok(t, err)
		defer rows.Close()
		for rows.Next() {
			var raw string
			ok(t, rows.Scan(&raw))
			var d struct {
				Diamonds      *int64 `json:"diamonds"`
				TransactionID string `json:"transactionId"`
			}
			if err := json.Unmarshal([]byte(raw), &d); err != nil || d.Diamonds == nil || d.TransactionID == "" {
				t.Fatalf("notification data %s: %v", raw, err)
			}
			sum += *d.Diamonds
		}
		ok(t, rows.Err())
		if sum != 75 {
			t.Fatalf("the notifications add up to %d diamonds, want 75", sum)
		}
	})
}

// TestShareCarryReconcile: reconcile finds a carry that does not match the
// gifts, and diamonds credited beyond ⌊Σ coins × share⌋.
func TestShareCarryReconcile(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := newEcon(t, s, 0.5)
		host, fan := e.user(t, "host"), e.user(t, "fan")
		e.grant(t, fan.ID, 10)
		ss := e.live(t, host.ID)
		for range 3 {
			_, err := e.svc.SendGift(ctx, gift(fan.ID, ss.ID, host.ID, "gift_rose", 1))
			ok(t, err)
		}
		e.reconciled(t)
		wallet := "user:" + host.ID + ":diamonds"
		found := func(check string) bool {
			r, err := e.svc.Reconcile(ctx)
			ok(t, err)
			for _, p := range r.Problems {
				if p.Check == check {
					return true
				}
			}
			return false
		}
		execSQL(t, s, `UPDATE ledger_accounts SET share_carry = 0 WHERE id = $1`, wallet)
		if !found("share-carry") {
			t.Fatal("a lost carry was not found")
		}
		execSQL(t, s, `UPDATE ledger_accounts SET share_carry = 500000 WHERE id = $1`, wallet)
		e.reconciled(t)
		// A gift recorded with one diamond too many (and its transfers and
		// balances to match, so only the exactness is wrong).
		execSQL(t, s, `UPDATE gift_sends SET diamonds = diamonds + 1, revenue = revenue - 1 WHERE recipient_id = $1 AND diamonds = 1`, host.ID)
		if !found("share-carry") {
			t.Fatal("an extra diamond was not found")
		}
	})
}

// TestShareCarryMigration: gifts sent before migration 0005, each share
// rounded down on its own, are made exact by it: every recipient is
// credited its shortfall once (a deleted one's goes to 'forfeited'), its
// wallet carries the rest, reconcile is clean, and the next gifts go on
// from the carry.
func TestShareCarryMigration(t *testing.T) {
	eachEngine(t, func(t *testing.T, en engine) {
		ctx := context.Background()
		s := en.open(t)
		_, err := s.MigrateSkipping(ctx, "0005_share_carry.sql")
		ok(t, err)
		e := newEcon(t, s, 0.5) // its grants do not touch the carry
		host, other, gone, fan := e.user(t, "host"), e.user(t, "other"), e.user(t, "gone"), e.user(t, "fan")
		e.grant(t, fan.ID, 1000)
		ss, ss2 := e.live(t, host.ID), e.live(t, other.ID)

		seq := 0
		legacyGift := func(recipient, sessionID, giftID string, price, ppm int64) {
			t.Helper()
			seq++
			id := "legacy-" + strconv.Itoa(seq)
			d := price * ppm / 1_000_000
			at := int64(1_700_000_000_000 + seq)
			sender := "user:" + fan.ID + ":coins"
			execSQL(t, s, `UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2`, price, sender)
			execSQL(t, s, `UPDATE live_sessions SET gifts_received = gifts_received + 1, coins_earned = coins_earned + $1 WHERE id = $2`, price, sessionID)
			execSQL(t, s, `INSERT INTO gift_sends (id, session_id, gift_id, sender_id, recipient_id, quantity, unit_price, total_cost,
					diamonds, revenue, host_share_ppm, message, sender_coins, created_at)
				VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7, $8, $9, '', (SELECT balance FROM ledger_accounts WHERE id = $10), $11)`,
				id, sessionID, giftID, fan.ID, recipient, price, d, price-d, ppm, sender, at)
			upsert := `INSERT INTO ledger_accounts (id, user_id, kind, currency, balance, created_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (id) DO UPDATE SET balance = ledger_accounts.balance + excluded.balance`
			execSQL(t, s, upsert, "platform:coins:revenue:01", nil, "revenue", "coins", price, at)
			execSQL(t, s, `INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at)
				VALUES ($1, $2, 'gift', 'coins', $3, 'platform:coins:revenue:01', $4, $5, (SELECT balance FROM ledger_accounts WHERE id = $3), $6)`,
				id+"-t1", id, sender, price, fan.ID, at)
			if d == 0 {
				return
			}
			wallet := "user:" + recipient + ":diamonds"
			execSQL(t, s, upsert, "platform:coins:payouts:01", nil, "payouts", "coins", d, at)
			execSQL(t, s, upsert, "platform:coins:revenue:01", nil, "revenue", "coins", -d, at)
			execSQL(t, s, upsert, "platform:diamonds:issuance:01", nil, "issuance", "diamonds", -d, at)
			execSQL(t, s, upsert, wallet, recipient, "wallet", "diamonds", d, at)
			execSQL(t, s, `INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at)
				VALUES ($1, $2, 'gift_share', 'coins', 'platform:coins:revenue:01', 'platform:coins:payouts:01', $3, NULL, NULL, $4)`,
				id+"-t2", id, d, at)
			execSQL(t, s, `INSERT INTO ledger_transfers (id, operation_id, kind, currency, debit_account, credit_account, amount, user_id, user_balance, created_at)
				VALUES ($1, $2, 'gift_credit', 'diamonds', 'platform:diamonds:issuance:01', $3, $4, $5, (SELECT balance FROM ledger_accounts WHERE id = $3), $6)`,
				id+"-t3", id, wallet, d, recipient, at)
		}
		for range 50 {
			legacyGift(host.ID, ss.ID, "gift_rose", 1, 500_000) // 0 each; 25 owed
		}
		for range 3 {
			legacyGift(host.ID, ss.ID, "gift_heart", 5, 500_000) // 2 each of 2.5: 1 more owed, a half carried
		}
		for range 2 {
			legacyGift(other.ID, ss2.ID, "gift_coffee", 10, 370_000) // 3 each of 3.7: 1 owed, 0.4 carried
		}
		for range 3 {
			legacyGift(gone.ID, ss2.ID, "gift_rose", 1, 500_000) // 1 owed, to a deleted account
		}
		_, err = s.DeleteAccount(ctx, gone.ID)
		ok(t, err)
		if b := e.balance(t, host.ID); b.Diamonds != 6 {
			t.Fatalf("before the migration the host holds %d diamonds, want 6", b.Diamonds)
		}

		applied, err := s.Migrate(ctx)
		ok(t, err)
		if len(applied) != 1 || applied[0] != "0005_share_carry.sql" {
			t.Fatalf("applied %v, want 0005_share_carry.sql alone", applied)
		}
		for _, c := range []struct {
			user            store.User
			diamonds, carry int64
		}{{host, 32, 500_000}, {other, 7, 400_000}, {gone, 0, 500_000}} {
			if b := e.balance(t, c.user.ID); b.Diamonds != c.diamonds {
				t.Errorf("%s holds %d diamonds after the migration, want %d", c.user.DisplayName, b.Diamonds, c.diamonds)
			}
			if carry := querySQLInt(t, s, `SELECT share_carry FROM ledger_accounts WHERE id = $1`, "user:"+c.user.ID+":diamonds"); carry != c.carry {
				t.Errorf("%s carries %d, want %d", c.user.DisplayName, carry, c.carry)
			}
		}
		if n := querySQLInt(t, s, `SELECT COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE id LIKE 'platform:diamonds:forfeited:%'`); n != 1 {
			t.Errorf("forfeited holds %d diamonds, want the deleted account's 1", n)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM share_adjustments`); n != 3 {
			t.Errorf("%d share adjustments, want 3", n)
		}
		e.reconciled(t)

		page, err := e.svc.History(ctx, host.ID, economy.HistoryQuery{Limit: 1, Currency: economy.Diamonds})
		ok(t, err)
		if len(page.Entries) != 1 || page.Entries[0].Kind != "share_adjustment" || page.Entries[0].Amount != 26 || page.Entries[0].BalanceAfter != 32 {
			t.Fatalf("the host's last diamond entry: %+v", page.Entries)
		}
		// The next rose completes the carried half.
		rc, err := e.svc.SendGift(ctx, gift(fan.ID, ss.ID, host.ID, "gift_rose", 1))
		ok(t, err)
		if rc.Diamonds != 1 || e.balance(t, host.ID).Diamonds != 33 {
			t.Fatalf("the rose after the migration credited %d", rc.Diamonds)
		}
		e.reconciled(t)
	})
}
