package economy

import (
	"context"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/chobilive/chobi/validation"
)

// Unit tests of the rules, on a fake ledger. The store runs the same
// service against both engines (store/economy*_test.go).

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeLedger struct {
	Ledger // unimplemented methods panic
	gifts  []Gift
	sent   []GiftTransfer
	credit []Credit
	byKey  map[string]GiftReceipt
	hashes map[string]string
	carry  map[string]int64 // per recipient
}

func (f *fakeLedger) GiftCatalog(context.Context) ([]Gift, error) { return f.gifts, nil }

func (f *fakeLedger) SendGift(_ context.Context, g GiftTransfer) (GiftReceipt, error) {
	f.sent = append(f.sent, g)
	var d int64
	d, f.carry[g.RecipientID] = CreditShare(f.carry[g.RecipientID], g.TotalCost, g.HostSharePPM)
	rc := GiftReceipt{ID: "g1", GiftID: g.GiftID, Quantity: g.Quantity, TotalCost: g.TotalCost, Diamonds: d}
	if g.IdempotencyKey != "" {
		f.byKey[g.IdempotencyKey], f.hashes[g.IdempotencyKey] = rc, g.RequestHash
	}
	return rc, nil
}

func (f *fakeLedger) GiftByKey(_ context.Context, _, key string) (GiftReceipt, string, bool, error) {
	rc, ok := f.byKey[key]
	return rc, f.hashes[key], ok, nil
}

func (f *fakeLedger) Credit(_ context.Context, c Credit) (CreditReceipt, error) {
	f.credit = append(f.credit, c)
	return CreditReceipt{ID: "c1", UserID: c.UserID, Amount: c.Amount, Coins: c.Amount, Kind: c.Kind}, nil
}

func (f *fakeLedger) CreditByKey(context.Context, string, TransferKind, string) (CreditReceipt, string, bool, error) {
	return CreditReceipt{}, "", false, nil
}

type fakeStage struct{ onStage bool }

func (s fakeStage) GiftStage(context.Context, string, string, string) (bool, error) {
	return s.onStage, nil
}

