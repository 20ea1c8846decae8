package store_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/appstore"
	"github.com/chobilive/chobi/economy/appstore/appstoretest"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// TestPurchaseCreditedOnce: on each engine, one App Store transaction sent
// 20 times at once by its buyer is credited once (every answer names that
// credit); sent by another user, it is refused with ErrReceiptUsed and
// credits nothing; reconcile is clean.
func TestPurchaseCreditedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ca := appstoretest.NewCA(t)
		roots := x509.NewCertPool()
		roots.AddCert(ca.Root)
		apple, err := appstore.New(appstore.Config{BundleID: "live.chobi.app", Roots: roots, Production: true})
		ok(t, err)
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		svc, err := economy.New(economy.Params{Ledger: s, Stage: rooms.NewService(rooms.Params{Store: s, Logger: quiet}), Logger: quiet,
			Stores: map[string]economy.StoreVerifier{economy.PlatformApple: apple}, Config: economy.Config{Production: true}})
		ok(t, err)
		e := econ{s: s, svc: svc}
		buyer, other := e.user(t, "buyer"), e.user(t, "other")
		req := economy.PurchaseRequest{UserID: buyer.ID, Platform: economy.PlatformApple, ProductID: "coins_1000",
			SignedTransaction: ca.Sign(t, appstoretest.Consumable("4000000001", "live.chobi.app", "coins_1000"))}

		var wg sync.WaitGroup
		rcs := make([]economy.PurchaseReceipt, 20)
		errs := make([]error, 20)
		for i := range rcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rcs[i], errs[i] = svc.VerifyPurchase(ctx, req)
			}()
		}
		wg.Wait()
		fresh := 0
		for i := range rcs {
			if errs[i] != nil || rcs[i].ID != rcs[0].ID || rcs[i].Amount != 1000 || rcs[i].Coins != 1000 || rcs[i].StoreTransactionID != "4000000001" {
				t.Fatalf("call %d: %+v %v", i, rcs[i], errs[i])
			}
			if !rcs[i].Replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d calls credited", fresh)
		}
		before := e.state(t)
		req.UserID = other.ID
		if _, err := svc.VerifyPurchase(ctx, req); !errors.Is(err, economy.ErrReceiptUsed) {
			t.Fatalf("another user: %v", err)
		}
		if e.state(t) != before {
			t.Fatal("the refusal changed the ledger")
		}
		if b := e.balance(t, buyer.ID); b.Coins != 1000 {
			t.Fatalf("buyer holds %+v", b)
		}
		if n := querySQLInt(t, s, `SELECT COUNT(*) FROM coin_credits WHERE payment_ref = 'apple:4000000001'`); n != 1 {
			t.Fatalf("%d credits", n)
		}
		// Production still refuses unverified top-ups.
		if _, err := svc.TopUp(ctx, economy.TopUpRequest{UserID: buyer.ID, Amount: 5}); !errors.Is(err, economy.ErrTopUpUnavailable) {
			t.Fatalf("production top-up: %v", err)
		}
		e.reconciled(t)
	})
}
