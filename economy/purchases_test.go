package economy

import (
	"context"
	"errors"
	"testing"

	"github.com/chobilive/chobi/validation"
)

type fakeStore struct {
	p   StorePurchase
	err error
}

func (f fakeStore) VerifyPurchase(context.Context, PurchaseProof) (StorePurchase, error) {
	return f.p, f.err
}

func (f *fakeLedger) CreditByPayment(_ context.Context, ref string) (CreditReceipt, bool, error) {
	for _, c := range f.credit {
		if c.PaymentRef == ref {
			return CreditReceipt{ID: "c1", UserID: c.UserID, Amount: c.Amount, Kind: c.Kind}, true, nil
		}
	}
	return CreditReceipt{}, false, nil
}

func TestParseProducts(t *testing.T) {
	p, err := ParseProducts(DefaultProducts)
	if err != nil || len(p) != 5 || p["coins_10000"] != 10000 {
		t.Fatalf("default products %v %v", p, err)
	}
	if s := p.Sorted(); s[0].ID != "coins_100" || s[4].Coins != 10000 {
		t.Fatalf("sorted %v", s)
	}
	for _, bad := range []string{"", ",", "a", "a=", "a=0", "a=-1", "a=1000001", "a=1.5", "a b=1", "a=1,a=2", "ü=1", "=5"} {
		if _, err := ParseProducts(bad); err == nil {
			t.Errorf("ParseProducts(%q) accepted", bad)
		}
	}
}

func TestVerifyPurchaseRules(t *testing.T) {
	ctx := context.Background()
	good := StorePurchase{TransactionID: "t1", ProductID: "coins_100", Quantity: 2}
	newSvc := func(st StoreVerifier) (*Service, *fakeLedger) {
		l := &fakeLedger{byKey: map[string]GiftReceipt{}, hashes: map[string]string{}, carry: map[string]int64{}}
		s, err := New(Params{Ledger: l, Stage: fakeStage{true}, Stores: map[string]StoreVerifier{PlatformApple: st}, Config: Config{Production: true}})
		if err != nil {
			t.Fatal(err)
		}
		return s, l
	}
	s, l := newSvc(fakeStore{p: good})
	req := PurchaseRequest{UserID: "u", Platform: PlatformApple, ProductID: "coins_100", SignedTransaction: "jws"}
	rc, err := s.VerifyPurchase(ctx, req)
	if err != nil || rc.Amount != 200 || rc.Replayed || len(l.credit) != 1 || l.credit[0].PaymentRef != "apple:t1" || l.credit[0].Kind != KindTopUp {
		t.Fatalf("purchase %+v %v, credits %+v", rc, err, l.credit)
	}
	if rc, err := s.VerifyPurchase(ctx, req); err != nil || !rc.Replayed || len(l.credit) != 1 {
		t.Fatalf("again: %+v %v", rc, err)
	}
	other := req
	other.UserID = "v"
	if _, err := s.VerifyPurchase(ctx, other); !errors.Is(err, ErrReceiptUsed) {
		t.Fatalf("another user: %v", err)
	}

	var ve *validation.Error
	for name, r := range map[string]PurchaseRequest{
		"no platform":     {UserID: "u", ProductID: "coins_100", SignedTransaction: "x"},
		"other platform":  {UserID: "u", Platform: "steam", ProductID: "coins_100", SignedTransaction: "x"},
		"no product":      {UserID: "u", Platform: PlatformApple, SignedTransaction: "x"},
		"unknown product": {UserID: "u", Platform: PlatformApple, ProductID: "coins_7", SignedTransaction: "x"},
		"no proof":        {UserID: "u", Platform: PlatformApple, ProductID: "coins_100"},
		"google no token": {UserID: "u", Platform: PlatformGoogle, ProductID: "coins_100", SignedTransaction: "x"},
	} {
		if _, err := s.VerifyPurchase(ctx, r); !errors.As(err, &ve) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.VerifyPurchase(ctx, PurchaseRequest{UserID: "u", Platform: PlatformGoogle, ProductID: "coins_100", PurchaseToken: "t"}); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("google without a verifier: %v", err)
	}
	for name, st := range map[string]fakeStore{
		"store refuses":       {err: ErrPaymentRejected},
		"store unreachable":   {err: ErrStoreUnreachable},
		"another product":     {p: StorePurchase{TransactionID: "t2", ProductID: "coins_500", Quantity: 1}},
		"no transaction id":   {p: StorePurchase{ProductID: "coins_100", Quantity: 1}},
		"no quantity":         {p: StorePurchase{TransactionID: "t3", ProductID: "coins_100"}},
		"absurdly many units": {p: StorePurchase{TransactionID: "t4", ProductID: "coins_100", Quantity: 1000}},
	} {
		s, l := newSvc(st)
		if _, err := s.VerifyPurchase(ctx, req); err == nil || len(l.credit) != 0 {
			t.Errorf("%s: %v, credits %+v", name, err, l.credit)
		}
	}
}