func newTestService(t *testing.T, cfg Config, verifier PaymentVerifier) (*Service, *fakeLedger) {
	t.Helper()
	l := &fakeLedger{
		gifts: []Gift{
			{ID: "gift_rose", NameEN: "Rose", Price: 1, Active: true},
			{ID: "gift_palace", NameEN: "Palace", Price: 5000, Active: true},
			{ID: "gift_old", NameEN: "Old", Price: 3, Active: false},
		},
		byKey: map[string]GiftReceipt{}, hashes: map[string]string{}, carry: map[string]int64{},
	}
	s, err := New(Params{Ledger: l, Stage: fakeStage{true}, Verifier: verifier, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

func TestHostShareRounding(t *testing.T) {
	for _, c := range []struct {
		total, ppm, want int64
	}{
		{1, 500_000, 0},    // a rose at 50 %: nothing, in the platform's favour
		{2, 500_000, 1},    // two roses
		{5, 500_000, 2},    // 2.5 → 2
		{3, 700_000, 2},    // 2.1 → 2
		{100, 290_000, 29}, // 0.29 × 100 is 28.999… in float64; exact here
		{10, 1_000_000, 10},
		{999 * 1_000_000_000, 333_333, 332_999_667_000},
		{math.MaxInt64, 1_000_000, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64 / 1_000_000},
	} {
		if got := hostShare(c.total, c.ppm); got != c.want {
			t.Errorf("hostShare(%d, %d) = %d, want %d", c.total, c.ppm, got, c.want)
		}
	}
}

// TestCreditShare: the carried fraction makes a recipient's diamonds
// ⌊Σ total × share⌋ whatever the split: fifty 1-coin roses at 0.5 one by
// one credit 25, as one send of 50 does; random gifts at random shares add
// up exactly, each crediting its own share rounded down or one more.
func TestCreditShare(t *testing.T) {
	var carry, sum int64
	for i := range 50 {
		d, c := CreditShare(carry, 1, 500_000)
		if want := int64(i % 2); d != want {
			t.Fatalf("rose %d credited %d, want %d", i+1, d, want)
		}
		sum, carry = sum+d, c
	}
	if d, c := CreditShare(0, 50, 500_000); sum != 25 || carry != 0 || d != 25 || c != 0 {
		t.Fatalf("fifty roses one by one: %d (carry %d); at once: %d (carry %d)", sum, carry, d, c)
	}
	if d, c := CreditShare(999_999, math.MaxInt64, 1_000_000); d != math.MaxInt64 || c != 999_999 {
		t.Fatalf("the largest gift at share 1 with a carry: %d, %d", d, c)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	micro := new(big.Int) // Σ total × ppm, exactly
	carry, sum = 0, 0
	for range 10_000 {
		total := 1 + rng.Int64N(999*5000)
		ppm := 1 + rng.Int64N(1_000_000)
		d, c := CreditShare(carry, total, ppm)
		if floor := hostShare(total, ppm); d != floor && d != floor+1 {
			t.Fatalf("a gift of %d at %d credited %d, its own share being %d", total, ppm, d, floor)
		}
		if c < 0 || c >= 1_000_000 {
			t.Fatalf("carry %d", c)
		}
		sum, carry = sum+d, c
		micro.Add(micro, new(big.Int).Mul(big.NewInt(total), big.NewInt(ppm)))
		q, r := new(big.Int).QuoRem(micro, big.NewInt(1_000_000), new(big.Int))
		if q.Int64() != sum || r.Int64() != carry {
			t.Fatalf("after %s millionths: %d diamonds and carry %d, want %s and %s", micro, sum, carry, q, r)
		}
	}
}

func TestParseHostShare(t *testing.T) {
	for _, good := range []string{"0.5", "1", "0.000001", "0.37", "1e-3"} {
		if _, err := ParseHostShare(good); err != nil {
			t.Errorf("ParseHostShare(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"0", "-0.1", "1.01", "abc", "NaN", "Inf", "0.0000001", ""} {
		if _, err := ParseHostShare(bad); err == nil {
			t.Errorf("ParseHostShare(%q) accepted", bad)
		}
	}
	if _, err := New(Params{Ledger: &fakeLedger{}, Stage: fakeStage{}, Config: Config{HostShare: 2}}); err == nil {
		t.Error("New accepted a host share of 2")
	}
}

func TestMulInt64(t *testing.T) {
	if v, ok := mulInt64(999, 1_000_000_000); !ok || v != 999_000_000_000 {
		t.Fatalf("mulInt64 = %d %v", v, ok)
	}
	for _, c := range [][2]int64{{math.MaxInt64, 2}, {1 << 32, 1 << 31}, {-1, 5}, {5, -1}} {
		if _, ok := mulInt64(c[0], c[1]); ok {
			t.Errorf("mulInt64(%d, %d) did not report overflow", c[0], c[1])
		}
	}
}

func TestSendGiftRules(t *testing.T) {
	ctx := context.Background()
	s, l := newTestService(t, Config{HostShare: 0.5}, nil)
	ok := GiftRequest{SenderID: "a", SessionID: "s", RecipientID: "h", GiftID: "gift_palace", Quantity: 3}

	var ve *validation.Error
	for name, mutate := range map[string]func(r *GiftRequest){
		"zero quantity":     func(r *GiftRequest) { r.Quantity = 0 },
		"negative quantity": func(r *GiftRequest) { r.Quantity = -1 },
		"quantity 1000":     func(r *GiftRequest) { r.Quantity = 1000 },
		"no session":        func(r *GiftRequest) { r.SessionID = "" },
		"no gift":           func(r *GiftRequest) { r.GiftID = "" },
		"no recipient":      func(r *GiftRequest) { r.RecipientID = "" },
		"to yourself":       func(r *GiftRequest) { r.RecipientID = r.SenderID },
		"long message":      func(r *GiftRequest) { r.Message = strings.Repeat("م", MaxMessage+1) },
		"control character": func(r *GiftRequest) { r.Message = "a\x00b" },
		"invalid UTF-8":     func(r *GiftRequest) { r.Message = "\xff" },
		"long key":          func(r *GiftRequest) { r.IdempotencyKey = strings.Repeat("k", MaxIdempotencyKey+1) },
	} {
		r := ok
		mutate(&r)
		if _, err := s.SendGift(ctx, r); !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want a validation.Error", name, err)
		}
	}
	r := ok
	r.RecipientID = "a"
	if _, err := s.SendGift(ctx, r); !errors.Is(err, ErrSelfGift) {
		t.Errorf("to yourself: %v does not match ErrSelfGift", err)
	}
	r = ok
	r.GiftID = "gift_unicorn"
	if _, err := s.SendGift(ctx, r); !errors.Is(err, ErrUnknownGift) {
		t.Errorf("unknown gift: %v", err)
	}
	r.GiftID = "gift_old"
	if _, err := s.SendGift(ctx, r); !errors.Is(err, ErrGiftUnavailable) {
		t.Errorf("inactive gift: %v", err)
	}
	s.stage = fakeStage{false}
	if _, err := s.SendGift(ctx, ok); !errors.Is(err, ErrNotOnStage) {
		t.Errorf("not on stage: %v", err)
	}
	s.stage = fakeStage{true}
	if len(l.sent) != 0 {
		t.Fatalf("refused gifts reached the ledger: %+v", l.sent)
	}

	rc, err := s.SendGift(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	g := l.sent[0]
	if g.TotalCost != 15000 || g.UnitPrice != 5000 || g.HostSharePPM != 500_000 || rc.Diamonds != 7500 ||
		rc.GiftName != "Palace" || !strings.Contains(g.Notice.Body, "{sender} sent you Palace × 3") {
		t.Fatalf("gift transfer %+v, receipt %+v", g, rc)
	}
	if _, ok := g.Notice.Data["diamonds"]; ok {
		t.Fatalf("the notice's diamonds are the ledger's to fill in: %+v", g.Notice.Data)
	}
	// The transfers: the price to revenue, the share on to payouts and as diamonds to the recipient.
	ts := GiftTransfers("a", "h", 15000, 7500)
	want := []Transfer{
		{KindGift, Coins, UserWallet("a", Coins), Platform(Revenue, Coins), 15000},
		{KindGiftShare, Coins, Platform(Revenue, Coins), Platform(Payouts, Coins), 7500},
		{KindGiftCredit, Diamonds, Platform(Issuance, Diamonds), UserWallet("h", Diamonds), 7500},
	}
	if len(ts) != len(want) {
		t.Fatalf("transfers %+v", ts)
	}
	for i := range want {
		if ts[i] != want[i] {
			t.Fatalf("transfer %d = %+v, want %+v", i, ts[i], want[i])
		}
	}
	if ts := GiftTransfers("a", "h", 1, 0); len(ts) != 1 || ts[0].Kind != KindGift {
		t.Fatalf("a gift crediting nothing: %+v", ts)
	}
	// Per currency the transfers sum to zero over the accounts they touch.
	for _, c := range Currencies {
		net := map[Account]int64{}
		for _, tr := range ts {
			if tr.Currency == c {
				net[tr.From] -= tr.Amount
				net[tr.To] += tr.Amount
			}
		}
		var sum int64
		for _, v := range net {
			sum += v
		}
		if sum != 0 {
			t.Fatalf("%s: transfers sum to %d", c, sum)
		}
	}

	// Idempotency: the same request replays, another conflicts, neither reaches the ledger.
	keyed := ok
	keyed.IdempotencyKey = "k"
	if _, err := s.SendGift(ctx, keyed); err != nil {
		t.Fatal(err)
	}
	again, err := s.SendGift(ctx, keyed)
	if err != nil || !again.Replayed {
		t.Fatalf("replay: %+v %v", again, err)
	}
	keyed.Message = "different"
	if _, err := s.SendGift(ctx, keyed); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("same key, other message: %v", err)
	}
	if len(l.sent) != 2 {
		t.Fatalf("%d gifts reached the ledger, want 2", len(l.sent))
	}
}

type rejectAll struct{}

func (rejectAll) Verify(context.Context, string, int64, string) (Payment, error) {
	return Payment{}, ErrPaymentRejected
}

type halfPrice struct{}

func (halfPrice) Verify(_ context.Context, _ string, amount int64, _ string) (Payment, error) {
	return Payment{Reference: "r", Amount: amount / 2}, nil
}

func TestTopUpModes(t *testing.T) {
	ctx := context.Background()
	dev, l := newTestService(t, Config{}, nil)
	if rc, err := dev.TopUp(ctx, TopUpRequest{UserID: "u", Amount: 10}); err != nil || rc.Coins != 10 {
		t.Fatalf("development top-up: %+v %v", rc, err)
	}
	if l.credit[0].Transfers[0] != (Transfer{KindTopUp, Coins, Platform(Issuance, Coins), UserWallet("u", Coins), 10}) {
		t.Fatalf("top-up transfer %+v", l.credit[0].Transfers)
	}
	prod, l := newTestService(t, Config{Production: true}, nil)
	if _, err := prod.TopUp(ctx, TopUpRequest{UserID: "u", Amount: 10, Receipt: "anything"}); !errors.Is(err, ErrTopUpUnavailable) {
		t.Fatalf("production without a verifier: %v", err)
	}
	for _, v := range []PaymentVerifier{rejectAll{}, halfPrice{}} {
		s, _ := newTestService(t, Config{Production: true}, v)
		if _, err := s.TopUp(ctx, TopUpRequest{UserID: "u", Amount: 10, Receipt: "r"}); !errors.Is(err, ErrPaymentRejected) {
			t.Fatalf("verifier %T: %v", v, err)
		}
		if _, err := s.TopUp(ctx, TopUpRequest{UserID: "u", Amount: 10}); !errors.Is(err, ErrPaymentRejected) {
			t.Fatalf("verifier %T without a receipt: %v", v, err)
		}
	}
	if len(l.credit) != 0 {
		t.Fatalf("refused top-ups reached the ledger: %+v", l.credit)
	}
	var ve *validation.Error
	for _, amount := range []int64{0, -1, MaxTopUp + 1, math.MinInt64, math.MaxInt64} {
		if _, err := dev.TopUp(ctx, TopUpRequest{UserID: "u", Amount: amount}); !errors.As(err, &ve) {
			t.Errorf("TopUp(%d): %v", amount, err)
		}
	}
	for _, amount := range []int64{0, -1, MaxGrant + 1} {
		if _, err := dev.Grant(ctx, "u", amount, "", ""); !errors.As(err, &ve) {
			t.Errorf("Grant(%d): %v", amount, err)
		}
	}
}

func TestRequestHash(t *testing.T) {
	if requestHash("ab", "c") == requestHash("a", "bc") {
		t.Fatal("field boundaries are not part of the hash")
	}
	if a, b := requestHash("a"), requestHash("a"); a != b {
		t.Fatal("the hash is not stable")
	}
}
