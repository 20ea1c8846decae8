package push_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/push"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// engines are the stores the outbox is tested on.
func engines(t *testing.T) map[string]func(*testing.T) *store.Store {
	return map[string]func(*testing.T) *store.Store{
		"sqlite":   func(t *testing.T) *store.Store { return kitstack.SQLite(t) },
		"postgres": func(t *testing.T) *store.Store { return kitstack.Postgres(t) },
	}
}

func token(i int) string { return fmt.Sprintf("ExponentPushToken[device-%04d]", i) }

// userWithDevices makes a user with n registered devices.
func userWithDevices(t *testing.T, st *store.Store, name string, first, n int) string {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.NewUser{Username: name, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i < first+n; i++ {
		if err := st.RegisterPushToken(ctx, store.PushToken{Token: token(i), UserID: u.ID, Platform: "ios"}); err != nil {
			t.Fatal(err)
		}
	}
	return u.ID
}

func notify(t *testing.T, st *store.Store, userID, title string) {
	t.Helper()
	if err := st.Notify(context.Background(), userID, rooms.Notice{Type: "system", Title: title, Body: "body of " + title,
		Data: map[string]any{"kind": "test"}}); err != nil {
		t.Fatal(err)
	}
}

func newSender(st *store.Store, e *testkit.ExpoServer, cfg push.Config) *push.Sender {
	client := &push.Client{SendURL: e.URL, HTTP: &http.Client{Timeout: 500 * time.Millisecond}}
	return push.NewSender(st, client, cfg, nil)
}

// drain steps the sender until it finds nothing to do.
func drain(t *testing.T, s *push.Sender) {
	t.Helper()
	for range 1000 {
		busy, err := s.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			return
		}
	}
	t.Fatal("the sender never ran out of work")
}

// A notification reaches each of its user's devices once, through a
// strict Expo, and its receipts are fetched and cleared; a token Expo
// calls unregistered is dropped and never used again.
func TestNotificationsArePushedToEveryDevice(t *testing.T) {
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			e := testkit.NewExpoServer(t)
			alice := userWithDevices(t, st, "alice", 0, 2)
			bob := userWithDevices(t, st, "bob", 2, 1)
			e.Unregistered(token(1), false)
			notify(t, st, alice, "hello alice")
			notify(t, st, bob, "hello bob")

			s := newSender(st, e, push.Config{ReceiptDelay: time.Millisecond})
			drain(t, s)
			sent := e.Sent()
			if len(sent) != 2 || len(e.Refused()) != 0 {
				t.Fatalf("sent %+v, refused %v: want alice's live device and bob's", sent, e.Refused())
			}
			got := map[string]string{}
			for _, m := range sent {
				got[m.To] = m.Title
				if string(m.Data) != `{"kind":"test"}` || m.Body != "body of "+m.Title {
					t.Errorf("message %+v: data and body as notified", m)
				}
			}
			if got[token(0)] != "hello alice" || got[token(2)] != "hello bob" {
				t.Fatalf("pushes by token: %v", got)
			}
			tokens, err := st.PushTokens(context.Background(), alice)
			if err != nil || len(tokens) != 1 || tokens[0].Token != token(0) {
				t.Fatalf("alice's tokens after DeviceNotRegistered: %v %v, want only %s", tokens, err, token(0))
			}
			stats := s.Stats()
			if stats.Sent != 2 || stats.Delivered != 2 || stats.Failed[push.ErrDeviceNotRegistered] != 1 {
				t.Fatalf("stats %+v", stats)
			}
			if n, _, err := st.Depth(context.Background()); err != nil || n != 0 {
				t.Fatalf("queue depth %d %v, want 0", n, err)
			}
			notify(t, st, alice, "again")
			drain(t, s)
			if sent := e.Sent(); len(sent) != 3 || sent[2].To != token(0) {
				t.Fatalf("after the token was dropped: %+v", sent)
			}
		})
	}
}

