package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// The conformance suite runs every test against both engines. Postgres comes
// from CHOBI_TEST_POSTGRES_URL; each subtest gets a schema of its own.
const (
	envPostgresURL     = "CHOBI_TEST_POSTGRES_URL"
	envRequireServices = "CHOBI_REQUIRE_SERVICES"
)

// engine is one database that a subtest may open (and reopen) as a Store.
type engine struct {
	cfg store.Config
}

// open connects to the engine's database and closes the store at the end
// of the test (closing it earlier is fine).
func (e engine) open(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), e.cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openMigrated opens the store and applies the migrations.
func (e engine) openMigrated(t *testing.T) *store.Store {
	t.Helper()
	s := e.open(t)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// eachEngine runs f as a subtest "sqlite" on a fresh database file and as a
// subtest "postgres" in a fresh schema dropped afterwards.
func eachEngine(t *testing.T, f func(t *testing.T, e engine)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, engine{cfg: store.Config{SQLitePath: filepath.Join(t.TempDir(), "chobi.db")}})
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, engine{cfg: store.Config{PostgresURL: postgresSchema(t), MaxConns: 8}})
	})
}

// eachStore runs f against a fresh, migrated store of each engine.
func eachStore(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	eachEngine(t, func(t *testing.T, e engine) { f(t, e.openMigrated(t)) })
}

// postgresSchema creates a schema for this test and returns a URL whose
// connections use it; the schema is dropped with everything in it when the
// test ends. Without a configured server the test is skipped, or fails when
// CHOBI_REQUIRE_SERVICES=1.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv(envPostgresURL)
	if base == "" {
		if os.Getenv(envRequireServices) == "1" {
			t.Fatalf("%s is not set but %s=1: the Postgres conformance tests must run. "+
				"Set %s=postgres://user@host:5432/db?sslmode=disable", envPostgresURL, envRequireServices, envPostgresURL)
		}
		t.Skipf("!!! POSTGRES CONFORMANCE WAS NOT TESTED !!! %s is not set. "+
			"Run with %s=postgres://user@host:5432/db?sslmode=disable (and %s=1 to make this a failure)",
			envPostgresURL, envPostgresURL, envRequireServices)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "chobi_t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres %s: %v", envPostgresURL, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("postgres: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("postgres: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("postgres %s: %v", envPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx passes unknown parameters to the server as runtime parameters
	u.RawQuery = q.Encode()
	return u.String()
}

var dollarParam = regexp.MustCompile(`\$(\d+)`)

// execSQL runs a statement written with Postgres placeholders directly on the
// store's database, for set-up the API does not offer (backdating rows).
func execSQL(t *testing.T, s *store.Store, query string, args ...any) {
	t.Helper()
	if s.Dialect() == store.SQLite {
		query = dollarParam.ReplaceAllString(query, "?$1")
	}
	if _, err := s.DB().ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("exec %q: %v", query, err)
	}
}

// querySQLInt runs a query returning one integer directly on the database.
func querySQLInt(t *testing.T, s *store.Store, query string, args ...any) int64 {
	t.Helper()
	if s.Dialect() == store.SQLite {
		query = dollarParam.ReplaceAllString(query, "?$1")
	}
	var n int64
	if err := s.DB().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
	return n
}

var userSeq atomic.Int64

// newUser creates a user with a unique name (the prefix helps reading failures).
func newUser(t *testing.T, s *store.Store, prefix string) store.User {
	t.Helper()
	n := userSeq.Add(1)
	u, err := s.CreateUser(context.Background(), store.NewUser{
		Username:    prefix + "_" + strconv.FormatInt(n, 10),
		DisplayName: prefix + " display",
	})
	if err != nil {
		t.Fatalf("create user %s: %v", prefix, err)
	}
	return u
}

// newSession starts a live session of host.
func newSession(t *testing.T, s *store.Store, hostID, typ, category string, private bool, createdAt time.Time) rooms.Session {
	t.Helper()
	ss, err := s.CreateSession(context.Background(), rooms.Session{
		HostID: hostID, Title: "a " + typ + " session", Description: "about " + category, Type: typ, Category: category,
		IsPrivate: private, Status: rooms.StatusLive, CreatedAt: createdAt,
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	if ss.ID == "" {
		t.Fatal("CreateSession returned no id")
	}
	return ss
}

// nowMs is the current time at the columns' precision.
func nowMs() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
