package web_test

// The API with its database gone mute: real Postgres behind a TCP proxy the
// test controls, which can stop answering without closing anything (a
// server that accepts and reads but never replies).

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/store"
)

// TestMuteDatabaseIsServiceUnavailable: with Postgres accepting and reading
// but never answering, every API call that needs it (through rooms, the
// store or the token check) answers 503 SERVICE_UNAVAILABLE with
// Retry-After within 3 s instead of hanging; once the database answers
// again, so does the API. A database that refuses connections is 503 too.
func TestMuteDatabaseIsServiceUnavailable(t *testing.T) {
	pgURL, proxy := testkit.MutePostgres(t, "THE DATABASE OUTAGE TEST")
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{PostgresURL: pgURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{store: st, activeCheck: true})
	// Cleanups run last first: the proxy closes its connections before the
	// server waits for its handlers, whatever they wait on.
	t.Cleanup(proxy.Close)

	host := s.guest(t, "Host")
	sess := s.createSession(t, host, "Outage room", false)
	ok[messageOut](t, s.mutate(t, host.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": "hi", "type": "text"}))

	c := &http.Client{Timeout: 10 * time.Second}
	proxy.Mute()
	calls := []struct {
		name string
		do   func(t *testing.T) reply
		path string
	}{
		{"a query through rooms", func(t *testing.T) reply {
			return s.queryFrom(t, c, host.token, "chat.getMessages", map[string]any{"sessionId": sess.ID})
		}, "chat.getMessages"},
		{"a mutation through rooms", func(t *testing.T) reply {
			return s.mutateFrom(t, c, host.token, "chat.sendMessage", map[string]any{"sessionId": sess.ID, "message": "lost", "type": "text"})
		}, "chat.sendMessage"},
		{"a query of the store", func(t *testing.T) reply {
			return s.queryFrom(t, c, host.token, "users.getProfile", map[string]any{"userId": host.id})
		}, "users.getProfile"},
		{"a public mutation", func(t *testing.T) reply {
			return s.mutateFrom(t, c, "", "auth.login", map[string]any{"username": "nobody", "password": "whatever1"})
		}, "auth.login"},
	}
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) {
			start := time.Now()
			r := call.do(t)
			took := time.Since(start)
			t.Logf("%s: HTTP %d in %v", call.path, r.Status, took.Round(time.Millisecond))
			wantError(t, r, "SERVICE_UNAVAILABLE", http.StatusServiceUnavailable, call.path)
			if r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if took > 3*time.Second {
				t.Errorf("answered after %v, want within 3 s", took)
			}
		})
	}

	t.Run("a batch", func(t *testing.T) {
		start := time.Now()
		r := s.queryFrom(t, c, host.token, "chat.getMessages,streaming.getSession?batch=1",
			raw(`{"0":{"sessionId":"`+sess.ID+`"},"1":{"sessionId":"`+sess.ID+`"}}`))
		t.Logf("batch: HTTP %d in %v", r.Status, time.Since(start).Round(time.Millisecond))
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
			strings.Count(string(r.Body), `"SERVICE_UNAVAILABLE"`) != 2 {
			t.Fatalf("HTTP %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	})
	t.Run("a streamed batch", func(t *testing.T) {
		// httpBatchStreamLink: the stream's 200, and the same Retry-After.
		start := time.Now()
		r := s.queryFrom(t, c, host.token, "chat.getMessages,streaming.getSession?batch=1",
			raw(`{"0":{"sessionId":"`+sess.ID+`"},"1":{"sessionId":"`+sess.ID+`"}}`), withHeader("trpc-accept", "application/jsonl"))
		t.Logf("streamed batch: HTTP %d, Retry-After %q in %v", r.Status, r.Header.Get("Retry-After"), time.Since(start).Round(time.Millisecond))
		if r.Status != http.StatusOK || r.Header.Get("Retry-After") != "5" ||
			strings.Count(string(r.Body), `"SERVICE_UNAVAILABLE"`) != 2 {
			t.Fatalf("HTTP %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	})

	proxy.Unmute()
	start := time.Now()
	for {
		r := s.queryFrom(t, c, host.token, "chat.getMessages", map[string]any{"sessionId": sess.ID})
		if r.Status == http.StatusOK {
			t.Logf("answering again %v after the database came back", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("still failing 10 s after the database came back: HTTP %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("refused", func(t *testing.T) {
		proxy.Close() // the database's port closes: connections are refused
		start := time.Now()
		r := s.queryFrom(t, c, host.token, "chat.getMessages", map[string]any{"sessionId": sess.ID})
		took := time.Since(start)
		t.Logf("chat.getMessages with the connection refused: HTTP %d in %v", r.Status, took.Round(time.Millisecond))
		wantError(t, r, "SERVICE_UNAVAILABLE", http.StatusServiceUnavailable, "chat.getMessages")
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		if took > 3*time.Second {
			t.Errorf("answered after %v, want within 3 s", took)
		}
	})
}