// 429 and 5xx are tried again later, a hung Expo too; another 4xx is not.
func TestFailuresAreRetriedOnlyWhenTheyMayPass(t *testing.T) {
	st := kitstack.SQLite(t)
	e := testkit.NewExpoServer(t)
	u := userWithDevices(t, st, "carol", 0, 1)
	s := newSender(st, e, push.Config{MaxBackoff: 10 * time.Millisecond})
	notify(t, st, u, "retried")
	e.Answer(http.StatusTooManyRequests, http.StatusInternalServerError, 0) // 0: hang
	testkit.Eventually(t, 10*time.Second, "the push sent after 429, 500 and a hang", func() bool {
		if _, err := s.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		return len(e.Sent()) == 1
	})
	if got := e.Requests(); got != 4 {
		t.Fatalf("%d send requests, want 4 (three failed, one taken)", got)
	}
	if s.Stats().Retried != 3 {
		t.Fatalf("stats %+v: want 3 retries", s.Stats())
	}

	notify(t, st, u, "refused")
	e.Answer(http.StatusBadRequest)
	drain(t, s)
	time.Sleep(20 * time.Millisecond) // past any backoff
	drain(t, s)
	if got := e.Requests(); got != 5 {
		t.Fatalf("%d send requests, want 5: a 400 is not tried again", got)
	}
	if s.Stats().Failed["refused"] != 1 {
		t.Fatalf("stats %+v: want one refused", s.Stats())
	}
}

// More than a batch goes out in batches Expo takes, each push once.
func TestBatchesHoldAtMostAHundred(t *testing.T) {
	st := kitstack.SQLite(t)
	e := testkit.NewExpoServer(t)
	u := userWithDevices(t, st, "dan", 0, 250)
	notify(t, st, u, "many")
	drain(t, newSender(st, e, push.Config{Rate: 100_000}))
	if len(e.Sent()) != 250 || e.Requests() != 3 || len(e.Refused()) != 0 {
		t.Fatalf("%d sent in %d requests, refused %v: want 250 in 3", len(e.Sent()), e.Requests(), e.Refused())
	}
}

// A sender that dies between claiming and recording leaves its pushes to
// be claimed again once the lease expires, counted as possibly sent
// twice.
func TestAnExpiredClaimIsSentAgainAndCounted(t *testing.T) {
	st := kitstack.SQLite(t)
	e := testkit.NewExpoServer(t)
	u := userWithDevices(t, st, "erin", 0, 1)
	notify(t, st, u, "lost claim")
	if items, err := st.ClaimDue(context.Background(), time.Now(), 100, 10*time.Millisecond); err != nil || len(items) != 1 {
		t.Fatalf("claim: %v %v", items, err) // and then this "sender" dies
	}
	s := newSender(st, e, push.Config{})
	drain(t, s)
	if len(e.Sent()) != 0 {
		t.Fatal("a push claimed by another sender was sent within its lease")
	}
	time.Sleep(20 * time.Millisecond)
	drain(t, s)
	if len(e.Sent()) != 1 || s.Stats().Reclaimed != 1 {
		t.Fatalf("after the lease: %d sent, stats %+v: want it sent and counted", len(e.Sent()), s.Stats())
	}
}

// Two senders on one Postgres drain one outbox together: no push twice.
func TestTwoSendersShareTheOutbox(t *testing.T) {
	st := kitstack.Postgres(t)
	e := testkit.NewExpoServer(t)
	for i := range 10 {
		u := userWithDevices(t, st, fmt.Sprint("user", i), i*100, 100)
		notify(t, st, u, "together")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var senders []*push.Sender
	for range 2 {
		s := newSender(st, e, push.Config{Rate: 100_000, Poll: 10 * time.Millisecond})
		senders = append(senders, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Run(ctx)
		}()
	}
	sent := e.WaitSent(t, 1000, 30*time.Second)
	cancel()
	wg.Wait()
	seen := map[string]bool{}
	for _, m := range e.Sent() {
		if seen[m.To] {
			t.Fatalf("%s pushed twice", m.To)
		}
		seen[m.To] = true
	}
	if len(sent) != 1000 || senders[0].Stats().Sent == 0 || senders[1].Stats().Sent == 0 {
		t.Fatalf("%d sent; by sender %d and %d: want 1000, both working", len(sent), senders[0].Stats().Sent, senders[1].Stats().Sent)
	}
}

// The sender keeps to its rate: a full batch waits for the bucket to
// refill. 300 messages at 500 a second: the first batch at once, the next
// two 200 ms apart at the soonest.
func TestTheRateHolds(t *testing.T) {
	st := kitstack.SQLite(t)
	e := testkit.NewExpoServer(t)
	u := userWithDevices(t, st, "fay", 0, 300)
	notify(t, st, u, "paced")
	s := newSender(st, e, push.Config{Rate: 500})
	start := time.Now()
	drain(t, s)
	if took := time.Since(start); len(e.Sent()) != 300 || took < 350*time.Millisecond {
		t.Fatalf("300 pushes at 500/s: %d sent in %v, want all, taking at least 400 ms", len(e.Sent()), took)
	}
}
