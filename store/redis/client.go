// Package redis is the cluster's shared live state on Redis: presence
// (rooms.Presence), the session→node directory with leased heartbeats, the
// event bus on pub/sub, and rate-limit buckets. Without Redis a single node
// uses the in-memory versions of the same interfaces (rooms, ratelimit).
//
// It needs a standalone Redis (or one behind Sentinel), not a Redis
// Cluster: the scripts build key names they do not declare.
package redis

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
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

// ErrUnavailable is returned at once, without a round trip, for a while
// after Redis failed to answer: callers fall back instead of each waiting
// for its own timeout.
var ErrUnavailable = errors.New("redis is unavailable (recent failures); not trying for a moment")

// NewClient connects (lazily) to Redis with short timeouts and a breaker:
// a Redis that does not answer must not hold requests, the callers
// degrade. Commands are never retried: a script whose reply was lost may
// have run, and running it twice would count twice.
func NewClient(o Options) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{
		Addr: o.Addr, Password: o.Password, DB: o.DB,
		DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolTimeout: 2 * time.Second, MaxRetries: -1,
	})
	c.AddHook(&breaker{})
	return c
}

// breaker opens for a second after a network failure (a timeout, a refused
// or reset connection); Redis's own errors (a script error, a missing key)
// do not open it.
type breaker struct{ openUntil atomic.Int64 }

func (b *breaker) open() bool { return time.Now().UnixNano() < b.openUntil.Load() }

func (b *breaker) observe(err error) {
	var ne net.Error
	if err != nil && (errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset") ||
		errors.Is(err, goredis.ErrClosed) || strings.Contains(err.Error(), "EOF")) {
		b.openUntil.Store(time.Now().Add(time.Second).UnixNano())
	}
}

func (b *breaker) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		b.observe(err)
		return conn, err
	}
}

func (b *breaker) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if b.open() {
			cmd.SetErr(ErrUnavailable)
			return ErrUnavailable
		}
		err := next(ctx, cmd)
		b.observe(err)
		return err
	}
}

func (b *breaker) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if b.open() {
			for _, c := range cmds {
				c.SetErr(ErrUnavailable)
			}
			return ErrUnavailable
		}
		err := next(ctx, cmds)
		b.observe(err)
		return err
	}
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
