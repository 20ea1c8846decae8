package web_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/appstore"
	"github.com/chobilive/chobi/economy/appstore/appstoretest"
	"github.com/chobilive/chobi/economy/googleplay"
	"github.com/chobilive/chobi/economy/googleplay/googleplaytest"
)

// Store purchases over the real API (issue 14): wallet.verifyPurchase with
// App Store transactions signed by a test root that the server trusts
// instead of Apple's, on a production economy (no wallet.topUp).

const testBundle = "live.chobi.app"

type purchaseOut struct {
	TransactionID      string `json:"transactionId"`
	Platform           string `json:"platform"`
	ProductID          string `json:"productId"`
	StoreTransactionID string `json:"storeTransactionId"`
	Amount             int64  `json:"amount"`
	Coins              int64  `json:"coins"`
	AlreadyCredited    bool   `json:"alreadyCredited"`
	CreatedAt          string `json:"createdAt"`
}

func newPurchaseStack(t *testing.T) (*ecoStack, *appstoretest.CA) {
	t.Helper()
	ca := appstoretest.NewCA(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	apple, err := appstore.New(appstore.Config{BundleID: testBundle, Roots: roots, Production: true})
	if err != nil {
		t.Fatal(err)
	}
	products, err := economy.ParseProducts("coins_100=100,coins_500=500")
	if err != nil {
		t.Fatal(err)
	}
	s := newEcoStackStores(t, economy.Config{HostShare: 0.5, Production: true, Products: products},
		map[string]economy.StoreVerifier{economy.PlatformApple: apple})
	return s, ca
}

func applePurchase(signed, product string) map[string]any {
	return map[string]any{"platform": "apple", "productId": product, "signedTransactionInfo": signed}
}

func TestVerifyApplePurchase(t *testing.T) {
	s, ca := newPurchaseStack(t)
	buyer, other := s.guest(t, "Buyer"), s.guest(t, "Other")

	products := ok[[]struct {
		ProductID string `json:"productId"`
		Coins     int64  `json:"coins"`
	}](t, s.query(t, "", "wallet.getProducts", nil))
	if len(products) != 2 || products[0].ProductID != "coins_100" || products[0].Coins != 100 || products[1].Coins != 500 {
		t.Fatalf("products %+v", products)
	}
	// Production: no coins from wallet.topUp.
	wantError(t, s.mutate(t, buyer.token, "wallet.topUp", map[string]any{"amount": 100}), "PRECONDITION_FAILED", http.StatusPreconditionFailed, "wallet.topUp")

	signed := ca.Sign(t, appstoretest.Consumable("2000000001", testBundle, "coins_500"))
	first := ok[purchaseOut](t, s.mutate(t, buyer.token, "wallet.verifyPurchase", applePurchase(signed, "coins_500")))
	if first.TransactionID == "" || first.Platform != "apple" || first.ProductID != "coins_500" || first.StoreTransactionID != "2000000001" ||
		first.Amount != 500 || first.Coins != 500 || first.AlreadyCredited {
		t.Fatalf("first verifyPurchase %+v", first)
	}
	if _, err := time.Parse(time.RFC3339, first.CreatedAt); err != nil {
		t.Fatalf("createdAt %q", first.CreatedAt)
	}
	// Sent again by the buyer: the first credit, nothing more.
	again := ok[purchaseOut](t, s.mutate(t, buyer.token, "wallet.verifyPurchase", applePurchase(signed, "coins_500")))
	if again.TransactionID != first.TransactionID || !again.AlreadyCredited || again.Amount != 500 || again.Coins != 500 {
		t.Fatalf("repeated verifyPurchase %+v", again)
	}
	// By someone else: CONFLICT, nothing credited.
	before := s.ledger(t)
	e := wantError(t, s.mutate(t, other.token, "wallet.verifyPurchase", applePurchase(signed, "coins_500")), "CONFLICT", http.StatusConflict, "wallet.verifyPurchase")
	if !strings.Contains(e.Message, "another account") {
		t.Fatalf("message %q", e.Message)
	}
	if s.ledger(t) != before {
		t.Fatal("the conflict changed the ledger")
	}

	// Twenty at once, from the buyer's phones: one credit, twenty answers naming it.
	signed2 := ca.Sign(t, appstoretest.Consumable("2000000002", testBundle, "coins_100"))
	var wg sync.WaitGroup
	replies := make([]purchaseOut, 20)
	errs := make([]error, 20)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.client(s.srv.Client()).Mutation(buyer.token, "wallet.verifyPurchase", applePurchase(signed2, "coins_100"))
			switch {
			case err != nil:
				errs[i] = err
			case r.Status != http.StatusOK:
				errs[i] = &httpError{r.Status, string(r.Body)}
			default:
				replies[i] = decode[purchaseOut](t, r.Data)
			}
		}()
	}
	wg.Wait()
	fresh := 0
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if r.TransactionID != replies[0].TransactionID || r.Amount != 100 || r.Coins != 600 {
			t.Fatalf("call %d: %+v (first %+v)", i, r, replies[0])
		}
		if !r.AlreadyCredited {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d of 20 answers say they credited the purchase, want 1", fresh)
	}
	if b := ok[balanceOut](t, s.query(t, buyer.token, "wallet.getBalance", nil)); b.Coins != 600 {
		t.Fatalf("balance %+v after 500 and 100", b)
	}
	var n int
	if err := s.store.DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM coin_credits WHERE payment_ref = 'apple:2000000002'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d credits of the purchase sent 20 times (%v)", n, err)
	}
	hist := ok[txPage](t, s.query(t, buyer.token, "wallet.getTransactions", map[string]any{"currency": "coins"}))
	if len(hist.Transactions) != 2 || hist.Transactions[0].Type != "topup" || hist.Transactions[0].Amount != 100 || hist.Transactions[0].BalanceAfter != 600 {
		t.Fatalf("history %+v", hist)
	}
	s.reconciled(t)
}

