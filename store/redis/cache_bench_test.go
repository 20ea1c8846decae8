package redis_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chobilive/chobi/cache"
	kitstack "github.com/chobilive/chobi/internal/testkit/stack"
	"github.com/chobilive/chobi/rooms"
	"github.com/chobilive/chobi/store"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

// BenchmarkCachedReads: a profile (a user with 200 followers) and the
// lobby's list (50 live sessions) read from SQLite directly, through the
// in-memory cache, and through Redis.
//
// Run: CHOBI_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test ./store/redis -run '^$' -bench CachedReads
// (docs/benchmarks.md has the figures).
func BenchmarkCachedReads(b *testing.B) {
	ctx := context.Background()
	st := kitstack.SQLite(b)
	star, err := st.CreateUser(ctx, store.NewUser{Username: "star", DisplayName: "Star"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		f, _ := st.CreateUser(ctx, store.NewUser{Username: fmt.Sprintf("fan%d", i), DisplayName: "Fan"})
		st.Follow(ctx, f.ID, star.ID)
	}
	for i := range 50 {
		h, _ := st.CreateUser(ctx, store.NewUser{Username: fmt.Sprintf("host%d", i), DisplayName: "Host"})
		if _, err := st.CreateSession(ctx, rooms.Session{HostID: h.ID, Title: "live", Type: "video", Category: "music", Status: rooms.StatusLive}); err != nil {
			b.Fatal(err)
		}
	}
	rdb, o := testRedis(b)
	caches := map[string]*cache.Cache{"none": nil, "memory": cache.New(cache.NewMemory(0), 0),
		"redis": cache.New(chobiredis.NewCache(rdb, o), 0)}
	for _, name := range []string{"none", "memory", "redis"} {
		c := caches[name]
		b.Run("profile/"+name, func(b *testing.B) {
			for range b.N {
				if _, err := cache.Load(ctx, c, "user:"+star.ID, "profile", func() (store.User, error) { return st.UserByID(ctx, star.ID) }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("lobby/"+name, func(b *testing.B) {
			for range b.N {
				if _, err := cache.Load(ctx, c, "lobby", "|", func() ([]rooms.Session, error) { return st.ActiveSessions(ctx, rooms.ActiveFilter{}) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
