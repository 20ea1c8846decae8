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
	return optional(t, EnvPostgresURL, untested, examplePostgres)
}

// PostgresURL is EnvPostgresURL; without it the test skips or fails.
func PostgresURL(t testing.TB, untested string) string {
	t.Helper()
	return needed(t, EnvPostgresURL, untested, examplePostgres)
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

// RedisBase is EnvRedisURL, or "" when it is not set: then the test fails
// (EnvRequireServices=1) or logs loudly that untested was not tested.
func RedisBase(t testing.TB, untested string) string {
	t.Helper()
	return optional(t, EnvRedisURL, untested, exampleRedis)
}

// FreshDatabase drops and creates the database name on the Postgres
// server at base (so migrations run from nothing) and returns its URL.
func FreshDatabase(t testing.TB, base, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("Postgres at %s: %v", EnvPostgresURL, err)
	}
	defer admin.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// RedisURL is EnvRedisURL; without it the test skips or fails, saying
// what was not tested.
func RedisURL(t testing.TB, untested string) string {
	t.Helper()
	return needed(t, EnvRedisURL, untested, exampleRedis)
}

const (
	examplePostgres = "postgres://user@host:5432/db?sslmode=disable"
	exampleRedis    = "redis://127.0.0.1:6379/0"
)

// optional is the variable's value; unset, the test fails
// (EnvRequireServices=1) or logs loudly and goes on.
func optional(t testing.TB, name, untested, example string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if RequireServices() {
			t.Fatalf("%s is not set but %s=1: %s must run", name, EnvRequireServices, untested)
		}
		t.Logf("!!! %s WAS NOT TESTED !!! %s is not set (e.g. %s)", untested, name, example)
	}
	return v
}

// needed is the variable's value; unset, the test fails or skips (Missing).
func needed(t testing.TB, name, untested, example string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, untested, name+" is not set (e.g. "+example+")")
	}
	return v
}
