package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chobilive/chobi/cache"
	"github.com/chobilive/chobi/cache/cachetest"
	chobiredis "github.com/chobilive/chobi/store/redis"
)

func TestCache(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Store {
		rdb, o := testRedis(t)
		return chobiredis.NewCache(rdb, o)
	})
}

// The generations outlive every value, so one that expires and starts
// again cannot revive a value.
func TestCacheGenerationsOutliveValues(t *testing.T) {
	rdb, o := testRedis(t)
	c := chobiredis.NewCache(rdb, o)
	ctx := context.Background()
	if err := c.Bump(ctx, "user:1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range keysUnder(t, rdb, o.Prefix) {
		if strings.Contains(k, ":g:") {
			if ttl := rdb.TTL(ctx, k).Val(); ttl < time.Hour || ttl > 25*time.Hour {
				t.Fatalf("generation %s lives %v, want a day", k, ttl)
			}
		}
	}
	if cache.DefaultTTL >= time.Hour {
		t.Fatalf("values live %v: not far below a generation's day", cache.DefaultTTL)
	}
}
