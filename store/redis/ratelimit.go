package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chobilive/chobi/ratelimit"
)

// Limiter is ratelimit's sliding-log limiter kept in Redis, so a limit
// holds across nodes: at most N events per key in any window. While Redis
// is unreachable each node falls back to its own in-memory limiter (a
// user could then get N per node).
type Limiter struct {
	rdb      *goredis.Client
	prefix   string
	n        int
	per      time.Duration
	fallback *ratelimit.Limiter
	log      *slog.Logger
}

// NewLimiter allows n events per window per key; name separates limiters.
func NewLimiter(rdb *goredis.Client, o Options, name string, n int, per time.Duration, log *slog.Logger) *Limiter {
	if log == nil {
		log = slog.Default()
	}
	return &Limiter{
		rdb: rdb, prefix: prefixOf(o) + "rl:" + name + ":", n: n, per: per,
		fallback: ratelimit.New(n, per), log: log,
	}
}

// allowScript: KEYS: the key's log. ARGV: n, window ms, unique member.
var allowScript = goredis.NewScript(nowMillisLua + `
local now = nowms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// exceededScript: KEYS: the key's log. ARGV: n, window ms.
var exceededScript = goredis.NewScript(nowMillisLua + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowms() - tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) and 1 or 0
`)

// Allow records an event for key and reports whether it is within the
// limit; a refused event is not recorded.
func (l *Limiter) Allow(key string) bool {
	ctx, cancel := opCtx(context.Background())
	defer cancel()
	var b [8]byte
	rand.Read(b[:])
	ok, err := allowScript.Run(ctx, l.rdb, []string{l.prefix + key}, l.n, l.per.Milliseconds(), hex.EncodeToString(b[:])).Int()
	if err != nil {
		l.log.Warn("redis rate limit unavailable: limiting on this node only", "err", err)
		return l.fallback.Allow(key)
	}
	return ok == 1
}

// Exceeded reports whether key has used up its events, without recording.
func (l *Limiter) Exceeded(key string) bool {
	ctx, cancel := opCtx(context.Background())
	defer cancel()
	n, err := exceededScript.Run(ctx, l.rdb, []string{l.prefix + key}, l.n, l.per.Milliseconds()).Int()
	if err != nil {
		return l.fallback.Exceeded(key)
	}
	return n == 1
}

// Undo forgets key's newest event (ratelimit.Limiter.Undo).
func (l *Limiter) Undo(key string) {
	ctx, cancel := opCtx(context.Background())
	defer cancel()
	if err := l.rdb.ZPopMax(ctx, l.prefix+key, 1).Err(); err != nil {
		l.fallback.Undo(key)
	}
}

// Reset forgets key's events.
func (l *Limiter) Reset(key string) {
	ctx, cancel := opCtx(context.Background())
	defer cancel()
	l.fallback.Reset(key)
	l.rdb.Del(ctx, l.prefix+key)
}
