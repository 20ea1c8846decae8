// Package stack holds the test set-ups that need this module's server
// packages (the store), for external test packages; the leaf helpers are
// in testkit.
package stack

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chobilive/chobi/fieldcrypt"
	"github.com/chobilive/chobi/internal/testkit"
	"github.com/chobilive/chobi/store"
)

// TestKeys is the data encryption key ring of test stores
// (DATA_ENCRYPTION_KEYS "test1:..."): Open uses it when cfg has none.
const TestKeys = "test1:Y2hvYmktdGVzdC1rZXktbm90LXNlY3JldC0zMmJ5dGU="

// Open opens a store on cfg, closed when the test ends (closing it earlier
// is fine). Without cfg.Keys it seals with TestKeys.
func Open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	if cfg.Keys == nil {
		k, err := fieldcrypt.Parse(TestKeys)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keys = k
	}
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Migrated is Open with the migrations applied.
func Migrated(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	st := Open(t, cfg)
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// SQLiteConfig is a database file of its own in the test's temporary
// directory.
func SQLiteConfig(t testing.TB) store.Config {
	t.Helper()
	dir := t.TempDir()
	if strings.ContainsAny(dir, "#?") {
		// store.Open puts the path in a file: URI unescaped: the database
		// would be opened at the path cut before the '#' or '?'.
		t.Fatalf("temporary directory %q holds # or ?: name the test otherwise", dir)
	}
	return store.Config{SQLitePath: filepath.Join(dir, "chobi.db")}
}

// PostgresConfig is a schema of its own on the test server (see
// testkit.PostgresSchema: without the server the test skips or fails).
func PostgresConfig(t testing.TB) store.Config {
	t.Helper()
	return store.Config{PostgresURL: testkit.PostgresSchema(t, "chobi_t_"), MaxConns: 8}
}

// SQLite is a fresh, migrated SQLite store.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return Migrated(t, SQLiteConfig(t))
}

// Postgres is a fresh, migrated store in a Postgres schema of its own.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	return Migrated(t, PostgresConfig(t))
}
