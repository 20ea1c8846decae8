package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// The test services come from the environment; without them a test skips
// loudly, or fails when EnvRequireServices is 1.
const (
	EnvPostgresURL     = "CHOBI_TEST_POSTGRES_URL"
	EnvRedisURL        = "CHOBI_TEST_REDIS_URL"
	EnvRequireServices = "CHOBI_REQUIRE_SERVICES"
)

// RequireServices reports whether a missing service must fail a test.
func RequireServices() bool { return os.Getenv(EnvRequireServices) == "1" }

// Missing fails the test (EnvRequireServices=1) or skips it, loudly,
// saying what was not tested.
func Missing(t testing.TB, untested, why string) {
	t.Helper()
	if RequireServices() {
		t.Fatalf("%s is not possible but %s=1: %s", untested, EnvRequireServices, why)
	}
	t.Skipf("!!! %s WAS NOT TESTED !!! %s (%s=1 makes this a failure)", untested, why, EnvRequireServices)
}

// PostgresBase is EnvPostgresURL, or "" when it is not set: then the test
// fails (EnvRequireServices=1) or logs loudly that untested was not tested.
// For tests whose Postgres half is optional.
func PostgresBase(t testing.TB, untested string) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		if RequireServices() {
			t.Fatalf("%s is not set but %s=1: %s must run", EnvPostgresURL, EnvRequireServices, untested)
		}
		t.Logf("!!! %s WAS NOT TESTED !!! %s is not set (e.g. postgres://user@host:5432/db?sslmode=disable)", untested, EnvPostgresURL)
	}
	return base
}

// PostgresURL is EnvPostgresURL; without it the test skips or fails.
func PostgresURL(t testing.TB, untested string) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		Missing(t, untested, EnvPostgresURL+" is not set (e.g. postgres://user@host:5432/db?sslmode=disable)")
	}
	return base
}

// PostgresSchema creates a schema of its own for the test, named prefix
// and random hex, and returns a URL whose connections use it; the schema
// is dropped with everything in it when the test ends. Without
// EnvPostgresURL the test skips or fails.
func PostgresSchema(t testing.TB, prefix string) string {
	t.Helper()
	return SchemaOn(t, PostgresURL(t, "POSTGRES"), prefix)
}

// SchemaOn is PostgresSchema on the server at base.
func SchemaOn(t testing.TB, base, prefix string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres %s: %v", EnvPostgresURL, err)
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
		t.Fatalf("postgres %s: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx passes unknown parameters to the server as runtime parameters
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisURL is EnvRedisURL; without it the test skips or fails, saying
// what was not tested.
func RedisURL(t testing.TB, untested string) string {
	t.Helper()
	raw := os.Getenv(EnvRedisURL)
	if raw == "" {
		Missing(t, untested, EnvRedisURL+" is not set (e.g. redis://127.0.0.1:6379/0)")
	}
	return raw
}
