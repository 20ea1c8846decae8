package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	chobiredis "github.com/chobilive/chobi/store/redis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testRedis connects to CHOBI_TEST_REDIS_URL under a key prefix of this
// test's own, whose keys are deleted at the end. Without a configured Redis
// the test is skipped, or fails when CHOBI_REQUIRE_SERVICES=1.
func testRedis(t *testing.T) (*goredis.Client, chobiredis.Options) {
	t.Helper()
	raw := os.Getenv("CHOBI_TEST_REDIS_URL")
	if raw == "" {
		if os.Getenv("CHOBI_REQUIRE_SERVICES") == "1" {
			t.Fatal("CHOBI_TEST_REDIS_URL is not set but CHOBI_REQUIRE_SERVICES=1: the Redis tests must run")
		}
		t.Skip("!!! REDIS PRESENCE, DIRECTORY, BUS AND RATE LIMITS WERE NOT TESTED !!! CHOBI_TEST_REDIS_URL is not set " +
			"(e.g. redis://127.0.0.1:6379/0; CHOBI_REQUIRE_SERVICES=1 makes this a failure)")
	}
	u, err := goredis.ParseURL(raw)
	if err != nil {
		t.Fatalf("CHOBI_TEST_REDIS_URL: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	o := chobiredis.Options{Addr: u.Addr, Password: u.Password, DB: u.DB, Prefix: "chobitest:" + hex.EncodeToString(b[:]) + ":"}
	rdb := chobiredis.NewClient(o)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redis at %s does not answer: %v", u.Addr, err)
	}
	t.Cleanup(func() {
		defer rdb.Close()
		if left := keysUnder(t, rdb, o.Prefix); len(left) > 0 {
			rdb.Del(context.Background(), left...)
		}
	})
	return rdb, o
}

func keysUnder(t *testing.T, rdb *goredis.Client, prefix string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatalf("listing keys: %v", err)
	}
	return keys
}
