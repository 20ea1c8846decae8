package googleplay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/economy/googleplay/googleplaytest"
)

const pkg = "live.chobi.app"

func testVerifier(t *testing.T, g *googleplaytest.Server, timeout time.Duration) *Verifier {
	t.Helper()
	sa, err := LoadServiceAccount(g.KeyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Account: sa, PackageName: pkg, APIURL: g.APIURL, HTTP: &http.Client{Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	if v.cfg.TokenURL != g.TokenURL {
		t.Fatalf("the token URL %q is not the key's token_uri", v.cfg.TokenURL)
	}
	return v
}

func noProblems(t *testing.T, g *googleplaytest.Server) {
	t.Helper()
	if len(g.Problems) > 0 {
		t.Fatalf("the fake Google refused malformed requests: %q", g.Problems)
	}
}

func TestVerifyAndConsume(t *testing.T) {
	g := googleplaytest.New(t)
	v := testVerifier(t, g, 5*time.Second)
	g.Add("tok-1", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.1111-2222-3333-44444", Quantity: 2})
	proof := economy.PurchaseProof{ProductID: "coins_100", PurchaseToken: "tok-1"}
	sp, err := v.VerifyPurchase(context.Background(), proof)
	if err != nil {
		t.Fatal(err)
	}
	if sp.TransactionID != "GPA.1111-2222-3333-44444" || sp.Quantity != 2 || sp.Consumed || sp.Sandbox || sp.PurchasedAt.IsZero() {
		t.Fatalf("purchase %+v", sp)
	}
	if err := v.FinishPurchase(context.Background(), proof, sp); err != nil {
		t.Fatal(err)
	}
	if g.Get("tok-1").ConsumptionState != 1 {
		t.Fatal("not consumed")
	}
	// Consumed: reported so, and consuming again is done.
	if sp, err := v.VerifyPurchase(context.Background(), proof); err != nil || !sp.Consumed {
		t.Fatalf("after the consume: %+v %v", sp, err)
	}
	if err := v.FinishPurchase(context.Background(), proof, sp); err != nil {
		t.Fatalf("consuming twice: %v", err)
	}
	if g.TokenCalls != 1 {
		t.Fatalf("%d token requests: the access token is not reused", g.TokenCalls)
	}
	// A test purchase without an order id is named by its token.
	g.Add("tok-test", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", Test: true})
	sp, err = v.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", PurchaseToken: "tok-test"})
	if err != nil || !sp.Sandbox || !strings.HasPrefix(sp.TransactionID, "token-") {
		t.Fatalf("test purchase %+v %v", sp, err)
	}
	noProblems(t, g)
}

func TestRefusalsAndOutages(t *testing.T) {
	g := googleplaytest.New(t)
	v := testVerifier(t, g, 300*time.Millisecond)
	g.Add("ok", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.ok"})
	g.Add("pending", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.p", PurchaseState: 2})
	g.Add("cancelled", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.c", PurchaseState: 1})
	g.Add("elsewhere", googleplaytest.Purchase{PackageName: "com.example.other", ProductID: "coins_100", OrderID: "GPA.e"})
	ask := func(token string) error {
		_, err := v.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", PurchaseToken: token})
		return err
	}
	for name, c := range map[string]struct {
		token string
		want  error
	}{
		"pending":          {"pending", economy.ErrPurchasePending},
		"cancelled":        {"cancelled", ErrCancelled},
		"another package":  {"elsewhere", ErrToken},
		"an unknown token": {"nope", ErrToken},
	} {
		if err := ask(c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := v.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_500", PurchaseToken: "ok"}); !errors.Is(err, ErrToken) {
		t.Errorf("another product: %v", err)
	}
	for _, status := range []int{401, 403, 404, 429, 500, 503} {
		g.Set(status, 0)
		err := ask("ok")
		if !errors.Is(err, economy.ErrStoreUnreachable) || errors.Is(err, economy.ErrPaymentRejected) || !strings.Contains(err.Error(), "try again") {
			t.Errorf("API %d: %v", status, err)
		}
	}
	g.Set(0, time.Second) // past the client's 300 ms
	if err := ask("ok"); !errors.Is(err, economy.ErrStoreUnreachable) {
		t.Errorf("a timeout: %v", err)
	}
	// A 401 drops the access token: the next call fetches a new one.
	g.Set(401, 0)
	ask("ok")
	g.Set(0, 0)
	calls := g.TokenCalls
	if err := ask("ok"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if g.TokenCalls != calls+1 {
		t.Fatalf("token requests %d → %d after a 401", calls, g.TokenCalls)
	}
	// The token endpoint failing.
	g2 := googleplaytest.New(t)
	g2.Add("ok", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.ok"})
	v2 := testVerifier(t, g2, time.Second)
	g2.TokenFails = 1
	if _, err := v2.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", PurchaseToken: "ok"}); !errors.Is(err, economy.ErrStoreUnreachable) {
		t.Fatalf("token endpoint 500: %v", err)
	}
	if _, err := v2.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", PurchaseToken: "ok"}); err != nil {
		t.Fatalf("token endpoint back: %v", err)
	}
	// A key the token endpoint does not know.
	other := googleplaytest.New(t)
	sa, err := ParseServiceAccount(other.KeyJSON())
	if err != nil {
		t.Fatal(err)
	}
	sa.TokenURI = g.TokenURL
	v3, _ := New(Config{Account: sa, PackageName: pkg, APIURL: g.APIURL})
	if _, err := v3.VerifyPurchase(context.Background(), economy.PurchaseProof{ProductID: "coins_100", PurchaseToken: "ok"}); !errors.Is(err, economy.ErrStoreUnreachable) {
		t.Fatalf("a foreign key: %v", err)
	}
	for _, bad := range []string{"", "{}", `{"client_email":"a","private_key":"nope"}`} {
		if _, err := ParseServiceAccount([]byte(bad)); err == nil {
			t.Errorf("ParseServiceAccount(%q) accepted", bad)
		}
	}
}

// TestPurchaseThroughTheEconomy: the economy credits a Play purchase once,
// consumes it after the credit, and when the consume fails, the coins stay
// credited once and the same request sent again finishes it; pending,
// cancelled, consumed elsewhere or unreachable → nothing credited.
func TestPurchaseThroughTheEconomy(t *testing.T) {
	g := googleplaytest.New(t)
	v := testVerifier(t, g, time.Second)
	l := &ledger{}
	svc, err := economy.New(economy.Params{Ledger: l, Stage: stage{}, Stores: map[string]economy.StoreVerifier{economy.PlatformGoogle: v},
		Config: economy.Config{Production: true}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g.Add("tok", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_500", OrderID: "GPA.9"})
	req := economy.PurchaseRequest{UserID: "u", Platform: economy.PlatformGoogle, ProductID: "coins_500", PurchaseToken: "tok"}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rc, err := svc.VerifyPurchase(ctx, req); err != nil || rc.Amount != 500 {
				t.Errorf("purchase: %+v %v", rc, err)
			}
		}()
	}
	wg.Wait()
	if len(l.credits) != 1 || l.credits[0].PaymentRef != "google:GPA.9" || g.Get("tok").ConsumptionState != 1 {
		t.Fatalf("credits %+v, consumed %d", l.credits, g.Get("tok").ConsumptionState)
	}

	// The consume fails: credited, then a retryable error; sent again, finished.
	g.Add("tok2", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.10"})
	v.cfg.HTTP.Transport = failConsume{}
	if _, err := svc.VerifyPurchase(ctx, economy.PurchaseRequest{UserID: "u", Platform: economy.PlatformGoogle, ProductID: "coins_100", PurchaseToken: "tok2"}); !errors.Is(err, economy.ErrStoreUnreachable) {
		t.Fatalf("a failed consume: %v", err)
	}
	v.cfg.HTTP.Transport = nil
	if len(l.credits) != 2 || g.Get("tok2").ConsumptionState != 0 {
		t.Fatalf("after a failed consume: %d credits, consumed %d", len(l.credits), g.Get("tok2").ConsumptionState)
	}
	rc, err := svc.VerifyPurchase(ctx, economy.PurchaseRequest{UserID: "u", Platform: economy.PlatformGoogle, ProductID: "coins_100", PurchaseToken: "tok2"})
	if err != nil || !rc.Replayed || len(l.credits) != 2 || g.Get("tok2").ConsumptionState != 1 {
		t.Fatalf("sent again: %+v %v, %d credits", rc, err, len(l.credits))
	}

	g.Add("gone", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.11", ConsumptionState: 1})
	g.Add("pend", googleplaytest.Purchase{PackageName: pkg, ProductID: "coins_100", OrderID: "GPA.12", PurchaseState: 2})
	for token, want := range map[string]error{"gone": economy.ErrPaymentRejected, "pend": economy.ErrPurchasePending} {
		if _, err := svc.VerifyPurchase(ctx, economy.PurchaseRequest{UserID: "u", Platform: economy.PlatformGoogle, ProductID: "coins_100", PurchaseToken: token}); !errors.Is(err, want) {
			t.Errorf("%s: %v", token, err)
		}
	}
	g.Set(500, 0)
	if _, err := svc.VerifyPurchase(ctx, economy.PurchaseRequest{UserID: "u", Platform: economy.PlatformGoogle, ProductID: "coins_100", PurchaseToken: "pend"}); !errors.Is(err, economy.ErrStoreUnreachable) {
		t.Errorf("API down: %v", err)
	}
	if len(l.credits) != 2 {
		t.Fatalf("refusals credited: %+v", l.credits)
	}
	noProblems(t, g)
}

// failConsume fails every :consume, passing the rest through.
type failConsume struct{}

func (failConsume) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, ":consume") {
		return nil, errors.New("connection reset")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// ledger is the little of economy.Ledger a purchase needs.
type ledger struct {
	economy.Ledger
	mu      sync.Mutex
	credits []economy.Credit
}

func (l *ledger) Credit(_ context.Context, c economy.Credit) (economy.CreditReceipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.credits {
		if d.PaymentRef == c.PaymentRef {
			return economy.CreditReceipt{}, economy.ErrReceiptUsed
		}
	}
	l.credits = append(l.credits, c)
	return economy.CreditReceipt{ID: c.PaymentRef, UserID: c.UserID, Amount: c.Amount}, nil
}

func (l *ledger) CreditByPayment(_ context.Context, ref string) (economy.CreditReceipt, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.credits {
		if c.PaymentRef == ref {
			return economy.CreditReceipt{ID: ref, UserID: c.UserID, Amount: c.Amount}, true, nil
		}
	}
	return economy.CreditReceipt{}, false, nil
}

type stage struct{}

func (stage) GiftStage(context.Context, string, string, string) (bool, error) { return true, nil }