// TestApplePurchaseRefusals: each bad transaction is a clear error and
// credits nothing.
func TestApplePurchaseRefusals(t *testing.T) {
	s, ca := newPurchaseStack(t)
	buyer := s.guest(t, "Buyer")
	other := appstoretest.NewCA(t)
	good := appstoretest.Consumable("3000000001", testBundle, "coins_100")
	parts := strings.Split(ca.Sign(t, good), ".")
	expired, expiredKey := ca.IssueLeaf(t, ca.Intermediate, ca.IntermediateKey(), appstoretest.CertOptions{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	plain, plainKey := ca.IssueLeaf(t, ca.Intermediate, ca.IntermediateKey(), appstoretest.CertOptions{NoMarker: true})
	with := func(f func(*appstoretest.Transaction)) string {
		tr := good
		f(&tr)
		return ca.Sign(t, tr)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"transactionId":"3000000001","bundleId":"`+testBundle+
		`","productId":"coins_100","quantity":10,"type":"Consumable","environment":"Production","signedDate":1}`)) + "." + parts[2]

	before := s.ledger(t)
	for _, c := range []struct {
		name, signed, product, code, says string
		status                            int
	}{
		{"tampered payload", tampered, "coins_100", "FORBIDDEN", "signature does not verify", http.StatusForbidden},
		{"a chain to another root", other.Sign(t, good), "coins_100", "FORBIDDEN", "does not lead to the App Store's root", http.StatusForbidden},
		{"an expired certificate", appstoretest.SignWith(t, good, expiredKey, expired, ca.Intermediate, ca.Root), "coins_100", "FORBIDDEN", "expired", http.StatusForbidden},
		{"a certificate for something else", appstoretest.SignWith(t, good, plainKey, plain, ca.Intermediate, ca.Root), "coins_100", "FORBIDDEN", "1.2.840.113635.100.6.11.1", http.StatusForbidden},
		{"another app", with(func(tr *appstoretest.Transaction) { tr.BundleID = "com.example.other" }), "coins_100", "FORBIDDEN", "another app", http.StatusForbidden},
		{"sandbox in production", with(func(tr *appstoretest.Transaction) { tr.Environment = "Sandbox" }), "coins_100", "FORBIDDEN", "APPLE_ALLOW_SANDBOX", http.StatusForbidden},
		{"revoked", with(func(tr *appstoretest.Transaction) { tr.RevocationDate = time.Now().UnixMilli() }), "coins_100", "FORBIDDEN", "refunded or revoked", http.StatusForbidden},
		{"another product than claimed", with(func(tr *appstoretest.Transaction) { tr.ProductID = "coins_500" }), "coins_100", "FORBIDDEN", `"coins_500", not "coins_100"`, http.StatusForbidden},
		{"a product not sold here", with(func(tr *appstoretest.Transaction) { tr.ProductID = "coins_999" }), "coins_999", "BAD_REQUEST", "unknown product", http.StatusBadRequest},
		{"not a JWS", "hello", "coins_100", "FORBIDDEN", "not a StoreKit JWS", http.StatusForbidden},
	} {
		e := wantError(t, s.mutate(t, buyer.token, "wallet.verifyPurchase", applePurchase(c.signed, c.product)), c.code, c.status, "wallet.verifyPurchase")
		if !strings.Contains(e.Message, c.says) {
			t.Errorf("%s: message %q does not say %q", c.name, e.Message, c.says)
		}
		if s.ledger(t) != before {
			t.Fatalf("%s changed the ledger", c.name)
		}
	}
	// Bad input.
	for field, in := range map[string]map[string]any{
		"platform":              {"productId": "coins_100", "signedTransactionInfo": "x"},
		"productId":             {"platform": "apple", "signedTransactionInfo": "x"},
		"signedTransactionInfo": {"platform": "apple", "productId": "coins_100"},
		"purchaseToken":         {"platform": "google", "productId": "coins_100"},
	} {
		wantFieldError(t, s.mutate(t, buyer.token, "wallet.verifyPurchase", in), "wallet.verifyPurchase", field)
	}
	wantFieldError(t, s.mutate(t, buyer.token, "wallet.verifyPurchase", map[string]any{"platform": "steam", "productId": "coins_100"}), "wallet.verifyPurchase", "platform")
	wantFieldError(t, s.mutate(t, buyer.token, "wallet.verifyPurchase", applePurchase(strings.Repeat("a", economy.MaxReceipt+1), "coins_100")),
		"wallet.verifyPurchase", "signedTransactionInfo")
	// Google is not configured on this server.
	e := wantError(t, s.mutate(t, buyer.token, "wallet.verifyPurchase", map[string]any{"platform": "google", "productId": "coins_100", "purchaseToken": "tok"}),
		"PRECONDITION_FAILED", http.StatusPreconditionFailed, "wallet.verifyPurchase")
	if !strings.Contains(e.Message, "not configured") {
		t.Fatalf("message %q", e.Message)
	}
	wantError(t, s.mutate(t, "", "wallet.verifyPurchase", applePurchase("x", "coins_100")), "UNAUTHORIZED", http.StatusUnauthorized, "wallet.verifyPurchase")
	if s.ledger(t) != before {
		t.Fatal("bad input changed the ledger")
	}
	// The good one still goes through.
	if r := ok[purchaseOut](t, s.mutate(t, buyer.token, "wallet.verifyPurchase", applePurchase(ca.Sign(t, good), "coins_100"))); r.Amount != 100 {
		t.Fatalf("the good purchase %+v", r)
	}
	s.reconciled(t)
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }

// decode reads a call's output (from a goroutine: no Fatal).
func decode[T any](t *testing.T, data []byte) T {
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		t.Errorf("decode %s: %v", data, err)
	}
	return out
}

