// Package redis is the cluster's shared live state on Redis: presence
// (rooms.Presence), the session→node directory with leased heartbeats, the
// event bus on pub/sub, and rate-limit buckets. Without Redis a single node
// uses the in-memory versions of the same interfaces (rooms, ratelimit).
//
// It needs a standalone Redis (or one behind Sentinel): the scripts touch
// keys they build from a session's name, all under one hash tag, so they
// would also stay in one slot of a Redis Cluster.
package redis

import (
	"context"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Options connect to Redis.
type Options struct {
	Addr     string
	Password string
	DB       int
	// Prefix starts every key and channel name (default "chobi:"), so
	// several deployments or tests can share one Redis.
	Prefix string
}

// NewClient connects (lazily) to Redis with short timeouts: a Redis that
// does not answer must not hold a request for long, the callers degrade.
func NewClient(o Options) *goredis.Client {
	return goredis.NewClient(&goredis.Options{
		Addr: o.Addr, Password: o.Password, DB: o.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolTimeout: 2 * time.Second, MaxRetries: 1,
	})
}

func prefixOf(o Options) string {
	if o.Prefix == "" {
		return "chobi:"
	}
	if !strings.HasSuffix(o.Prefix, ":") {
		return o.Prefix + ":"
	}
	return o.Prefix
}

// nowMillis is Redis's clock in milliseconds: leases are compared on one
// clock, whatever the nodes' clocks say.
const nowMillisLua = `
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
}
