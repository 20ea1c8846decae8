package web_test

// The economy over the real API (gifts.*, wallet.*, and the figures it adds
// to streaming.endSession, analytics and profiles): the stack of newStack
// with the economy wired as cmd/chobi wires it, and a sink recording the
// socket events.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/economy"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/auth"
)

type ecoStack struct {
	*stack
	econ *economy.Service

	mu     sync.Mutex
	events []rooms.Event
}

func newEcoStack(t *testing.T) *ecoStack { return newEcoStackWith(t, economy.Config{HostShare: 0.5}) }

func newEcoStackWith(t *testing.T, cfg economy.Config) *ecoStack {
	return newEcoStackStores(t, cfg, nil)
}

// newEcoStackStores is the stack with store purchases verified by stores.
func newEcoStackStores(t *testing.T, cfg economy.Config, stores map[string]economy.StoreVerifier) *ecoStack {
	t.Helper()
	st := kitstack.SQLite(t)
	s := &ecoStack{}
	log := quietLogger()
	tokens := auth.NewTokens(testSecret, time.Hour)
	roomSvc := rooms.NewService(rooms.Params{Store: st, Logger: log, Audience: recordSends(func(e rooms.Event) {
		s.mu.Lock()
		s.events = append(s.events, e)
		s.mu.Unlock()
	})})
	econ, err := economy.New(economy.Params{
		Ledger: st, Stage: roomSvc, Announcer: api.GiftNews{Rooms: roomSvc}, Logger: log, Config: cfg, Stores: stores,
	})
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Params{Store: st, Rooms: roomSvc, Tokens: tokens, Logger: log, Economy: econ, Wallets: econ})
	srv := web.New(web.Params{API: a, Logger: log, Registry: prometheus.NewRegistry()})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	s.stack = &stack{url: hs.URL, srv: hs, store: st, tokens: tokens}
	s.econ = econ
	return s
}

// recordSends is a rooms.Audience that hands each Send to a function (the
// other calls are not what these tests look at).
type recordSends func(e rooms.Event)

func (f recordSends) Send(_ context.Context, e rooms.Event)                   { f(e) }
func (recordSends) SessionEnded(context.Context, protocol.SessionEnded)       {}
func (recordSends) Removed(context.Context, string, protocol.Removed)         {}
func (recordSends) RoleChanged(context.Context, string, protocol.RoleChanged) {}
func (recordSends) SignedOut(context.Context, string)                         {}

func (s *ecoStack) eventsOf(typ string) []rooms.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rooms.Event
	for _, e := range s.events {
		if e.Message.Type() == typ {
			out = append(out, e)
		}
	}
	return out
}

// ledger fingerprints everything the economy writes (balances, transfers,
// gifts, credits, keys, notifications, session figures).
func (s *ecoStack) ledger(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id || '=' || CAST(balance AS TEXT) FROM ledger_accounts ORDER BY id`,
		`SELECT id FROM ledger_transfers ORDER BY id`,
		`SELECT id FROM gift_sends ORDER BY id`,
		`SELECT id FROM coin_credits ORDER BY id`,
		`SELECT idem_key FROM idempotency_keys ORDER BY 1`,
		`SELECT id FROM notifications ORDER BY id`,
		`SELECT id || ':' || CAST(gifts_received AS TEXT) || ':' || CAST(coins_earned AS TEXT) FROM live_sessions ORDER BY id`,
	} {
		rows, err := s.store.DB().QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			b.WriteString(v + ",")
		}
		rows.Close()
		b.WriteString("\n")
	}
	return b.String()
}

func (s *ecoStack) reconciled(t *testing.T) {
	t.Helper()
	r, err := s.econ.Reconcile(context.Background())
	if err != nil || !r.OK() {
		t.Fatalf("reconcile: %v %+v", err, r.Problems)
	}
}

type giftOut struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	NameEN    string `json:"nameEn"`
	NameAR    string `json:"nameAr"`
	Price     int64  `json:"price"`
	Animation string `json:"animation"`
}

type giftTxOut struct {
	ID            string `json:"id"`
	GiftID        string `json:"giftId"`
	SessionID     string `json:"sessionId"`
	RecipientID   string `json:"recipientId"`
	Quantity      int64  `json:"quantity"`
	TotalCost     int64  `json:"totalCost"`
	Diamonds      int64  `json:"diamonds"`
	SenderBalance int64  `json:"senderBalance"`
	Message       string `json:"message"`
	CreatedAt     string `json:"createdAt"`
}

type balanceOut struct {
	Coins    int64 `json:"coins"`
	Diamonds int64 `json:"diamonds"`
}

type topUpOut struct {
	TransactionID string `json:"transactionId"`
	Amount        int64  `json:"amount"`
	Coins         int64  `json:"coins"`
}

type txOut struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Currency     string `json:"currency"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balanceAfter"`
	Gift         *struct {
		GiftID       string `json:"giftId"`
		Quantity     int64  `json:"quantity"`
		Counterparty struct {
			ID string `json:"id"`
		} `json:"counterparty"`
	} `json:"gift"`
}

