package store_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chobilive/chobi/store"
)

// A Postgres that accepts connections and never answers fails Open within
// ConnectTimeout, as an error Unavailable recognises, not the ping's 10 s.
func TestOpenGivesUpOnAMuteServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})

	start := time.Now()
	_, err = store.Open(context.Background(), store.Config{
		PostgresURL:    "postgres://chobi@" + ln.Addr().String() + "/chobi?sslmode=disable",
		ConnectTimeout: 300 * time.Millisecond,
	})
	took := time.Since(start)
	t.Logf("Open failed after %v: %v", took.Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("Open succeeded against a server that never answers")
	}
	if took > 3*time.Second {
		t.Errorf("Open gave up after %v with ConnectTimeout 300ms", took)
	}
	if !store.Unavailable(err) {
		t.Errorf("Unavailable(%v) = false", err)
	}
}

// The pool's sessions run with statement_timeout (30 s by default, or
// Config.StatementTimeout, or the URL's own), and migrations without it.
func TestStatementTimeout(t *testing.T) {
	base := postgresSchema(t)
	show := func(s *store.Store) string {
		t.Helper()
		var v string
		if err := s.DB().QueryRowContext(context.Background(), "SHOW statement_timeout").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	open := func(cfg store.Config) *store.Store {
		t.Helper()
		if cfg.PostgresURL == "" {
			cfg.PostgresURL = base
		}
		s, err := store.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	def := open(store.Config{MaxConns: 1})
	if got := show(def); got != "30s" {
		t.Errorf("default statement_timeout %q, want 30s", got)
	}
	if _, err := def.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := show(def); got != "30s" {
		t.Errorf("statement_timeout %q after Migrate on the pool's one connection, want 30s again", got)
	}
	if got := show(open(store.Config{StatementTimeout: 1500 * time.Millisecond})); got != "1500ms" {
		t.Errorf("StatementTimeout 1.5s: %q", got)
	}
	if got := show(open(store.Config{StatementTimeout: -1})); got != "0" {
		t.Errorf("StatementTimeout negative (none): %q", got)
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("statement_timeout", "7000")
	u.RawQuery = q.Encode()
	if got := show(open(store.Config{PostgresURL: u.String()})); got != "7s" {
		t.Errorf("the URL's statement_timeout: %q, want 7s", got)
	}

	short := open(store.Config{StatementTimeout: 200 * time.Millisecond})
	_, err := short.DB().ExecContext(context.Background(), "SELECT pg_sleep(2)")
	if err == nil || !store.Unavailable(err) {
		t.Errorf("a statement over the timeout: %v, want an error Unavailable recognises", err)
	}
}

func TestUnavailable(t *testing.T) {
	if store.Unavailable(nil) || store.Unavailable(context.Canceled) || store.Unavailable(store.ErrNotFound) ||
		store.Unavailable(errors.New("syntax error")) {
		t.Error("Unavailable for an error that is not an outage")
	}
	if !store.Unavailable(context.DeadlineExceeded) {
		t.Error("a deadline that expired is not Unavailable")
	}
	// A SQLite file locked by another writer past busy_timeout.
	path := filepath.Join(t.TempDir(), "chobi.db")
	a, err := store.Open(context.Background(), store.Config{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.DB().Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := a.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(context.Background(), store.Config{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	conn, err := b.DB().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "PRAGMA busy_timeout = 50"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(context.Background(), "INSERT INTO t VALUES (2)")
	if err == nil || !store.Unavailable(err) {
		t.Errorf("a write locked out: %v, want an error Unavailable recognises", err)
	}
}
