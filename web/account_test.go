package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chobilive/chobi/economy"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/web"
	"github.com/chobilive/chobi/web/api"
	"github.com/chobilive/chobi/web/auth"
)

// newAccountStack is the economy stack with the token check cmd/chobi
// wires: a deleted user's tokens are refused.
func newAccountStack(t *testing.T) *ecoStack {
	t.Helper()
	st := kitstack.SQLite(t)
	log := quietLogger()
	tokens := auth.NewTokens(testSecret, time.Hour)
	tokens.RequireActive(st.UserActive)
	roomSvc := rooms.NewService(rooms.Params{Store: st, Logger: log})
	econ, err := economy.New(economy.Params{Ledger: st, Stage: roomSvc, Logger: log, Config: economy.Config{HostShare: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Params{Store: st, Rooms: roomSvc, Tokens: tokens, Logger: log, Economy: econ, Wallets: econ})
	hs := httptest.NewServer(web.New(web.Params{API: a, Logger: log, Registry: prometheus.NewRegistry()}).Handler())
	t.Cleanup(hs.Close)
	return &ecoStack{stack: &stack{url: hs.URL, srv: hs, store: st, tokens: tokens}, econ: econ}
}

type deleteOut struct {
	Deleted   bool   `json:"deleted"`
	UserID    string `json:"userId"`
	Forfeited struct {
		Coins    int64 `json:"coins"`
		Diamonds int64 `json:"diamonds"`
	} `json:"forfeited"`
}

func TestDeleteAccountOverTheAPI(t *testing.T) {
	s := newAccountStack(t)
	ctx := context.Background()
	reg := ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": "leaver", "password": "correct horse"}))
	leaver := user{id: reg.User.ID, token: reg.Token}
	host, fan := s.guest(t, "Host"), s.guest(t, "Fan")
	for _, u := range []user{leaver, fan} {
		if _, err := s.econ.Grant(ctx, u.id, 500, "test", ""); err != nil {
			t.Fatal(err)
		}
	}
	sess := s.createSession(t, host, "stage", false)
	ok[map[string]any](t, s.mutate(t, leaver.token, "gifts.sendGift", map[string]any{"sessionId": sess.ID, "giftId": "gift_oud", "recipientId": host.id, "message": "hi"}))
	own := s.createSession(t, leaver, "mine", false)
	ok[map[string]any](t, s.mutate(t, fan.token, "gifts.sendGift", map[string]any{"sessionId": own.ID, "giftId": "gift_dates", "recipientId": leaver.id}))
	ok[map[string]any](t, s.mutate(t, fan.token, "users.follow", map[string]any{"userId": leaver.id}))

	// Every refusal is a clear error and changes nothing.
	before := s.ledger(t)
	const path = "users.deleteAccount"
	wantFieldError(t, s.mutate(t, leaver.token, path, map[string]any{"password": "correct horse"}), path, "confirm")
	wantFieldError(t, s.mutate(t, leaver.token, path, map[string]any{"confirm": "yes"}), path, "confirm")
	wantFieldError(t, s.mutate(t, leaver.token, path, map[string]any{"confirm": "DELETE"}), path, "password")
	e := wantError(t, s.mutate(t, leaver.token, path, map[string]any{"confirm": "DELETE", "password": "wrong horse"}), "FORBIDDEN", http.StatusForbidden, path)
	if len(e.Data.FieldErrors["password"]) == 0 {
		t.Errorf("a wrong password does not name the field: %+v", e)
	}
	wantError(t, s.mutate(t, leaver.token, path, map[string]any{"confirm": "DELETE", "password": "correct horse"}), "PRECONDITION_FAILED", http.StatusPreconditionFailed, path)
	wantError(t, s.mutate(t, "", path, map[string]any{"confirm": "DELETE"}), "UNAUTHORIZED", http.StatusUnauthorized, path)
	if s.ledger(t) != before {
		t.Fatal("a refused deleteAccount changed the ledger")
	}
	if p := ok[profileOut](t, s.query(t, leaver.token, "users.getProfile", nil)); p.Username != "leaver" || p.Followers != 1 {
		t.Fatalf("a refused deleteAccount changed the profile: %+v", p)
	}

	ok[map[string]any](t, s.mutate(t, leaver.token, "streaming.endSession", map[string]any{"sessionId": own.ID}))
	d := ok[deleteOut](t, s.mutate(t, leaver.token, path, map[string]any{"confirm": "DELETE", "password": "correct horse"}))
	// 500 - 100 (the oud) coins; 20 × 0.5 diamonds from the fan's dates.
	if !d.Deleted || d.UserID != leaver.id || d.Forfeited.Coins != 400 || d.Forfeited.Diamonds != 10 {
		t.Fatalf("deleteAccount = %+v", d)
	}
	s.reconciled(t)

	// The token is dead, the login is gone, others see an anonymous profile.
	wantError(t, s.query(t, leaver.token, "users.getProfile", nil), "UNAUTHORIZED", http.StatusUnauthorized, "users.getProfile")
	wantError(t, s.mutate(t, "", "auth.login", map[string]any{"username": "leaver", "password": "correct horse"}), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	wantError(t, s.mutate(t, "", "auth.login", map[string]any{"username": "deleted-" + leaver.id, "password": "correct horse"}), "UNAUTHORIZED", http.StatusUnauthorized, "auth.login")
	p := ok[profileOut](t, s.query(t, fan.token, "users.getProfile", map[string]any{"userId": leaver.id}))
	if p.DisplayName != "Deleted user" || p.Username != "deleted-"+leaver.id || p.Followers != 0 {
		t.Fatalf("the deleted profile: %+v", p)
	}
	if n := s.notifications(t, host); len(n.Notifications) != 0 {
		t.Fatalf("the host keeps notifications naming the deleted user: %+v", n)
	}
	// The name is free again.
	ok[authOut](t, s.mutate(t, "", "auth.register", map[string]any{"username": "leaver", "password": "another horse"}))

	// A guest needs only the confirmation.
	g := ok[deleteOut](t, s.mutate(t, fan.token, path, map[string]any{"confirm": "DELETE"}))
	if !g.Deleted || g.Forfeited.Coins != 480 {
		t.Fatalf("guest deleteAccount = %+v", g)
	}
	wantError(t, s.mutate(t, fan.token, path, map[string]any{"confirm": "DELETE"}), "UNAUTHORIZED", http.StatusUnauthorized, path)
	s.reconciled(t)
}