type txPage struct {
	Transactions []txOut `json:"transactions"`
	NextCursor   *string `json:"nextCursor"`
}

type boardOut struct {
	Scope   string `json:"scope"`
	Entries []struct {
		Rank int `json:"rank"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Coins int64 `json:"coins"`
		Gifts int64 `json:"gifts"`
	} `json:"entries"`
}

func TestEconomyAPI(t *testing.T) {
	s := newEcoStack(t)

	gifts := ok[[]giftOut](t, s.query(t, "", "gifts.getAvailableGifts", nil))
	if len(gifts) < 10 || gifts[0].ID != "gift_rose" || gifts[0].Price != 1 || gifts[len(gifts)-1].Price < 2000 {
		t.Fatalf("catalog %+v", gifts)
	}
	for _, g := range gifts {
		if g.Name == "" || g.NameEN != g.Name || g.NameAR == "" || g.Animation == "" || g.Price < 1 {
			t.Fatalf("gift %+v", g)
		}
	}
	wantError(t, s.query(t, "", "wallet.getBalance", nil), "UNAUTHORIZED", http.StatusUnauthorized, "wallet.getBalance")
	wantError(t, s.mutate(t, "", "gifts.sendGift", map[string]any{}), "UNAUTHORIZED", http.StatusUnauthorized, "gifts.sendGift")

	host, fan, co := s.guest(t, "Host"), s.guest(t, "Fan"), s.guest(t, "Co")
	if b := ok[balanceOut](t, s.query(t, fan.token, "wallet.getBalance", nil)); b != (balanceOut{}) {
		t.Fatalf("a new wallet holds %+v", b)
	}
	top := ok[topUpOut](t, s.mutate(t, fan.token, "wallet.topUp", map[string]any{"amount": 500, "idempotencyKey": "buy-1"}))
	if top.TransactionID == "" || top.Coins != 500 || top.Amount != 500 {
		t.Fatalf("topUp %+v", top)
	}
	again := ok[topUpOut](t, s.mutate(t, fan.token, "wallet.topUp", map[string]any{"amount": 500, "idempotencyKey": "buy-1"}))
	if again != top {
		t.Fatalf("repeated topUp %+v, first %+v", again, top)
	}
	wantError(t, s.mutate(t, fan.token, "wallet.topUp", map[string]any{"amount": 501, "idempotencyKey": "buy-1"}),
		"CONFLICT", http.StatusConflict, "wallet.topUp")

	sess := s.createSession(t, host, "Gifts", false)
	ok[joinOut](t, s.mutate(t, co.token, "streaming.joinSession", map[string]any{"sessionId": sess.ID, "role": "co-host"}))
	// The host accepts (the socket's cohost_response; here straight in the store).
	if err := s.store.SetParticipant(context.Background(), rooms.Participant{SessionID: sess.ID, UserID: co.id, Role: rooms.RoleCoHost}); err != nil {
		t.Fatal(err)
	}

	tx := ok[giftTxOut](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{
		"sessionId": sess.ID, "giftId": "gift_coffee", "recipientId": host.id, "quantity": 3, "message": "أهلا", "idempotencyKey": "g-1",
	}))
	if tx.ID == "" || tx.GiftID != "gift_coffee" || tx.Quantity != 3 || tx.TotalCost != 30 || tx.Diamonds != 15 ||
		tx.SenderBalance != 470 || tx.RecipientID != host.id || tx.SessionID != sess.ID || tx.Message != "أهلا" {
		t.Fatalf("sendGift %+v", tx)
	}
	if _, err := time.Parse(time.RFC3339, tx.CreatedAt); err != nil {
		t.Fatalf("createdAt %q", tx.CreatedAt)
	}
	// Announced once, after the commit, as PROTOCOL.md §2 has it; the host is notified.
	anim := s.eventsOf("gift_animation")
	if len(anim) != 1 || anim[0].SessionID != sess.ID || anim[0].UserID != "" {
		t.Fatalf("gift_animation events %+v", anim)
	}
	p := anim[0].Message.(protocol.GiftAnimation)
	want := protocol.GiftAnimation{
		SessionID: sess.ID, Gift: protocol.Gift{ID: "gift_coffee", Name: "Arabic Coffee", Animation: "coffee_pour"},
		Sender: protocol.UserName{ID: fan.id, DisplayName: "Fan"}, RecipientID: host.id, Quantity: 3, Message: "أهلا",
	}
	if p != want {
		t.Fatalf("gift_animation %#v, want %#v", p, want)
	}
	notes := s.eventsOf("notification")
	var giftNote *protocol.NotificationBody
	for _, e := range notes {
		n := e.Message.(protocol.Notification).Notification
		if n.Type == "gift" {
			if e.UserID != host.id || giftNote != nil {
				t.Fatalf("gift notification event %+v", e)
			}
			giftNote = &n
		}
	}
	if giftNote == nil || giftNote.Read || !strings.Contains(giftNote.Body, "Fan sent you") {
		t.Fatalf("gift notification %+v", giftNote)
	}
	if n := s.notifications(t, host); n.UnreadCount < 1 || n.Notifications[0].Type != "gift" || n.Notifications[0].Data["transactionId"] != tx.ID {
		t.Fatalf("host notifications %+v", n)
	}

	// The same key again: the first result, no second announcement.
	replay := ok[giftTxOut](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{
		"sessionId": sess.ID, "giftId": "gift_coffee", "recipientId": host.id, "quantity": 3, "message": "أهلا", "idempotencyKey": "g-1",
	}))
	if replay != tx || len(s.eventsOf("gift_animation")) != 1 {
		t.Fatalf("replayed sendGift %+v (first %+v), %d animations", replay, tx, len(s.eventsOf("gift_animation")))
	}
	wantError(t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{
		"sessionId": sess.ID, "giftId": "gift_coffee", "recipientId": host.id, "quantity": 4, "idempotencyKey": "g-1",
	}), "CONFLICT", http.StatusConflict, "gifts.sendGift")

	// To the co-host, quantity defaulting to 1.
	tx2 := ok[giftTxOut](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{"sessionId": sess.ID, "giftId": "gift_oud", "recipientId": co.id}))
	if tx2.Quantity != 1 || tx2.TotalCost != 100 || tx2.Diamonds != 50 || tx2.SenderBalance != 370 {
		t.Fatalf("gift to the co-host %+v", tx2)
	}

	if b := ok[balanceOut](t, s.query(t, fan.token, "wallet.getBalance", nil)); b != (balanceOut{Coins: 370}) {
		t.Fatalf("fan balance %+v", b)
	}
	if b := ok[balanceOut](t, s.query(t, host.token, "wallet.getBalance", nil)); b != (balanceOut{Diamonds: 15}) {
		t.Fatalf("host balance %+v", b)
	}
	prof := ok[profileOut](t, s.query(t, host.token, "users.getProfile", nil))
	if prof.Coins == nil || *prof.Coins != 0 || prof.Diamonds == nil || *prof.Diamonds != 15 {
		t.Fatalf("own profile coins/diamonds %v %v", prof.Coins, prof.Diamonds)
	}

	// History, newest first, two pages.
	page := ok[txPage](t, s.query(t, fan.token, "wallet.getTransactions", map[string]any{"limit": 2}))
	if len(page.Transactions) != 2 || page.NextCursor == nil || page.Transactions[0].Type != "gift_sent" || page.Transactions[0].Amount != -100 ||
		page.Transactions[0].BalanceAfter != 370 || page.Transactions[0].Gift == nil || page.Transactions[0].Gift.Counterparty.ID != co.id {
		t.Fatalf("history page 1 %+v", page)
	}
	page2 := ok[txPage](t, s.query(t, fan.token, "wallet.getTransactions", map[string]any{"limit": 2, "cursor": *page.NextCursor}))
	if len(page2.Transactions) != 1 || page2.NextCursor != nil || page2.Transactions[0].Type != "topup" || page2.Transactions[0].Amount != 500 {
		t.Fatalf("history page 2 %+v", page2)
	}
	hist := ok[txPage](t, s.query(t, host.token, "wallet.getTransactions", map[string]any{"currency": "diamonds"}))
	if len(hist.Transactions) != 1 || hist.Transactions[0].Type != "gift_received" || hist.Transactions[0].Amount != 15 ||
		hist.Transactions[0].Gift.Quantity != 3 || hist.Transactions[0].Gift.Counterparty.ID != fan.id {
		t.Fatalf("host history %+v", hist)
	}
	wantFieldError(t, s.query(t, fan.token, "wallet.getTransactions", map[string]any{"cursor": "garbage!"}), "wallet.getTransactions", "cursor")
	wantFieldError(t, s.query(t, fan.token, "wallet.getTransactions", map[string]any{"currency": "euros"}), "wallet.getTransactions", "currency")

	// Leaderboards.
	board := ok[boardOut](t, s.query(t, host.token, "gifts.getLeaderboard", map[string]any{"sessionId": sess.ID}))
	if board.Scope != "session" || len(board.Entries) != 1 || board.Entries[0].User.ID != fan.id || board.Entries[0].Coins != 130 ||
		board.Entries[0].Gifts != 4 || board.Entries[0].Rank != 1 {
		t.Fatalf("session leaderboard %+v", board)
	}
	board = ok[boardOut](t, s.query(t, fan.token, "gifts.getLeaderboard", map[string]any{"hostId": host.id, "period": "day"}))
	if board.Scope != "host" || len(board.Entries) != 1 || board.Entries[0].Coins != 30 {
		t.Fatalf("host leaderboard %+v", board)
	}
	wantFieldError(t, s.query(t, fan.token, "gifts.getLeaderboard", map[string]any{}), "gifts.getLeaderboard", "sessionId")
	wantFieldError(t, s.query(t, fan.token, "gifts.getLeaderboard", map[string]any{"hostId": host.id, "period": "decade"}), "gifts.getLeaderboard", "period")
	wantError(t, s.query(t, fan.token, "gifts.getLeaderboard", map[string]any{"hostId": "nobody"}), "NOT_FOUND", http.StatusNotFound, "gifts.getLeaderboard")

	// The session's figures: gift units and the coins they cost.
	type stats struct {
		GiftsReceived int   `json:"giftsReceived"`
		CoinsEarned   int64 `json:"coinsEarned"`
	}
	end := ok[stats](t, s.mutate(t, host.token, "streaming.endSession", map[string]any{"sessionId": sess.ID}))
	if end.GiftsReceived != 4 || end.CoinsEarned != 130 {
		t.Fatalf("endSession stats %+v", end)
	}
	an := ok[stats](t, s.query(t, host.token, "analytics.getStreamStats", map[string]any{"period": "week"}))
	if an.GiftsReceived != 4 || an.CoinsEarned != 130 {
		t.Fatalf("analytics %+v", an)
	}
	// After the end: no more gifts, but the key still returns its first result.
	wantError(t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{"sessionId": sess.ID, "giftId": "gift_rose", "recipientId": host.id}),
		"NOT_FOUND", http.StatusNotFound, "gifts.sendGift")
	if r := ok[giftTxOut](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{
		"sessionId": sess.ID, "giftId": "gift_coffee", "recipientId": host.id, "quantity": 3, "message": "أهلا", "idempotencyKey": "g-1",
	})); r != tx {
		t.Fatalf("replay after the end %+v", r)
	}
	s.reconciled(t)
}

// TestFiftyRosesOverTheAPI: fifty 1-coin roses at 0.5 through
// gifts.sendGift credit 25 diamonds, sent one by one (each answer saying
// what it credited: 0, 1, 0, ...) or all at once (issue 14).
func TestFiftyRosesOverTheAPI(t *testing.T) {
	s := newEcoStack(t)
	one, many, fan := s.guest(t, "One"), s.guest(t, "Many"), s.guest(t, "Fan")
	ok[topUpOut](t, s.mutate(t, fan.token, "wallet.topUp", map[string]any{"amount": 100}))
	sessOne, sessMany := s.createSession(t, one, "One by one", false), s.createSession(t, many, "At once", false)
	for i := range 50 {
		tx := ok[giftTxOut](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{"sessionId": sessOne.ID, "giftId": "gift_rose", "recipientId": one.id}))
		if tx.Diamonds != int64(i%2) {
			t.Fatalf("rose %d answered %d diamonds", i+1, tx.Diamonds)
		}
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.mutate(t, fan.token, "gifts.sendGift", map[string]any{"sessionId": sessMany.ID, "giftId": "gift_rose", "recipientId": many.id})
		}()
	}
	wg.Wait()
	for _, u := range []user{one, many} {
		if b := ok[balanceOut](t, s.query(t, u.token, "wallet.getBalance", nil)); b != (balanceOut{Diamonds: 25}) {
			t.Fatalf("fifty roses left %+v", b)
		}
		var sum int64
		for _, n := range s.notifications(t, u).Notifications {
			d, _ := n.Data["diamonds"].(float64)
			sum += int64(d)
		}
		if sum != 25 {
			t.Fatalf("the gift notifications add up to %d diamonds", sum)
		}
	}
	if b := ok[balanceOut](t, s.query(t, fan.token, "wallet.getBalance", nil)); b != (balanceOut{}) {
		t.Fatalf("the fan holds %+v of 100 coins", b)
	}
	s.reconciled(t)
}

// TestEconomyBadInput sends every kind of bad input over HTTP: each is a
// clear error, and nothing in the ledger changes.
func TestEconomyBadInput(t *testing.T) {
	s := newEcoStack(t)
	host, fan, viewer, other := s.guest(t, "Host"), s.guest(t, "Fan"), s.guest(t, "Viewer"), s.guest(t, "Other")
	sess := s.createSession(t, host, "Live", false)
	otherSess := s.createSession(t, other, "Elsewhere", false)
	private := s.createSession(t, other, "Private", true)
	ended := s.createSession(t, other, "Over", false)
	ok[map[string]any](t, s.mutate(t, other.token, "streaming.endSession", map[string]any{"sessionId": ended.ID}))
	ok[joinOut](t, s.mutate(t, viewer.token, "streaming.joinSession", map[string]any{"sessionId": sess.ID, "role": "viewer"}))
	ok[topUpOut](t, s.mutate(t, fan.token, "wallet.topUp", map[string]any{"amount": 100}))
	ok[giftTxOut](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{"sessionId": sess.ID, "giftId": "gift_rose", "recipientId": host.id,
		"idempotencyKey": "k1"}))
	before := s.ledger(t)
	beforeBalance := ok[balanceOut](t, s.query(t, fan.token, "wallet.getBalance", nil))

	send := func(fields string) string {
		return fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":%q,%s}`, sess.ID, host.id, fields)
	}
	cases := []struct {
		name, path, input string
		code              string
		field             string // for BAD_REQUEST: the field named
	}{
		{"zero quantity", "gifts.sendGift", send(`"quantity":0`), "BAD_REQUEST", "quantity"},
		{"negative quantity", "gifts.sendGift", send(`"quantity":-1`), "BAD_REQUEST", "quantity"},
		{"quantity 1000", "gifts.sendGift", send(`"quantity":1000`), "BAD_REQUEST", "quantity"},
		{"int64 max quantity", "gifts.sendGift", send(`"quantity":9223372036854775807`), "BAD_REQUEST", "quantity"},
		{"past int64 quantity", "gifts.sendGift", send(`"quantity":9223372036854775808`), "BAD_REQUEST", "quantity"},
		{"huge quantity", "gifts.sendGift", send(`"quantity":1e30`), "BAD_REQUEST", "quantity"},
		{"fractional quantity", "gifts.sendGift", send(`"quantity":2.5`), "BAD_REQUEST", "quantity"},
		{"string quantity", "gifts.sendGift", send(`"quantity":"3"`), "BAD_REQUEST", "quantity"},
		{"boolean quantity", "gifts.sendGift", send(`"quantity":true`), "BAD_REQUEST", "quantity"},
		{"quantity NaN-ish", "gifts.sendGift", send(`"quantity":"NaN"`), "BAD_REQUEST", "quantity"},
		{"message too long", "gifts.sendGift", send(`"message":"` + strings.Repeat("x", 201) + `"`), "BAD_REQUEST", "message"},
		{"message with control characters", "gifts.sendGift", send(`"message":"a\u0007b"`), "BAD_REQUEST", "message"},
		{"idempotency key too long", "gifts.sendGift", send(`"idempotencyKey":"` + strings.Repeat("k", 201) + `"`), "BAD_REQUEST", "idempotencyKey"},
		{"missing gift", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"recipientId":%q}`, sess.ID, host.id), "BAD_REQUEST", "giftId"},
		{"missing session", "gifts.sendGift", fmt.Sprintf(`{"giftId":"gift_rose","recipientId":%q}`, host.id), "BAD_REQUEST", "sessionId"},
		{"missing recipient", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose"}`, sess.ID), "BAD_REQUEST", "recipientId"},
		{"ids of the wrong type", "gifts.sendGift", `{"sessionId":5,"giftId":["gift_rose"],"recipientId":null}`, "BAD_REQUEST", ""},
		{"not an object", "gifts.sendGift", `[1,2,3]`, "BAD_REQUEST", ""},
		{"to yourself", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":%q}`, sess.ID, fan.id), "BAD_REQUEST", "recipientId"},
		{"to a viewer", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":%q}`, sess.ID, viewer.id), "BAD_REQUEST", "recipientId"},
		{"to an unknown user", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":"nobody"}`, sess.ID), "BAD_REQUEST", "recipientId"},
		{"to a host in another user's session", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":%q}`, otherSess.ID, host.id), "BAD_REQUEST", "recipientId"},
		{"into a private session not joined", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":%q}`, private.ID, other.id), "FORBIDDEN", ""},
		{"unknown gift", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_unicorn","recipientId":%q}`, sess.ID, host.id), "NOT_FOUND", ""},
		{"unknown session", "gifts.sendGift", fmt.Sprintf(`{"sessionId":"nope","giftId":"gift_rose","recipientId":%q}`, host.id), "NOT_FOUND", ""},
		{"ended session", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_rose","recipientId":%q}`, ended.ID, other.id), "NOT_FOUND", ""},
		{"not enough coins", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_palace","recipientId":%q}`, sess.ID, host.id), "PRECONDITION_FAILED", ""},
		{"999 palaces", "gifts.sendGift", fmt.Sprintf(`{"sessionId":%q,"giftId":"gift_palace","recipientId":%q,"quantity":999}`, sess.ID, host.id), "PRECONDITION_FAILED", ""},
		{"key reused for another gift", "gifts.sendGift", send(`"quantity":2,"idempotencyKey":"k1"`), "CONFLICT", ""},
		{"zero amount", "wallet.topUp", `{"amount":0}`, "BAD_REQUEST", "amount"},
		{"negative amount", "wallet.topUp", `{"amount":-100}`, "BAD_REQUEST", "amount"},
		{"amount over the top-up limit", "wallet.topUp", `{"amount":1000001}`, "BAD_REQUEST", "amount"},
		{"int64 max amount", "wallet.topUp", `{"amount":9223372036854775807}`, "BAD_REQUEST", "amount"},
		{"int64 min amount", "wallet.topUp", `{"amount":-9223372036854775808}`, "BAD_REQUEST", "amount"},
		{"past int64 amount", "wallet.topUp", `{"amount":18446744073709551616}`, "BAD_REQUEST", "amount"},
		{"huge amount", "wallet.topUp", `{"amount":1e300}`, "BAD_REQUEST", "amount"},
		{"fractional amount", "wallet.topUp", `{"amount":10.5}`, "BAD_REQUEST", "amount"},
		{"string amount", "wallet.topUp", `{"amount":"100"}`, "BAD_REQUEST", "amount"},
		{"missing amount", "wallet.topUp", `{}`, "BAD_REQUEST", "amount"},
		{"null amount", "wallet.topUp", `{"amount":null}`, "BAD_REQUEST", "amount"},
		{"receipt too large", "wallet.topUp", `{"amount":5,"receipt":"` + strings.Repeat("r", 70000) + `"}`, "BAD_REQUEST", "receipt"},
		{"superjson bigint past int64", "wallet.topUp", `{"json":{"amount":"99999999999999999999"},"meta":{"values":{"amount":["bigint"]}}}`, "BAD_REQUEST", ""},
		{"history limit 0", "wallet.getTransactions", `{"limit":0}`, "BAD_REQUEST", "limit"},
		{"leaderboard limit 1000", "gifts.getLeaderboard", fmt.Sprintf(`{"sessionId":%q,"limit":1000}`, sess.ID), "BAD_REQUEST", "limit"},
		{"leaderboard of an unknown session", "gifts.getLeaderboard", `{"sessionId":"nope"}`, "NOT_FOUND", ""},
		{"leaderboard of a private session not joined", "gifts.getLeaderboard", fmt.Sprintf(`{"sessionId":%q}`, private.ID), "FORBIDDEN", ""},
	}
	status := map[string]int{"BAD_REQUEST": 400, "FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409, "PRECONDITION_FAILED": 412}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r reply
			if strings.HasPrefix(c.path, "wallet.get") || strings.HasPrefix(c.path, "gifts.get") {
				r = s.query(t, fan.token, c.path, raw(c.input))
			} else {
				r = s.mutate(t, fan.token, c.path, raw(c.input))
			}
			if strings.HasPrefix(c.input, `{"json"`) { // a superjson answer: its error is wrapped
				if r.Status != status[c.code] || !strings.Contains(string(r.Body), c.code) {
					t.Fatalf("want HTTP %d %s, got %d: %s", status[c.code], c.code, r.Status, r.Body)
				}
				return
			}
			if c.field != "" {
				wantFieldError(t, r, c.path, c.field)
				return
			}
			wantError(t, r, c.code, status[c.code], c.path)
		})
	}
	if after := s.ledger(t); after != before {
		t.Fatalf("bad input changed the ledger:\nbefore %s\nafter  %s", before, after)
	}
	if b := ok[balanceOut](t, s.query(t, fan.token, "wallet.getBalance", nil)); b != beforeBalance {
		t.Fatalf("balance %+v, was %+v", b, beforeBalance)
	}
	if n := len(s.eventsOf("gift_animation")); n != 1 {
		t.Fatalf("%d gift animations, want only the one good gift's", n)
	}
	s.reconciled(t)
}

// TestProductionTopUpRefused: production without a payment verifier credits
// nothing, with a clear PRECONDITION_FAILED.
func TestProductionTopUpRefused(t *testing.T) {
	s := newEcoStackWith(t, economy.Config{Production: true})
	u := s.guest(t, "Buyer")
	before := s.ledger(t)
	e := wantError(t, s.mutate(t, u.token, "wallet.topUp", map[string]any{"amount": 100, "receipt": "looks-real"}),
		"PRECONDITION_FAILED", http.StatusPreconditionFailed, "wallet.topUp")
	if !strings.Contains(e.Message, "verified payment") {
		t.Fatalf("message %q", e.Message)
	}
	if s.ledger(t) != before {
		t.Fatal("a refused top-up changed the ledger")
	}
}
