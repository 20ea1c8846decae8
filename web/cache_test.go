package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/cache"
	"github.com/chobilive/chobi/internal/testkit"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

// TestCachedReadsAreNeverStale: two nodes (two API stacks on one database)
// cache profiles and the lobby, in this process's memory and in Redis as
// serve wires them. After a profile update, a follow or a new session
// returns, the next read sees it, on the same node and on the other one,
// though both had the old value cached.
func TestCachedReadsAreNeverStale(t *testing.T) {
	t.Run("memory, one node", func(t *testing.T) {
		c := cache.New(cache.NewMemory(0), 0)
		s := newStack(t, stackOptions{cache: c})
		checkFresh(t, s, s)
		if st := c.Stats(); st.Hits == 0 || st.Misses == 0 || st.Errors != 0 {
			t.Fatalf("cache stats %+v: want hits and misses, no errors", st)
		}
	})
	t.Run("redis, two nodes", func(t *testing.T) {
		raw := testkit.RedisURL(t, "THE CLUSTER'S CACHE IN REDIS")
		u, err := goredis.ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		var b [6]byte
		rand.Read(b[:])
		o := chobiredis.Options{Addr: u.Addr, DB: u.DB, Password: u.Password, Prefix: "chobitest:" + hex.EncodeToString(b[:]) + ":"}
		rdb := chobiredis.NewClient(o)
		t.Cleanup(func() {
			keys, _ := rdb.Keys(context.Background(), o.Prefix+"*").Result()
			if len(keys) > 0 {
				rdb.Del(context.Background(), keys...)
			}
			rdb.Close()
		})
		st := kitstack.SQLite(t)
		a := newStack(t, stackOptions{store: st, cache: cache.New(chobiredis.NewCache(rdb, o), 0)})
		b2 := newStack(t, stackOptions{store: st, cache: cache.New(chobiredis.NewCache(rdb, o), 0)})
		checkFresh(t, a, b2)
		keys, _ := rdb.Keys(context.Background(), o.Prefix+"cache:*").Result()
		if len(keys) == 0 {
			t.Fatal("nothing was cached in Redis")
		}
	})
}

func checkFresh(t *testing.T, a, b *stack) {
	t.Helper()
	star, fan := a.guest(t, "Star"), a.guest(t, "Fan")
	read := func(s *stack) profileOut {
		return ok[profileOut](t, s.query(t, fan.token, "users.getProfile", map[string]any{"userId": star.id}))
	}
	for range 2 { // cached on both
		read(a)
		read(b)
	}
	ok[profileOut](t, a.mutate(t, star.token, "users.updateProfile", map[string]any{"displayName": "Star Renamed", "bio": "new"}))
	for _, s := range []*stack{a, b} {
		if p := read(s); p.DisplayName != "Star Renamed" || p.Bio != "new" {
			t.Fatalf("after the update returned: %+v", p)
		}
	}
	ok[map[string]any](t, a.mutate(t, fan.token, "users.follow", map[string]any{"userId": star.id}))
	for _, s := range []*stack{a, b} {
		if p := read(s); p.Followers != 1 {
			t.Fatalf("after the follow returned: %d followers", p.Followers)
		}
	}

	before := len(b.activeIDs(t, ""))
	b.activeIDs(t, "") // cached
	live := a.createSession(t, star, "Fresh", false)
	ids := b.activeIDs(t, "")
	if len(ids) != before+1 || ids[0] != live.ID {
		t.Fatalf("the lobby after the session started: %v", ids)
	}
	ok[map[string]any](t, a.mutate(t, star.token, "streaming.endSession", map[string]any{"sessionId": live.ID}))
	if ids := b.activeIDs(t, ""); len(ids) != before {
		t.Fatalf("the lobby after the session ended: %v", ids)
	}
}
