package store_test

import (
	"context"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
)

// The conformance suite runs every test against both engines. Postgres comes
// from CHOBI_TEST_POSTGRES_URL; each subtest gets a schema of its own.

// engine is one database that a subtest may open (and reopen) as a Store.
type engine struct {
	cfg store.Config
}

// open connects to the engine's database and closes the store at the end
// of the test (closing it earlier is fine).
func (e engine) open(t *testing.T) *store.Store {
	t.Helper()
	return kitstack.Open(t, e.cfg)
}

// openMigrated opens the store and applies the migrations.
func (e engine) openMigrated(t *testing.T) *store.Store {
	t.Helper()
	return kitstack.Migrated(t, e.cfg)
}

// eachEngine runs f as a subtest "sqlite" on a fresh database file and as a
// subtest "postgres" in a fresh schema dropped afterwards.
func eachEngine(t *testing.T, f func(t *testing.T, e engine)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, engine{cfg: kitstack.SQLiteConfig(t)})
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
	return testkit.SchemaOn(t, testkit.PostgresURL(t, "POSTGRES CONFORMANCE"), "chobi_t_")
}

var dollarParam = regexp.MustCompile(`\$(\d+)`)

// execSQL runs a statement written with Postgres placeholders directly on the
// store's database, for set-up the API does not offer (backdating rows).
func execSQL(t testing.TB, s *store.Store, query string, args ...any) {
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