// TestVerifyGooglePurchase: Google Play purchases over the real API against
// a strict local Google (token endpoint and Play Developer API): credited
// once and consumed; pending, cancelled, consumed elsewhere, another
// package → their errors; the API failing or too slow → SERVICE_UNAVAILABLE
// with Retry-After; nothing credited by any of them.
func TestVerifyGooglePurchase(t *testing.T) {
	g := googleplaytest.New(t)
	sa, err := googleplay.ParseServiceAccount(g.KeyJSON())
	if err != nil {
		t.Fatal(err)
	}
	play, err := googleplay.New(googleplay.Config{Account: sa, PackageName: testBundle, APIURL: g.APIURL, HTTP: &http.Client{Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s := newEcoStackStores(t, economy.Config{HostShare: 0.5, Production: true}, map[string]economy.StoreVerifier{economy.PlatformGoogle: play})
	buyer, other := s.guest(t, "Buyer"), s.guest(t, "Other")
	buy := func(token, product string) map[string]any {
		return map[string]any{"platform": "google", "productId": product, "purchaseToken": token}
	}
	g.Add("tok-ok", googleplaytest.Purchase{PackageName: testBundle, ProductID: "coins_1000", OrderID: "GPA.3300-1"})
	r := ok[purchaseOut](t, s.mutate(t, buyer.token, "wallet.verifyPurchase", buy("tok-ok", "coins_1000")))
	if r.Amount != 1000 || r.Coins != 1000 || r.StoreTransactionID != "GPA.3300-1" || r.Platform != "google" || r.AlreadyCredited {
		t.Fatalf("verifyPurchase %+v", r)
	}
	if g.Get("tok-ok").ConsumptionState != 1 {
		t.Fatal("the purchase was not consumed")
	}
	if again := ok[purchaseOut](t, s.mutate(t, buyer.token, "wallet.verifyPurchase", buy("tok-ok", "coins_1000"))); !again.AlreadyCredited || again.TransactionID != r.TransactionID {
		t.Fatalf("again %+v", again)
	}
	before := s.ledger(t)
	wantError(t, s.mutate(t, other.token, "wallet.verifyPurchase", buy("tok-ok", "coins_1000")), "CONFLICT", http.StatusConflict, "wallet.verifyPurchase")

	g.Add("tok-pending", googleplaytest.Purchase{PackageName: testBundle, ProductID: "coins_100", OrderID: "GPA.p", PurchaseState: 2})
	g.Add("tok-cancelled", googleplaytest.Purchase{PackageName: testBundle, ProductID: "coins_100", OrderID: "GPA.c", PurchaseState: 1})
	g.Add("tok-consumed", googleplaytest.Purchase{PackageName: testBundle, ProductID: "coins_100", OrderID: "GPA.d", ConsumptionState: 1})
	g.Add("tok-other-app", googleplaytest.Purchase{PackageName: "com.example.other", ProductID: "coins_100", OrderID: "GPA.o"})
	for _, c := range []struct {
		token, code, says string
		status            int
	}{
		{"tok-pending", "PRECONDITION_FAILED", "pending", http.StatusPreconditionFailed},
		{"tok-cancelled", "FORBIDDEN", "cancelled", http.StatusForbidden},
		{"tok-consumed", "FORBIDDEN", "delivered already", http.StatusForbidden},
		{"tok-other-app", "FORBIDDEN", "not a purchase of this app", http.StatusForbidden},
	} {
		e := wantError(t, s.mutate(t, buyer.token, "wallet.verifyPurchase", buy(c.token, "coins_100")), c.code, c.status, "wallet.verifyPurchase")
		if !strings.Contains(e.Message, c.says) {
			t.Errorf("%s: message %q", c.token, e.Message)
		}
	}
	g.Add("tok-later", googleplaytest.Purchase{PackageName: testBundle, ProductID: "coins_100", OrderID: "GPA.l"})
	for _, c := range []struct {
		fail  int
		delay time.Duration
	}{{401, 0}, {404, 0}, {500, 0}, {0, time.Second}} {
		g.Set(c.fail, c.delay)
		r := s.mutate(t, buyer.token, "wallet.verifyPurchase", buy("tok-later", "coins_100"))
		e := wantError(t, r, "SERVICE_UNAVAILABLE", http.StatusServiceUnavailable, "wallet.verifyPurchase")
		if r.Header.Get("Retry-After") == "" || !strings.Contains(e.Message, "try again") {
			t.Errorf("API %d / %v: Retry-After %q, message %q", c.fail, c.delay, r.Header.Get("Retry-After"), e.Message)
		}
	}
	if s.ledger(t) != before {
		t.Fatal("a refusal changed the ledger")
	}
	g.Set(0, 0)
	if r := ok[purchaseOut](t, s.mutate(t, buyer.token, "wallet.verifyPurchase", buy("tok-later", "coins_100"))); r.Amount != 100 || r.Coins != 1100 {
		t.Fatalf("once Google answers: %+v", r)
	}
	if len(g.Problems) > 0 {
		t.Fatalf("the local Google refused malformed requests: %q", g.Problems)
	}
	s.reconciled(t)
}
